#![no_main]

libfuzzer_sys::fuzz_target!(init: kuma_fuzz::init("resources"), |data: &[u8]| kuma_fuzz::resources::run(data));
