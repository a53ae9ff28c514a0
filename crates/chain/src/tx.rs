//! Consensus (de)serialization of Bitcoin-family transactions and blocks.
//!
//! [`TxRef`] and [`BlockRef`] parse in place (no copies, no per-input allocation) for the
//! ingest hot path; [`Tx`] and [`Block`] are owned forms that also serialize, for the
//! simulator and for tests. Legacy and BIP144 segwit serializations are supported; a
//! Litecoin MWEB flag (0x08) with an empty MWEB part is accepted and any MWEB block data
//! after the transactions is ignored (it carries no transparent outputs).

use crate::hash::{sha256d, Hash32};
use sha2::{Digest, Sha256};

/// Why bytes could not be parsed as a transaction or block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct ParseError {
    /// Byte offset within the parsed buffer where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

fn err<T>(offset: usize, what: &'static str) -> Result<T, ParseError> {
    Err(ParseError { offset, what })
}

/// A bounds-checked reader over a byte slice.
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => err(self.pos, "unexpected end of data"),
        }
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    #[inline]
    fn u64(&mut self) -> Result<u64, ParseError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    #[inline]
    fn varint(&mut self) -> Result<u64, ParseError> {
        let start = self.pos;
        let v = match self.u8()? {
            0xfd => {
                let b = self.take(2)?;
                let v = u16::from_le_bytes([b[0], b[1]]) as u64;
                if v < 0xfd {
                    return err(start, "non-canonical compact size");
                }
                v
            }
            0xfe => {
                let v = self.u32()? as u64;
                if v <= 0xffff {
                    return err(start, "non-canonical compact size");
                }
                v
            }
            0xff => {
                let v = self.u64()?;
                if v <= 0xffff_ffff {
                    return err(start, "non-canonical compact size");
                }
                v
            }
            b => b as u64,
        };
        Ok(v)
    }
    /// A count or length that must fit in what is left of the buffer (each item ≥ `min_item` bytes).
    #[inline]
    fn count(&mut self, min_item: usize) -> Result<usize, ParseError> {
        let start = self.pos;
        let v = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if v.saturating_mul(min_item as u64) > left {
            return err(start, "count or length larger than the data");
        }
        Ok(v as usize)
    }
    #[inline]
    fn var_bytes(&mut self) -> Result<&'a [u8], ParseError> {
        let n = self.count(1)?;
        self.take(n)
    }
}

/// Appends a Bitcoin compact-size integer.
pub fn write_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0xfc => out.push(v as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// An input as it appears in a serialized transaction.
#[derive(Clone, Copy, Debug)]
pub struct InputRef<'a> {
    /// Txid of the spent output (internal byte order); all zeros for a coinbase.
    pub prev_txid: &'a [u8; 32],
    /// Index of the spent output in its tx (`0xffffffff` for a coinbase).
    pub prev_vout: u32,
    /// The scriptSig.
    pub script_sig: &'a [u8],
    /// The sequence number.
    pub sequence: u32,
}

/// An output as it appears in a serialized transaction.
#[derive(Clone, Copy, Debug)]
pub struct OutputRef<'a> {
    /// Value in the chain's base unit (satoshis, litoshis).
    pub value: u64,
    /// The scriptPubKey.
    pub script_pubkey: &'a [u8],
}

/// A transaction parsed in place.
#[derive(Clone, Copy, Debug)]
pub struct TxRef<'a> {
    /// The whole serialization, witness included.
    pub raw: &'a [u8],
    /// `nVersion`.
    pub version: i32,
    /// `nLockTime`.
    pub lock_time: u32,
    /// BIP144 flags (0 for a legacy serialization; bit 0 witness, bit 3 Litecoin MWEB).
    pub flags: u8,
    /// Number of inputs.
    pub n_inputs: usize,
    /// Number of outputs.
    pub n_outputs: usize,
    /// Byte range of `raw` from the input count to the end of the outputs.
    io: (usize, usize),
    /// Offset in `raw` of the first output (after the output count).
    outputs_at: usize,
    /// Offset in `raw` of the first input (after the input count).
    inputs_at: usize,
}

