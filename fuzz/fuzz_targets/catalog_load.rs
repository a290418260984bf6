//! Arbitrary bytes as a catalog file, in every format the loader reads; see
//! `fuzz/checks.rs` for what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::catalog_load(data));
