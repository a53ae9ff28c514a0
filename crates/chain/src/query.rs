//! Look-ups over the store that the CLI and server show: a tx, an address, a block.

use crate::hash::{to_hex, Hash32};
use crate::store::{Store, NONE};
use crate::tx::BlockHeader;
use chainwatch_types::AddrKey;
use serde::Serialize;

/// A transaction with its inputs resolved to the outputs they spend.
#[derive(Clone, Debug, Serialize)]
pub struct TxView {
    /// Txid.
    pub txid: String,
    /// Dense id.
    pub tx_num: u32,
    /// Height of its block.
    pub height: u32,
    /// Its block's hash.
    pub block_hash: String,
    /// Its block's time.
    pub time: u32,
    /// `nVersion`.
    pub version: i32,
    /// `nLockTime`.
    pub lock_time: u32,
    /// True for a coinbase.
    pub coinbase: bool,
    /// Inputs minus outputs (absent for a coinbase).
    pub fee: Option<u64>,
    /// Inputs in order.
    pub inputs: Vec<InputView>,
    /// Outputs in order.
    pub outputs: Vec<OutputView>,
}

/// An input and the output it spends.
#[derive(Clone, Debug, Serialize)]
pub struct InputView {
    /// Spent txid (absent for a coinbase input).
    pub prev_txid: Option<String>,
    /// Spent output index.
    pub prev_vout: Option<u32>,
    /// Address of the spent output.
    pub address: Option<String>,
    /// Value of the spent output.
    pub value: Option<u64>,
}

/// An output and what spent it.
#[derive(Clone, Debug, Serialize)]
pub struct OutputView {
    /// Index in the tx.
    pub vout: u32,
    /// Address (or `script:`/`nulldata:` id).
    pub address: String,
    /// Value in base units.
    pub value: u64,
    /// Txid of the spending tx, or null while unspent.
    pub spent_by: Option<String>,
}

/// Totals of an address.
#[derive(Clone, Debug, Serialize)]
pub struct AddressView {
    /// The address as given back by the store.
    pub address: String,
    /// Script kind.
    pub kind: chainwatch_types::AddrKind,
    /// Dense id.
    pub addr_id: u32,
    /// Sum of outputs paying it.
    pub received: u64,
    /// Sum of those outputs that were spent.
    pub sent: u64,
    /// `received - sent`.
    pub balance: u64,
    /// Distinct txs paying or spending it.
    pub tx_count: u64,
    /// Outputs paying it.
    pub output_count: u64,
    /// Height of the first tx touching it.
    pub first_height: u32,
    /// Height of the last tx touching it.
    pub last_height: u32,
}

/// A block.
#[derive(Clone, Debug, Serialize)]
pub struct BlockView {
    /// Hash.
    pub hash: String,
    /// Height.
    pub height: u32,
    /// Parent hash.
    pub prev_hash: String,
    /// Merkle root.
    pub merkle_root: String,
    /// Time.
    pub time: u32,
    /// Compact target, hex.
    pub bits: String,
    /// Nonce.
    pub nonce: u32,
    /// Version.
    pub version: i32,
    /// Serialized size.
    pub size: u32,
    /// Number of transactions.
    pub tx_count: u32,
    /// Txids in order.
    pub txids: Vec<String>,
}

impl Store {
    fn display_addr(&self, addr_id: u32) -> String {
        self.addr_key(addr_id).display(self.chain())
    }

