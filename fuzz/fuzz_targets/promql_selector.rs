//! Arbitrary text as a series selector and as a windowed query; see
//! `fuzz/checks.rs` for what must hold.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|text: &str| checks::promql_selector(text));
