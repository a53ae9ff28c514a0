//! The inputs and outputs of one transaction as the heuristics see them.

use chainwatch_chain::store::{Store, NONE};
use chainwatch_types::AddrKind;

/// One input (the output it spends) or one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    /// Address id.
    pub addr: u32,
    /// Value in base units.
    pub value: u64,
    /// Script kind of the address.
    pub kind: AddrKind,
}

/// A transaction's inputs and outputs, filled from the store into reusable buffers.
#[derive(Clone, Debug, Default)]
pub struct TxIo {
    /// The tx.
    pub tx_num: u32,
    /// True for a coinbase (then `inputs` is empty).
    pub coinbase: bool,
    /// Spent outputs, in input order.
    pub inputs: Vec<Io>,
    /// Outputs, in order.
    pub outputs: Vec<Io>,
    /// `nVersion`.
    pub version: i32,
    /// `nLockTime`.
    pub lock_time: u32,
}

impl TxIo {
    /// A tx from hand-written parts (tests, callers without a store).
    pub fn new(inputs: Vec<Io>, outputs: Vec<Io>) -> TxIo {
        TxIo {
            inputs,
            outputs,
            ..TxIo::default()
        }
    }

    /// Loads `tx_num` from the store, reusing this value's buffers.
    pub fn load(&mut self, store: &Store, tx_num: u32) {
        self.tx_num = tx_num;
        self.inputs.clear();
        self.outputs.clear();
        self.coinbase = false;
        let spent = store.in_spent.as_slice();
        let addrs = store.out_addr.as_slice();
        let values = store.values();
        let kinds = store.addr_kind.as_slice();
        (self.version, self.lock_time) = store.tx_version_lock_time(tx_num);
        let kind = |a: u32| AddrKind::from_u8(kinds[a as usize]).unwrap_or(AddrKind::Script);
        for i in store.tx_inputs(tx_num) {
            let o = spent[i as usize];
            if o == NONE {
                self.coinbase = true;
                continue;
            }
            let a = addrs[o as usize];
            self.inputs.push(Io {
                addr: a,
                value: values.get(o),
                kind: kind(a),
            });
        }
        for o in store.tx_outputs(tx_num) {
            let a = addrs[o as usize];
            self.outputs.push(Io {
                addr: a,
                value: values.get(o),
                kind: kind(a),
            });
        }
    }

    /// Sum of input values.
    pub fn input_sum(&self) -> u64 {
        self.inputs.iter().map(|i| i.value).sum()
    }
}
