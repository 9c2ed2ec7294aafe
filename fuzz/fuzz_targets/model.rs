//! LightGBM model text: parsed, then predicted, explained and exported as an accepted model is.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| churnguard_fuzz::run_one("model", input));
