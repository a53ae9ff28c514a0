//! Any bytes: `BlockRef::parse` returns an error or a block whose txs re-parse and hash.
#![no_main]
use chainwatch_chain::{BlockRef, Tx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = BlockRef::parse(data) {
        let _ = block.hash();
        for tx in &block.txs {
            let id = tx.txid();
            let _ = tx.inputs().count() + tx.outputs().count();
            // The owned form agrees with the zero-copy one.
            let (owned, len) = Tx::decode(tx.raw).expect("a tx that parsed in place decodes");
            assert_eq!(len, tx.raw.len());
            assert_eq!(owned.txid(), id);
        }
    }
});
