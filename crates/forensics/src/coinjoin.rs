//! CoinJoin detection: BlockSci's generic test plus Whirlpool, Wasabi 1.x / 2.0 and JoinMarket.
//!
//! A CoinJoin's inputs belong to many owners, so the multi-input heuristic must skip it.

use crate::txio::TxIo;
use serde::Serialize;
use std::collections::HashMap;

/// Which detector recognised a CoinJoin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinJoinKind {
    /// Samourai/Sparrow Whirlpool mix.
    Whirlpool,
    /// Wasabi 1.x (ZeroLink, ~0.1 BTC base denomination and its doublings).
    Wasabi1,
    /// Wasabi 2.0 (WabiSabi: many inputs, standard denominations).
    Wasabi2,
    /// JoinMarket (equal outputs plus one change per maker).
    JoinMarket,
    /// BlockSci's generic test.
    Generic,
}

/// Whirlpool pool denominations in sats: 0.001, 0.01, 0.05, 0.5 BTC.
pub const WHIRLPOOL_POOLS: [u64; 4] = [100_000, 1_000_000, 5_000_000, 50_000_000];

/// Most frequent output value and its count (ties: the larger value).
fn most_frequent(tx: &TxIo) -> Option<(u64, usize)> {
    let mut counts: HashMap<u64, usize> = HashMap::with_capacity(tx.outputs.len());
    for o in &tx.outputs {
        *counts.entry(o.value).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(v, c)| (c, v))
}

fn distinct_input_addrs(tx: &TxIo) -> usize {
    let mut a: Vec<u32> = tx.inputs.iter().map(|i| i.addr).collect();
    a.sort_unstable();
    a.dedup();
    a.len()
}

/// BlockSci's `isCoinjoin`: ≥2 inputs, ≥3 outputs, n = ceil(outputs/2) ≤ inputs and ≤ distinct
/// input addresses, and the most frequent output value (not 546 or 2730 sats, dust of
/// protocol transactions) occurs exactly n times.
pub fn is_generic(tx: &TxIo) -> bool {
    if tx.inputs.len() < 2 || tx.outputs.len() < 3 {
        return false;
    }
    let n = tx.outputs.len().div_ceil(2);
    if n > tx.inputs.len() || n > distinct_input_addrs(tx) {
        return false;
    }
    match most_frequent(tx) {
        Some((v, c)) => v != 546 && v != 2730 && c == n,
        None => false,
    }
}

/// Whirlpool mix: 5–8 inputs and as many outputs, every output exactly one pool denomination,
/// every input between the denomination and the denomination plus 0.0011 BTC (premix fees).
pub fn is_whirlpool(tx: &TxIo) -> bool {
    let n = tx.outputs.len();
    if !(5..=8).contains(&n) || tx.inputs.len() != n {
        return false;
    }
    let d = tx.outputs[0].value;
    WHIRLPOOL_POOLS.contains(&d)
        && tx.outputs.iter().all(|o| o.value == d)
        && tx
            .inputs
            .iter()
            .all(|i| i.value >= d && i.value <= d + 110_000)
        && distinct_input_addrs(tx) == n
}

/// Wasabi 1.x: ≥ 10 equal outputs of a base denomination near 0.1 BTC (0.08–0.12), more inputs
/// than that, and distinct input addresses for at least as many participants.
pub fn is_wasabi1(tx: &TxIo) -> bool {
    if tx.inputs.len() < 10 {
        return false;
    }
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for o in &tx.outputs {
        if (8_000_000..=12_000_000).contains(&o.value) {
            *counts.entry(o.value).or_default() += 1;
        }
    }
    match counts.into_iter().max_by_key(|&(v, c)| (c, v)) {
        Some((_, c)) => c >= 10 && distinct_input_addrs(tx) >= c,
        None => false,
    }
}

/// Is `v` one of Wasabi 2.0's standard denominations (powers of 2 and 3, and 1/2/5 × 10^k,
/// with their doublings and triplings, from 5,000 sats up)?
pub fn is_wasabi2_denomination(v: u64) -> bool {
    if v < 5_000 {
        return false;
    }
    let pow_of = |mut x: u64, b: u64| {
        while x.is_multiple_of(b) {
            x /= b;
        }
        x == 1
    };
    if pow_of(v, 2) || pow_of(v, 3) {
        return true;
    }
    // 1, 2, 5 × 10^k and 2×, 3× of them (e.g. 20_000, 30_000, 50_000, 100_000 …).
    let mut x = v;
    while x.is_multiple_of(10) {
        x /= 10;
    }
    matches!(x, 1 | 2 | 3 | 4 | 5 | 6 | 15)
}