    /// The view of `tx_num`.
    pub fn tx_view(&self, tx_num: u32) -> TxView {
        let height = self.height_of_tx(tx_num);
        let block = &self.blocks.as_slice()[height as usize];
        let header = BlockHeader::decode(&block.header);
        let rec = self.tx.as_slice()[tx_num as usize];
        let (version, lock_time) = self.tx_version_lock_time(tx_num);
        let values = self.values();
        let txids = self.tx_txid.as_slice();
        let mut inputs = Vec::new();
        let mut in_sum = 0u64;
        let mut coinbase = false;
        for in_num in self.tx_inputs(tx_num) {
            let out = self.in_spent.as_slice()[in_num as usize];
            if out == NONE {
                coinbase = true;
                inputs.push(InputView {
                    prev_txid: None,
                    prev_vout: None,
                    address: None,
                    value: None,
                });
                continue;
            }
            let prev = self.tx_of_output(out);
            let vout = out - self.tx.as_slice()[prev as usize].first_out;
            in_sum += values.get(out);
            inputs.push(InputView {
                prev_txid: Some(to_hex(&txids[prev as usize])),
                prev_vout: Some(vout),
                address: Some(self.display_addr(self.out_addr.as_slice()[out as usize])),
                value: Some(values.get(out)),
            });
        }
        let mut out_sum = 0u64;
        let outputs = self
            .tx_outputs(tx_num)
            .map(|o| {
                out_sum += values.get(o);
                let spender = self.out_spender.as_slice()[o as usize];
                OutputView {
                    vout: o - rec.first_out,
                    address: self.display_addr(self.out_addr.as_slice()[o as usize]),
                    value: values.get(o),
                    spent_by: (spender != NONE && (spender as usize) < txids.len())
                        .then(|| to_hex(&txids[spender as usize])),
                }
            })
            .collect();
        TxView {
            txid: to_hex(&txids[tx_num as usize]),
            tx_num,
            height,
            block_hash: to_hex(&block.hash),
            time: header.time,
            version,
            lock_time,
            coinbase,
            fee: (!coinbase).then(|| in_sum.saturating_sub(out_sum)),
            inputs,
            outputs,
        }
    }

    /// The view of an address, by a full scan of the output column.
    pub fn address_view(&self, key: &AddrKey) -> Option<AddressView> {
        let addr_id = self.addr_id(key)?;
        let (mut received, mut sent, mut outputs) = (0u64, 0u64, 0u64);
        let mut txs: Vec<u32> = Vec::new();
        let spenders = self.out_spender.as_slice();
        let values = self.values();
        let n_tx = self.tx.len() as u32;
        for (o, &a) in self.out_addr.as_slice().iter().enumerate() {
            if a != addr_id {
                continue;
            }
            outputs += 1;
            received += values.get(o as u32);
            txs.push(self.tx_of_output(o as u32));
            let s = spenders[o];
            if s != NONE && s < n_tx {
                sent += values.get(o as u32);
                txs.push(s);
            }
        }
        txs.sort_unstable();
        txs.dedup();
        let first = txs.first().map(|&t| self.height_of_tx(t)).unwrap_or(0);
        let last = txs.last().map(|&t| self.height_of_tx(t)).unwrap_or(0);
        Some(AddressView {
            address: key.display(self.chain()),
            kind: key.kind,
            addr_id,
            received,
            sent,
            balance: received - sent,
            tx_count: txs.len() as u64,
            output_count: outputs,
            first_height: first,
            last_height: last,
        })
    }

    /// The height of the block with this hash.
    pub fn height_of_block(&self, hash: &Hash32) -> Option<u32> {
        self.blocks
            .as_slice()
            .iter()
            .position(|b| &b.hash == hash)
            .map(|h| h as u32)
    }

    /// The view of the block at `height`.
    pub fn block_view(&self, height: u32) -> Option<BlockView> {
        let b = self.blocks.as_slice().get(height as usize)?;
        let h = BlockHeader::decode(&b.header);
        let txids = self.tx_txid.as_slice();
        Some(BlockView {
            hash: to_hex(&b.hash),
            height,
            prev_hash: to_hex(&h.prev_hash),
            merkle_root: to_hex(&h.merkle_root),
            time: h.time,
            bits: format!("{:08x}", h.bits),
            nonce: h.nonce,
            version: h.version,
            size: b.size,
            tx_count: b.n_tx,
            txids: self
                .block_txs(height)
                .map(|t| to_hex(&txids[t as usize]))
                .collect(),
        })
    }
}
