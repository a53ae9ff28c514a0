//! Any bytes: a tx that parses re-encodes to the same bytes (canonical serializations only).
#![no_main]
use chainwatch_chain::Tx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((tx, len)) = Tx::decode(data) {
        let mut out = Vec::new();
        tx.encode(&mut out);
        // Segwit txs whose witnesses are all empty re-encode without the marker; MWEB flags
        // are not re-encoded: compare only plain legacy or plain segwit serializations.
        let flag = data.get(5).copied();
        if data.get(4) != Some(&0) || (flag == Some(1) && tx.has_witness()) {
            assert_eq!(&out[..], &data[..len]);
        }
    }
});
