//! The body of `POST /v1/score`, scored by a CDNOW package as the service scores it.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| churnguard_fuzz::run_one("request", input));
