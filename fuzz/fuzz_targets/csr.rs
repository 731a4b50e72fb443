#![no_main]

libfuzzer_sys::fuzz_target!(init: kuma_fuzz::init("csr"), |data: &[u8]| kuma_fuzz::csr::run(data));