impl<'a> TxRef<'a> {
    /// Parses one transaction starting at `buf[0]`; returns it and its length.
    pub fn parse(buf: &'a [u8]) -> Result<(TxRef<'a>, usize), ParseError> {
        let mut r = Reader { buf, pos: 0 };
        let version = r.u32()? as i32;
        let mut flags = 0u8;
        if r.buf.get(r.pos) == Some(&0) {
            // BIP144 marker; a legacy tx cannot have zero inputs.
            r.pos += 1;
            flags = r.u8()?;
            if flags == 0 {
                return err(r.pos - 1, "segwit flag byte is zero");
            }
            if flags & !0x09 != 0 {
                return err(r.pos - 1, "unknown transaction flag bits");
            }
        }
        let io_start = r.pos;
        let n_inputs = r.count(41)?;
        let inputs_at = r.pos;
        for _ in 0..n_inputs {
            r.take(36)?;
            r.var_bytes()?;
            r.take(4)?;
        }
        let n_outputs = r.count(9)?;
        let outputs_at = r.pos;
        for _ in 0..n_outputs {
            r.take(8)?;
            r.var_bytes()?;
        }
        let io_end = r.pos;
        if flags & 1 != 0 {
            for _ in 0..n_inputs {
                let items = r.count(1)?;
                for _ in 0..items {
                    r.var_bytes()?;
                }
            }
        }
        if flags & 8 != 0 {
            // Litecoin MWEB: an optional pointer to an MWEB tx body.
            if r.u8()? != 0 {
                return err(
                    r.pos - 1,
                    "MWEB transaction body inside a block's tx list is not supported",
                );
            }
        }
        if flags & 1 != 0 && n_inputs == 0 {
            return err(io_start, "segwit transaction without inputs");
        }
        let lock_time = r.u32()?;
        let len = r.pos;
        Ok((
            TxRef {
                raw: &buf[..len],
                version,
                lock_time,
                flags,
                n_inputs,
                n_outputs,
                io: (io_start, io_end),
                outputs_at,
                inputs_at,
            },
            len,
        ))
    }

    /// The txid (double SHA-256 of the serialization without witness), internal byte order.
    pub fn txid(&self) -> Hash32 {
        if self.flags == 0 {
            return sha256d(self.raw);
        }
        let mut h = Sha256::new();
        h.update(&self.raw[..4]);
        h.update(&self.raw[self.io.0..self.io.1]);
        h.update(&self.raw[self.raw.len() - 4..]);
        Sha256::digest(h.finalize()).into()
    }

    /// True if the single input spends the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        self.n_inputs == 1
            && self
                .inputs()
                .next()
                .is_some_and(|i| i.prev_vout == u32::MAX && i.prev_txid == &[0; 32])
    }

    /// The inputs, in order.
    pub fn inputs(&self) -> impl Iterator<Item = InputRef<'a>> + 'a {
        let mut r = Reader {
            buf: self.raw,
            pos: self.inputs_at,
        };
        (0..self.n_inputs).map(move |_| {
            // Bounds were checked by `parse`.
            let prev_txid: &[u8; 32] = r.take(32).expect("checked").try_into().expect("32");
            let prev_vout = r.u32().expect("checked");
            let script_sig = r.var_bytes().expect("checked");
            let sequence = r.u32().expect("checked");
            InputRef {
                prev_txid,
                prev_vout,
                script_sig,
                sequence,
            }
        })
    }

    /// The outputs, in order.
    pub fn outputs(&self) -> impl Iterator<Item = OutputRef<'a>> + 'a {
        let mut r = Reader {
            buf: self.raw,
            pos: self.outputs_at,
        };
        (0..self.n_outputs).map(move |_| {
            let value = r.u64().expect("checked");
            let script_pubkey = r.var_bytes().expect("checked");
            OutputRef {
                value,
                script_pubkey,
            }
        })
    }
}

/// An 80-byte block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// `nVersion`.
    pub version: i32,
    /// Hash of the previous block (internal order).
    pub prev_hash: Hash32,
    /// Merkle root of the txids.
    pub merkle_root: Hash32,
    /// Block time (Unix seconds).
    pub time: u32,
    /// Compact difficulty target.
    pub bits: u32,
    /// Nonce.
    pub nonce: u32,
}

impl BlockHeader {
    /// Decodes 80 header bytes.
    pub fn decode(b: &[u8; 80]) -> BlockHeader {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        BlockHeader {
            version: u32_at(0) as i32,
            prev_hash: b[4..36].try_into().expect("32"),
            merkle_root: b[36..68].try_into().expect("32"),
            time: u32_at(68),
            bits: u32_at(72),
            nonce: u32_at(76),
        }
    }

