//! Any string: decoding never panics, and what decodes re-encodes and decodes to the same key.
#![no_main]
use chainwatch_types::{AddrKey, Chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for chain in Chain::ALL {
        if let Ok(key) = AddrKey::parse(s, chain) {
            let shown = key.display(chain);
            assert_eq!(AddrKey::parse(&shown, chain).ok(), Some(key), "{s} -> {shown}");
        }
    }
});
