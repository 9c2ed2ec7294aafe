//! A customers CSV of the Telco shape: validated, loaded, snapshotted, labelled.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| churnguard_fuzz::run_one("csv", input));
