//! Change-output heuristics. Each names at most one output of a tx as the payer's change; off by
//! default, combinable: when several are enabled, all of them must name the same output.

use crate::txio::TxIo;
use serde::Serialize;
use std::str::FromStr;

/// A named change heuristic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeHeuristic {
    /// The only output to an address never seen before this tx (the others were seen before).
    FreshAddress,
    /// The only output whose script type matches the type of every input.
    SameScriptType,
    /// With two outputs: when exactly one is a round amount (a payment), the other is change.
    RoundPayment,
    /// The only output smaller than every input (a wallet would not have added an input it
    /// did not need to pay a smaller amount).
    SmallerThanInputs,
    /// The only output spent later by a tx with the same version and lock-time style
    /// (zero or not) as this one: the same wallet software spent it.
    Fingerprint,
}

impl ChangeHeuristic {
    /// All heuristics.
    pub const ALL: [ChangeHeuristic; 5] = [
        ChangeHeuristic::FreshAddress,
        ChangeHeuristic::SameScriptType,
        ChangeHeuristic::RoundPayment,
        ChangeHeuristic::SmallerThanInputs,
        ChangeHeuristic::Fingerprint,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ChangeHeuristic::FreshAddress => "fresh-address",
            ChangeHeuristic::SameScriptType => "same-script-type",
            ChangeHeuristic::RoundPayment => "round-payment",
            ChangeHeuristic::SmallerThanInputs => "smaller-than-inputs",
            ChangeHeuristic::Fingerprint => "fingerprint",
        }
    }
}

impl FromStr for ChangeHeuristic {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = if s == "locktime" || s == "version" {
            "fingerprint"
        } else {
            s
        };
        ChangeHeuristic::ALL
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown change heuristic '{s}' (known: {})",
                    ChangeHeuristic::ALL.map(|h| h.name()).join(", ")
                )
            })
    }
}

/// Facts about outputs the heuristics need beyond the tx itself.
pub trait OutputFacts {
    /// True if output `vout` of the tx pays an address first seen in this very tx.
    fn is_fresh(&self, tx: &TxIo, vout: usize) -> bool;
    /// Version and lock-time-is-zero of the tx that spent output `vout`, if spent.
    fn spender_fingerprint(&self, tx: &TxIo, vout: usize) -> Option<(i32, bool)>;
}

fn only<I: Iterator<Item = bool>>(flags: I) -> Option<usize> {
    let mut found = None;
    for (i, f) in flags.enumerate() {
        if f {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

fn is_round(v: u64) -> bool {
    v >= 10_000 && v.is_multiple_of(10_000)
}

/// The output one heuristic names as change.
pub fn guess(h: ChangeHeuristic, tx: &TxIo, facts: &dyn OutputFacts) -> Option<usize> {
    if tx.coinbase || tx.inputs.is_empty() || tx.outputs.len() < 2 {
        return None;
    }
    match h {
        ChangeHeuristic::FreshAddress => only((0..tx.outputs.len()).map(|v| facts.is_fresh(tx, v))),
        ChangeHeuristic::SameScriptType => {
            let k = tx.inputs[0].kind;
            if tx.inputs.iter().any(|i| i.kind != k) {
                return None;
            }
            only(tx.outputs.iter().map(|o| o.kind == k))
        }
        ChangeHeuristic::RoundPayment => {
            if tx.outputs.len() != 2 {
                return None;
            }
            match (is_round(tx.outputs[0].value), is_round(tx.outputs[1].value)) {
                (true, false) => Some(1),
                (false, true) => Some(0),
                _ => None,
            }
        }
        ChangeHeuristic::SmallerThanInputs => {
            let min_in = tx.inputs.iter().map(|i| i.value).min()?;
            only(tx.outputs.iter().map(|o| o.value < min_in))
        }
        ChangeHeuristic::Fingerprint => {
            let own = (tx.version, tx.lock_time == 0);
            only((0..tx.outputs.len()).map(|v| facts.spender_fingerprint(tx, v) == Some(own)))
        }
    }
}

/// The change output all `enabled` heuristics agree on, if any; none when an output pays one of
/// the tx's own input addresses (that output is the change, already linked by the inputs).
pub fn combined(enabled: &[ChangeHeuristic], tx: &TxIo, facts: &dyn OutputFacts) -> Option<usize> {
    // Change sent back to one of the inputs' own addresses is the change: the other outputs are
    // payments (batched withdrawals of exchanges look so), and guessing among them would link
    // the payees to the payer.
    if tx
        .outputs
        .iter()
        .any(|o| tx.inputs.iter().any(|i| i.addr == o.addr))
    {
        return None;
    }
    let mut agreed = None;
    for &h in enabled {
        let g = guess(h, tx, facts)?;
        match agreed {
            None => agreed = Some(g),
            Some(a) if a == g => {}
            Some(_) => return None,
        }
    }
    agreed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txio::Io;
    use chainwatch_types::AddrKind;

    struct Facts {
        fresh: Vec<bool>,
        spenders: Vec<Option<(i32, bool)>>,
    }
    impl OutputFacts for Facts {
        fn is_fresh(&self, _: &TxIo, v: usize) -> bool {
            self.fresh[v]
        }
        fn spender_fingerprint(&self, _: &TxIo, v: usize) -> Option<(i32, bool)> {
            self.spenders[v]
        }
    }

    fn payment() -> TxIo {
        let mut t = TxIo::new(
            vec![
                Io {
                    addr: 1,
                    value: 900_000,
                    kind: AddrKind::P2wpkh,
                },
                Io {
                    addr: 2,
                    value: 400_000,
                    kind: AddrKind::P2wpkh,
                },
            ],
            vec![
                Io {
                    addr: 3,
                    value: 1_000_000,
                    kind: AddrKind::P2pkh,
                },
                Io {
                    addr: 4,
                    value: 299_000,
                    kind: AddrKind::P2wpkh,
                },
            ],
        );
        t.version = 2;
        t
    }

    #[test]
    fn each_heuristic_names_the_change() {
        let t = payment();
        let f = Facts {
            fresh: vec![false, true],
            spenders: vec![Some((1, true)), Some((2, true))],
        };
        for h in ChangeHeuristic::ALL {
            assert_eq!(guess(h, &t, &f), Some(1), "{h:?}");
        }
        assert_eq!(combined(&ChangeHeuristic::ALL, &t, &f), Some(1));
    }

    #[test]
    fn disagreement_or_ambiguity_gives_no_change() {
        let t = payment();
        let f = Facts {
            fresh: vec![true, false],
            spenders: vec![None, None],
        };
        assert_eq!(guess(ChangeHeuristic::FreshAddress, &t, &f), Some(0));
        assert_eq!(
            combined(
                &[
                    ChangeHeuristic::FreshAddress,
                    ChangeHeuristic::SameScriptType
                ],
                &t,
                &f
            ),
            None
        );
        let both_fresh = Facts {
            fresh: vec![true, true],
            spenders: vec![None, None],
        };
        assert_eq!(guess(ChangeHeuristic::FreshAddress, &t, &both_fresh), None);
        assert_eq!(guess(ChangeHeuristic::Fingerprint, &t, &both_fresh), None);
        assert_eq!(
            "locktime".parse::<ChangeHeuristic>(),
            Ok(ChangeHeuristic::Fingerprint)
        );
        assert!("nonsense".parse::<ChangeHeuristic>().is_err());
    }
}
