#![no_main]

libfuzzer_sys::fuzz_target!(init: kuma_fuzz::init("token_claims"), |data: &[u8]| kuma_fuzz::tokens::run_claims(data));