/// Wasabi 2.0: ≥ 20 inputs from ≥ 20 distinct addresses, ≥ 10 outputs, and at least three
/// standard denominations each paid to two or more outputs, covering most outputs.
pub fn is_wasabi2(tx: &TxIo) -> bool {
    if tx.inputs.len() < 20 || tx.outputs.len() < 10 || distinct_input_addrs(tx) < 20 {
        return false;
    }
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for o in &tx.outputs {
        if is_wasabi2_denomination(o.value) {
            *counts.entry(o.value).or_default() += 1;
        }
    }
    let tiers = counts.values().filter(|&&c| c >= 2).count();
    let in_tiers: usize = counts.values().filter(|&&c| c >= 2).sum();
    tiers >= 3 && in_tiers * 2 >= tx.outputs.len()
}

/// JoinMarket: n ≥ 3 equal outputs, n ≤ inputs, n ≤ distinct input addresses, and the other
/// outputs (maker and taker change) number n − 1 or n; the equal value is not dust.
pub fn is_joinmarket(tx: &TxIo) -> bool {
    let Some((v, n)) = most_frequent(tx) else {
        return false;
    };
    if n < 3 || v <= 2730 {
        return false;
    }
    let others = tx.outputs.len() - n;
    (others + 1 == n || others == n) && n <= tx.inputs.len() && n <= distinct_input_addrs(tx)
}

