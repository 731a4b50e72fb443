#![no_main]

libfuzzer_sys::fuzz_target!(init: kuma_fuzz::init("tokens"), |data: &[u8]| kuma_fuzz::tokens::run(data));