    /// Encodes to 80 bytes.
    pub fn encode(&self) -> [u8; 80] {
        let mut b = [0u8; 80];
        b[0..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..36].copy_from_slice(&self.prev_hash);
        b[36..68].copy_from_slice(&self.merkle_root);
        b[68..72].copy_from_slice(&self.time.to_le_bytes());
        b[72..76].copy_from_slice(&self.bits.to_le_bytes());
        b[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// The block hash (double SHA-256 of the header), internal order.
    pub fn hash(&self) -> Hash32 {
        sha256d(&self.encode())
    }
}

/// A block parsed in place.
#[derive(Clone, Debug)]
pub struct BlockRef<'a> {
    /// The raw 80-byte header.
    pub header_raw: &'a [u8; 80],
    /// The transactions in block order.
    pub txs: Vec<TxRef<'a>>,
}

impl<'a> BlockRef<'a> {
    /// Parses a serialized block. Bytes after the last transaction (Litecoin's MWEB block)
    /// are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<BlockRef<'a>, ParseError> {
        let mut r = Reader { buf, pos: 0 };
        let header_raw: &[u8; 80] = r.take(80)?.try_into().expect("80");
        let n = r.count(60)?;
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            let start = r.pos;
            let (tx, len) = TxRef::parse(&buf[start..]).map_err(|e| ParseError {
                offset: e.offset + start,
                ..e
            })?;
            r.pos += len;
            txs.push(tx);
        }
        Ok(BlockRef { header_raw, txs })
    }

    /// The decoded header.
    pub fn header(&self) -> BlockHeader {
        BlockHeader::decode(self.header_raw)
    }

    /// The block hash.
    pub fn hash(&self) -> Hash32 {
        sha256d(self.header_raw)
    }
}

/// An outpoint: a txid and an output index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OutPoint {
    /// Txid, internal order.
    pub txid: Hash32,
    /// Output index.
    pub vout: u32,
}

impl OutPoint {
    /// The null outpoint a coinbase spends.
    pub const NULL: OutPoint = OutPoint {
        txid: [0; 32],
        vout: u32::MAX,
    };
}

/// An owned transaction input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxIn {
    /// The spent outpoint.
    pub prevout: OutPoint,
    /// The scriptSig.
    pub script_sig: Vec<u8>,
    /// The sequence number.
    pub sequence: u32,
    /// Witness stack items (empty for non-segwit inputs).
    pub witness: Vec<Vec<u8>>,
}

/// An owned transaction output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOut {
    /// Value in base units.
    pub value: u64,
    /// The scriptPubKey.
    pub script_pubkey: Vec<u8>,
}

/// An owned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// `nVersion`.
    pub version: i32,
    /// Inputs.
    pub inputs: Vec<TxIn>,
    /// Outputs.
    pub outputs: Vec<TxOut>,
    /// `nLockTime`.
    pub lock_time: u32,
}

impl Tx {
    /// True if any input has witness data (the tx then serializes with BIP144 marker and flag).
    pub fn has_witness(&self) -> bool {
        self.inputs.iter().any(|i| !i.witness.is_empty())
    }

    fn encode_io(&self, out: &mut Vec<u8>) {
        write_varint(out, self.inputs.len() as u64);
        for i in &self.inputs {
            out.extend_from_slice(&i.prevout.txid);
            out.extend_from_slice(&i.prevout.vout.to_le_bytes());
            write_varint(out, i.script_sig.len() as u64);
            out.extend_from_slice(&i.script_sig);
            out.extend_from_slice(&i.sequence.to_le_bytes());
        }
        write_varint(out, self.outputs.len() as u64);
        for o in &self.outputs {
            out.extend_from_slice(&o.value.to_le_bytes());
            write_varint(out, o.script_pubkey.len() as u64);
            out.extend_from_slice(&o.script_pubkey);
        }
    }

