//! Assembling blocks: serialized transactions, coinbase (BIP34 height, BIP141 witness
//! commitment), merkle root and a header whose nonce is ground until it meets its target.

use chainwatch_chain::headers::meets_target;
use chainwatch_chain::{
    merkle_root, sha256d, tx::write_varint, BlockHeader, Hash32, OutPoint, Tx, TxIn, TxOut,
};

/// Regtest's compact difficulty (`powLimit`).
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Header version with BIP9 signalling bits.
pub const HEADER_VERSION: i32 = 0x2000_0000;

/// The script number push BIP34 expects for `height` (`CScript() << height`).
pub fn bip34_push(height: u32, out: &mut Vec<u8>) {
    match height {
        0 => out.push(0x00),
        1..=16 => out.push(0x50 + height as u8),
        _ => {
            let mut bytes = Vec::with_capacity(5);
            let mut v = height;
            while v > 0 {
                bytes.push((v & 0xff) as u8);
                v >>= 8;
            }
            if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                bytes.push(0);
            }
            out.push(bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
}

/// Grinds the nonce until the header hash meets its target; returns the hash.
pub fn grind(header: &mut BlockHeader) -> Hash32 {
    let mut raw = header.encode();
    loop {
        raw[76..80].copy_from_slice(&header.nonce.to_le_bytes());
        let h = sha256d(&raw);
        if meets_target(&h, header.bits) {
            return h;
        }
        header.nonce = header.nonce.wrapping_add(1);
        if header.nonce == 0 {
            // Exhausted: move the time on, as miners roll nTime.
            header.time += 1;
            raw[68..72].copy_from_slice(&header.time.to_le_bytes());
        }
    }
}

/// What the coinbase of a block pays.
pub struct CoinbaseSpec<'a> {
    /// Block height (pushed per BIP34).
    pub height: u32,
    /// Extra bytes after the height push (pool tag, extranonce).
    pub tag: &'a [u8],
    /// The miner's scriptPubKey.
    pub script_pubkey: &'a [u8],
    /// Value paid to the miner (subsidy plus fees).
    pub value: u64,
    /// Whether to add the BIP141 witness commitment.
    pub witness_commitment: bool,
}

/// Collects a block's transactions as they are generated.
#[derive(Default)]
pub struct BlockBuilder {
    body: Vec<u8>,
    txids: Vec<Hash32>,
    wtxids: Vec<Hash32>,
    scratch: Vec<u8>,
    /// Sum of the fees of the non-coinbase transactions.
    pub fees: u64,
}

impl BlockBuilder {
    /// Number of non-coinbase transactions so far.
    pub fn len(&self) -> usize {
        self.txids.len()
    }

    /// Adds a transaction paying `fee`; returns its txid.
    pub fn add(&mut self, tx: &Tx, fee: u64) -> Hash32 {
        let start = self.body.len();
        tx.encode(&mut self.body);
        self.scratch.clear();
        tx.encode_legacy(&mut self.scratch);
        let txid = sha256d(&self.scratch);
        let wtxid = if self.scratch.len() == self.body.len() - start {
            txid
        } else {
            sha256d(&self.body[start..])
        };
        self.txids.push(txid);
        self.wtxids.push(wtxid);
        self.fees += fee;
        txid
    }

    /// Builds the coinbase, header and serialization into `out`; returns the header,
    /// block hash, the coinbase txid and the number of transactions. Resets the builder.
    pub fn finish(
        &mut self,
        prev_hash: Hash32,
        time: u32,
        cb: &CoinbaseSpec<'_>,
        out: &mut Vec<u8>,
    ) -> (BlockHeader, Hash32, Hash32, usize) {
        let coinbase = make_coinbase(cb, &self.wtxids);
        let cb_txid = coinbase.txid();
        let mut ids = Vec::with_capacity(self.txids.len() + 1);
        ids.push(cb_txid);
        ids.extend_from_slice(&self.txids);
        let mut header = BlockHeader {
            version: HEADER_VERSION,
            prev_hash,
            merkle_root: merkle_root(&ids),
            time,
            bits: REGTEST_BITS,
            nonce: 0,
        };
        let hash = grind(&mut header);
        out.clear();
        out.extend_from_slice(&header.encode());
        write_varint(out, ids.len() as u64);
        coinbase.encode(out);
        out.extend_from_slice(&self.body);
        let n = ids.len();
        self.body.clear();
        self.txids.clear();
        self.wtxids.clear();
        self.fees = 0;
        (header, hash, cb_txid, n)
    }
}

/// The coinbase transaction; `wtxids` are those of the block's other transactions.
pub fn make_coinbase(cb: &CoinbaseSpec<'_>, wtxids: &[Hash32]) -> Tx {
    let mut script_sig = Vec::with_capacity(8 + cb.tag.len());
    bip34_push(cb.height, &mut script_sig);
    let tag = &cb.tag[..cb.tag.len().min(100 - script_sig.len() - 1)];
    script_sig.push(tag.len() as u8);
    script_sig.extend_from_slice(tag);
    let mut outputs = vec![TxOut {
        value: cb.value,
        script_pubkey: cb.script_pubkey.to_vec(),
    }];
    let mut witness = Vec::new();
    if cb.witness_commitment {
        let reserved = [0u8; 32];
        let mut leaves = Vec::with_capacity(wtxids.len() + 1);
        leaves.push([0u8; 32]);
        leaves.extend_from_slice(wtxids);
        let root = merkle_root(&leaves);
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&root);
        buf[32..].copy_from_slice(&reserved);
        let commitment = sha256d(&buf);
        let mut spk = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        spk.extend_from_slice(&commitment);
        outputs.push(TxOut {
            value: 0,
            script_pubkey: spk,
        });
        witness.push(reserved.to_vec());
    }
    Tx {
        version: 2,
        inputs: vec![TxIn {
            prevout: OutPoint::NULL,
            script_sig,
            sequence: u32::MAX,
            witness,
        }],
        outputs,
        lock_time: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_bip34() {
        // The regtest target is 0x7fffff << 232 (little-endian limbs, top limb holds it).
        let t = chainwatch_chain::headers::target_from_bits(REGTEST_BITS).unwrap();
        assert_eq!(t, [0, 0, 0, 0x7fff_ff00_0000_0000]);
        // Mainnet genesis bits 0x1d00ffff: 0x00000000ffff0000...
        let t = chainwatch_chain::headers::target_from_bits(0x1d00_ffff).unwrap();
        assert_eq!(t, [0, 0, 0, 0x0000_0000_ffff_0000]);
        let mut v = Vec::new();
        bip34_push(1, &mut v);
        assert_eq!(v, [0x51]);
        v.clear();
        bip34_push(128, &mut v);
        assert_eq!(v, [0x02, 0x80, 0x00]);
        v.clear();
        bip34_push(500_000, &mut v);
        assert_eq!(v, [0x03, 0x20, 0xa1, 0x07]);
    }

    #[test]
    fn ground_headers_meet_target() {
        let mut h = BlockHeader {
            version: HEADER_VERSION,
            prev_hash: [1; 32],
            merkle_root: [2; 32],
            time: 1_600_000_000,
            bits: REGTEST_BITS,
            nonce: 0,
        };
        for i in 0..50 {
            h.prev_hash[0] = i;
            h.nonce = 0;
            let hash = grind(&mut h);
            assert_eq!(hash, h.hash());
            assert!(meets_target(&hash, REGTEST_BITS));
            assert!(hash[31] <= 0x7f);
        }
    }
}
