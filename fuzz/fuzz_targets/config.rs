//! A pipeline config's TOML, checked as `validate` checks it.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| churnguard_fuzz::run_one("config", input));