    /// Appends the full serialization (BIP144 when any input has a witness).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        let segwit = self.has_witness();
        if segwit {
            out.extend_from_slice(&[0, 1]);
        }
        self.encode_io(out);
        if segwit {
            for i in &self.inputs {
                write_varint(out, i.witness.len() as u64);
                for item in &i.witness {
                    write_varint(out, item.len() as u64);
                    out.extend_from_slice(item);
                }
            }
        }
        out.extend_from_slice(&self.lock_time.to_le_bytes());
    }

    /// Appends the serialization without witness (what the txid commits to).
    pub fn encode_legacy(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        self.encode_io(out);
        out.extend_from_slice(&self.lock_time.to_le_bytes());
    }

    /// The txid, internal order.
    pub fn txid(&self) -> Hash32 {
        let mut buf = Vec::with_capacity(256);
        self.encode_legacy(&mut buf);
        sha256d(&buf)
    }

    /// Parses one owned transaction from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<(Tx, usize), ParseError> {
        let (t, len) = TxRef::parse(buf)?;
        let mut inputs: Vec<TxIn> = t
            .inputs()
            .map(|i| TxIn {
                prevout: OutPoint {
                    txid: *i.prev_txid,
                    vout: i.prev_vout,
                },
                script_sig: i.script_sig.to_vec(),
                sequence: i.sequence,
                witness: Vec::new(),
            })
            .collect();
        if t.flags & 1 != 0 {
            let mut r = Reader {
                buf: t.raw,
                pos: t.io.1,
            };
            for input in inputs.iter_mut() {
                let items = r.count(1)?;
                for _ in 0..items {
                    input.witness.push(r.var_bytes()?.to_vec());
                }
            }
        }
        let outputs = t
            .outputs()
            .map(|o| TxOut {
                value: o.value,
                script_pubkey: o.script_pubkey.to_vec(),
            })
            .collect();
        Ok((
            Tx {
                version: t.version,
                inputs,
                outputs,
                lock_time: t.lock_time,
            },
            len,
        ))
    }
}

/// An owned block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, coinbase first.
    pub txs: Vec<Tx>,
}

impl Block {
    /// Appends the block's serialization.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header.encode());
        write_varint(out, self.txs.len() as u64);
        for tx in &self.txs {
            tx.encode(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{merkle_root, to_hex};

    fn shared_block(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../../shared/data/mainnet-blocks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        hex::decode(text.trim()).expect("hex")
    }

    fn check_block(raw: &[u8], expected_hash: &str) -> usize {
        let block = BlockRef::parse(raw).expect("parses");
        assert_eq!(to_hex(&block.hash()), expected_hash);
        let txids: Vec<Hash32> = block.txs.iter().map(|t| t.txid()).collect();
        assert_eq!(
            merkle_root(&txids),
            block.header().merkle_root,
            "merkle root of {expected_hash}"
        );
        assert!(block.txs[0].is_coinbase());
        assert!(block.txs[1..].iter().all(|t| !t.is_coinbase()));
        // Owned round trip reproduces the exact bytes.
        let mut re = Vec::new();
        let owned = Block {
            header: block.header(),
            txs: block
                .txs
                .iter()
                .map(|t| Tx::decode(t.raw).expect("owned").0)
                .collect(),
        };
        owned.encode(&mut re);
        assert_eq!(re, raw);
        for (t, o) in block.txs.iter().zip(&owned.txs) {
            assert_eq!(t.txid(), o.txid());
        }
        block.txs.len()
    }

    #[test]
    fn real_mainnet_blocks_parse_to_known_hashes() {
        assert_eq!(
            check_block(
                &shared_block("block-000000.hex"),
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
            ),
            1
        );
        check_block(
            &shared_block("block-099960.hex"),
            "0000000000032d10c9c3fe953772e3e0b0e3b7553aad593384a6ccf30f1c9c27",
        );
        check_block(
            &shared_block("block-099993.hex"),
            "00000000000306f827d8cc344b91a2a74074e3e1800e523ead74a20a915db27c",
        );
        let raw = shared_block("block-000000.hex");
        let genesis = BlockRef::parse(&raw).unwrap();
        assert_eq!(
            to_hex(&genesis.txs[0].txid()),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
    }

    #[test]
    fn segwit_block_702861_parses() {
        let raw = bitcoin_test_data::blocks::mainnet_702861();
        let n = check_block(
            raw,
            "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae",
        );
        assert!(n > 1000, "{n} txs");
        let block = BlockRef::parse(raw).unwrap();
        assert!(block.txs.iter().any(|t| t.flags == 1), "has segwit txs");
    }

    #[test]
    fn truncated_and_bad_counts_are_errors() {
        let raw = shared_block("block-099960.hex");
        for cut in [0, 10, 80, 81, 200, raw.len() - 1] {
            assert!(BlockRef::parse(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = raw.clone();
        bad[80] = 0xfe; // tx count claims 4 billion txs
        let e = BlockRef::parse(&bad).unwrap_err();
        assert_eq!(e.offset, 80);
    }
}