/// The first detector that recognises `tx` as a CoinJoin, most specific first.
pub fn detect(tx: &TxIo) -> Option<CoinJoinKind> {
    if tx.coinbase || tx.inputs.len() < 2 || tx.outputs.len() < 3 {
        return None;
    }
    if is_whirlpool(tx) {
        Some(CoinJoinKind::Whirlpool)
    } else if is_wasabi2(tx) {
        Some(CoinJoinKind::Wasabi2)
    } else if is_wasabi1(tx) {
        Some(CoinJoinKind::Wasabi1)
    } else if is_joinmarket(tx) {
        Some(CoinJoinKind::JoinMarket)
    } else if is_generic(tx) {
        Some(CoinJoinKind::Generic)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txio::Io;
    use chainwatch_types::AddrKind;

    fn io(addr: u32, value: u64) -> Io {
        Io {
            addr,
            value,
            kind: AddrKind::P2wpkh,
        }
    }

    fn tx(inputs: &[(u32, u64)], outputs: &[(u32, u64)]) -> TxIo {
        TxIo::new(
            inputs.iter().map(|&(a, v)| io(a, v)).collect(),
            outputs.iter().map(|&(a, v)| io(a, v)).collect(),
        )
    }

    #[test]
    fn whirlpool_mix_is_detected_and_near_misses_are_not() {
        let ins: Vec<(u32, u64)> = (0..5).map(|i| (i, 1_000_000 + 1_000 * i as u64)).collect();
        let outs: Vec<(u32, u64)> = (0..5).map(|i| (100 + i, 1_000_000)).collect();
        assert_eq!(detect(&tx(&ins, &outs)), Some(CoinJoinKind::Whirlpool));
        // Not a pool denomination.
        let outs2: Vec<(u32, u64)> = (0..5).map(|i| (100 + i, 1_200_000)).collect();
        assert!(!is_whirlpool(&tx(&ins, &outs2)));
        // One output differs.
        let mut outs3 = outs.clone();
        outs3[4].1 = 999_000;
        assert!(!is_whirlpool(&tx(&ins, &outs3)));
        // Same owner on two inputs.
        let mut ins4 = ins.clone();
        ins4[1].0 = 0;
        assert!(!is_whirlpool(&tx(&ins4, &outs)));
    }

    #[test]
    fn generic_test_follows_blocksci() {
        // 3 participants: 3 equal outputs + 2 change, 4 inputs from 4 addresses. n = ceil(5/2) = 3.
        let t = tx(
            &[(1, 5_000_000), (2, 4_000_000), (3, 3_500_000), (4, 100_000)],
            &[
                (10, 3_000_000),
                (11, 3_000_000),
                (12, 3_000_000),
                (13, 1_999_000),
                (14, 1_500_000),
            ],
        );
        assert!(is_generic(&t));
        assert!(detect(&t).is_some());
        // Dust value excluded.
        let d = tx(
            &[(1, 5_000), (2, 5_000), (3, 5_000)],
            &[(10, 546), (11, 546), (12, 546), (13, 1_000), (14, 2_000)],
        );
        assert!(!is_generic(&d));
        // Two inputs from one address: not enough distinct participants.
        let s = tx(
            &[(1, 5_000_000), (1, 4_000_000), (1, 3_500_000)],
            &[
                (10, 3_000_000),
                (11, 3_000_000),
                (12, 3_000_000),
                (13, 1_999_000),
                (14, 1_500_000),
            ],
        );
        assert!(!is_generic(&s));
    }

    #[test]
    fn batch_payout_is_not_a_coinjoin() {
        // An exchange's batched withdrawal: 2 inputs of its hot wallet, 12 payouts with varied values + change.
        let outs: Vec<(u32, u64)> = (0..12)
            .map(|i| (100 + i, 1_000_000 + 37_123 * i as u64))
            .chain([(7, 80_000_000)])
            .collect();
        let t = tx(&[(7, 60_000_000), (8, 50_000_000)], &outs);
        assert_eq!(detect(&t), None);
        // Even with a few equal payouts (same amount to 3 customers), one owner's 2 inputs don't qualify.
        let mut outs2 = outs.clone();
        outs2[1].1 = 1_000_000;
        outs2[2].1 = 1_000_000;
        assert_eq!(
            detect(&tx(&[(7, 60_000_000), (8, 50_000_000)], &outs2)),
            None
        );
        // A plain payment with change.
        assert_eq!(
            detect(&tx(&[(1, 10_000), (2, 20_000)], &[(3, 25_000), (4, 4_000)])),
            None
        );
    }

    #[test]
    fn wasabi_rounds_are_detected() {
        // Wasabi 1.x: 12 inputs, 10 outputs of 0.1 BTC + change.
        let ins: Vec<(u32, u64)> = (0..12)
            .map(|i| (i, 11_000_000 + 10_000 * i as u64))
            .collect();
        let outs: Vec<(u32, u64)> = (0..10)
            .map(|i| (100 + i, 10_000_000))
            .chain((0..6).map(|i| (200 + i, 900_000 + i as u64)))
            .collect();
        assert_eq!(detect(&tx(&ins, &outs)), Some(CoinJoinKind::Wasabi1));
        // Wasabi 2.0: 30 inputs, tiers of standard denominations + change.
        let ins: Vec<(u32, u64)> = (0..30)
            .map(|i| (i, 3_000_000 + 77_777 * i as u64))
            .collect();
        let mut outs: Vec<(u32, u64)> = Vec::new();
        for (k, d) in [
            (8, 1_048_576u64),
            (6, 2_000_000),
            (5, 531_441),
            (4, 100_000),
        ] {
            for j in 0..k {
                outs.push((1000 + outs.len() as u32 + j, d));
            }
        }
        outs.extend((0..5).map(|i| (3000 + i, 123_457 + i as u64)));
        assert_eq!(detect(&tx(&ins, &outs)), Some(CoinJoinKind::Wasabi2));
        assert!(
            is_wasabi2_denomination(100_000)
                && is_wasabi2_denomination(1_048_576)
                && !is_wasabi2_denomination(123_457)
        );
    }

    #[test]
    fn joinmarket_is_detected() {
        // 4 participants, 4 equal outputs, 3 maker changes, 5 inputs.
        let t = tx(
            &[
                (1, 9_000_000),
                (2, 8_000_000),
                (3, 7_000_000),
                (4, 6_000_000),
                (5, 1_000_000),
            ],
            &[
                (10, 5_000_000),
                (11, 5_000_000),
                (12, 5_000_000),
                (13, 5_000_000),
                (14, 4_000_100),
                (15, 3_000_200),
                (16, 2_999_000),
            ],
        );
        assert_eq!(detect(&t), Some(CoinJoinKind::JoinMarket));
        // Equal outputs from a single owner (e.g. a payroll): not enough distinct inputs.
        let p = tx(
            &[(1, 30_000_000)],
            &[
                (10, 5_000_000),
                (11, 5_000_000),
                (12, 5_000_000),
                (13, 14_000_000),
            ],
        );
        assert_eq!(detect(&p), None);
    }
}
