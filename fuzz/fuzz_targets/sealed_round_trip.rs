#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| natter::fuzzing::sealed_round_trip(data));
