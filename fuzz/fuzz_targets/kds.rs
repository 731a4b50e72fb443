#![no_main]

libfuzzer_sys::fuzz_target!(init: kuma_fuzz::init("kds"), |data: &[u8]| kuma_fuzz::kds::run(data));
