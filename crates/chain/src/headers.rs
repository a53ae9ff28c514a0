//! The header tree of all blocks found on disk, and the most-work chain through it.

use crate::blkfile::BlockLoc;
use crate::hash::{sha256d, Hash32};
use crate::tx::BlockHeader;
use std::collections::HashMap;

/// Proof of work of one header as Bitcoin counts it: floor(2^256 / (target + 1)),
/// saturated to `u128` (only targets below 2^128, far harder than any real chain, saturate).
pub fn work_from_bits(bits: u32) -> u128 {
    let Some(target) = target_from_bits(bits) else {
        return 0;
    };
    // target + 1 as four little-endian u64 limbs.
    let mut t = target;
    for limb in t.iter_mut() {
        let (v, carry) = limb.overflowing_add(1);
        *limb = v;
        if !carry {
            break;
        }
    }
    if t == [0; 4] {
        return 1; // target was 2^256 - 1
    }
    if t[2] == 0 && t[3] == 0 {
        return u128::MAX;
    }
    // Long division of 2^256 by t: quotient fits in 129 bits; compute 2^256 - 1 / t and fix up.
    let mut rem = [0u64; 4];
    let mut quo: u128 = 0;
    for _ in 0..256 {
        // rem = rem * 2 + 1 (dividend bits of 2^256 - 1 are all ones)
        let top = rem[3] >> 63;
        for i in (1..4).rev() {
            rem[i] = (rem[i] << 1) | (rem[i - 1] >> 63);
        }
        rem[0] = (rem[0] << 1) | 1;
        quo = quo.wrapping_shl(1);
        if top == 1 || ge(&rem, &t) {
            sub(&mut rem, &t);
            quo |= 1;
        }
    }
    // floor((2^256 - 1) / t) differs from floor(2^256 / t) only when t divides 2^256.
    let mut r1 = rem;
    add1(&mut r1);
    if r1 == t {
        quo = quo.saturating_add(1);
    }
    quo
}

fn ge(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

fn sub(a: &mut [u64; 4], b: &[u64; 4]) {
    let mut borrow = false;
    for i in 0..4 {
        let (v1, b1) = a[i].overflowing_sub(b[i]);
        let (v2, b2) = v1.overflowing_sub(borrow as u64);
        a[i] = v2;
        borrow = b1 || b2;
    }
}

fn add1(a: &mut [u64; 4]) {
    for limb in a.iter_mut() {
        let (v, c) = limb.overflowing_add(1);
        *limb = v;
        if !c {
            break;
        }
    }
}

/// The 256-bit target of compact `bits` as little-endian limbs; `None` if negative or overflowing.
pub fn target_from_bits(bits: u32) -> Option<[u64; 4]> {
    let exp = bits >> 24;
    let mant = bits & 0x007f_ffff;
    if bits & 0x0080_0000 != 0 && mant != 0 {
        return None;
    }
    let mut bytes = [0u8; 32]; // little-endian
    if exp <= 3 {
        let m = mant >> (8 * (3 - exp));
        bytes[..4].copy_from_slice(&m.to_le_bytes());
    } else {
        let shift = (exp - 3) as usize;
        let m = mant.to_le_bytes();
        for (i, b) in m.iter().take(3).enumerate() {
            if *b != 0 && shift + i >= 32 {
                return None;
            }
            if shift + i < 32 {
                bytes[shift + i] = *b;
            }
        }
    }
    let mut limbs = [0u64; 4];
    for (i, l) in limbs.iter_mut().enumerate() {
        *l = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8"));
    }
    Some(limbs)
}

/// True if the header hash (internal order, i.e. little-endian number) is at or below its target.
pub fn meets_target(hash: &Hash32, bits: u32) -> bool {
    let Some(t) = target_from_bits(bits) else {
        return false;
    };
    let mut h = [0u64; 4];
    for (i, l) in h.iter_mut().enumerate() {
        *l = u64::from_le_bytes(hash[i * 8..i * 8 + 8].try_into().expect("8"));
    }
    ge(&t, &h)
}

/// One block known from the files.
#[derive(Clone, Debug)]
pub struct HeaderNode {
    /// Block hash.
    pub hash: Hash32,
    /// Parent hash.
    pub prev: Hash32,
    /// Where its bytes are.
    pub loc: BlockLoc,
    /// Height, once connected to a genesis block.
    pub height: Option<u32>,
    /// Cumulative work up to and including this block.
    pub chain_work: u128,
    bits: u32,
}

/// A block whose ancestry could not be traced back to a genesis block.
#[derive(Clone, Debug)]
pub struct Orphan {
    /// The block.
    pub hash: Hash32,
    /// The parent that no file holds.
    pub missing_parent: Hash32,
    /// Where the block is.
    pub loc: BlockLoc,
}

/// All headers found in the files, linked by parent hash.
#[derive(Default)]
pub struct HeaderTree {
    nodes: Vec<HeaderNode>,
    by_hash: HashMap<Hash32, usize>,
    /// The same block written twice (Core can do this on reindex) is counted here and kept once.
    pub duplicates: u64,
}

impl HeaderTree {
    /// Adds a header seen at `loc`.
    pub fn add(&mut self, loc: BlockLoc, raw: &[u8; 80]) {
        let hash = sha256d(raw);
        if self.by_hash.contains_key(&hash) {
            self.duplicates += 1;
            return;
        }
        let h = BlockHeader::decode(raw);
        self.by_hash.insert(hash, self.nodes.len());
        self.nodes.push(HeaderNode {
            hash,
            prev: h.prev_hash,
            loc,
            height: None,
            chain_work: 0,
            bits: h.bits,
        });
    }

    /// Number of distinct headers.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if no header was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Looks a block up by hash.
    pub fn get(&self, hash: &Hash32) -> Option<&HeaderNode> {
        self.by_hash.get(hash).map(|&i| &self.nodes[i])
    }

    /// Links every header to its parent, computes heights and cumulative work, and returns the
    /// most-work chain from genesis (ties: the block found first in the files) and the orphans.
    pub fn best_chain(&mut self) -> (Vec<HeaderNode>, Vec<Orphan>) {
        let n = self.nodes.len();
        let mut orphans = Vec::new();
        let mut stack = Vec::new();
        for start in 0..n {
            if self.nodes[start].height.is_some() {
                continue;
            }
            // Walk up to a resolved ancestor, a genesis block, or a missing parent.
            let mut i = start;
            stack.clear();
            let base: Option<(u32, u128)> = loop {
                let node = &self.nodes[i];
                if let Some(h) = node.height {
                    break Some((h, node.chain_work));
                }
                stack.push(i);
                if node.prev == [0; 32] {
                    break None;
                }
                match self.by_hash.get(&node.prev) {
                    Some(&p) if p != i && !stack.contains(&p) => i = p,
                    _ => {
                        // Missing parent: the whole walked branch is orphaned.
                        let top = &self.nodes[i];
                        orphans.push(Orphan {
                            hash: top.hash,
                            missing_parent: top.prev,
                            loc: top.loc,
                        });
                        for &j in &stack {
                            self.nodes[j].height = Some(u32::MAX);
                        }
                        stack.clear();
                        break Some((u32::MAX, 0));
                    }
                }
            };
            let (mut height, mut work) = match base {
                Some((u32::MAX, _)) => {
                    // Attached to an orphaned branch (or just orphaned).
                    for &j in &stack {
                        self.nodes[j].height = Some(u32::MAX);
                    }
                    continue;
                }
                Some((h, w)) => (h.wrapping_add(1), w),
                None => (0, 0),
            };
            for &j in stack.iter().rev() {
                work = work.saturating_add(work_from_bits(self.nodes[j].bits));
                self.nodes[j].height = Some(height);
                self.nodes[j].chain_work = work;
                height = height.wrapping_add(1);
            }
        }
        let mut best: Option<usize> = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.height == Some(u32::MAX) {
                continue;
            }
            if best.is_none_or(|b| node.chain_work > self.nodes[b].chain_work) {
                best = Some(i);
            }
        }
        let mut chain = Vec::new();
        let mut cur = best;
        while let Some(i) = cur {
            let node = &self.nodes[i];
            chain.push(node.clone());
            cur = if node.prev == [0; 32] {
                None
            } else {
                self.by_hash.get(&node.prev).copied()
            };
        }
        chain.reverse();
        (chain, orphans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_matches_known_values() {
        // Genesis difficulty: 0x1d00ffff → 0x100010001 work per block (as getblock's chainwork for block 0).
        assert_eq!(work_from_bits(0x1d00ffff), 0x1_0001_0001);
        // Regtest: target 0x7fffff << 232 → work 2.
        assert_eq!(work_from_bits(0x207fffff), 2);
        assert!(work_from_bits(0x1b0404cb) > work_from_bits(0x1d00ffff));
    }

    #[test]
    fn genesis_meets_its_target() {
        let h = crate::hash::from_hex(
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        )
        .unwrap();
        assert!(meets_target(&h, 0x1d00ffff));
        assert!(!meets_target(&h, 0x1a00ffff));
    }

    fn header(prev: Hash32, nonce: u32, bits: u32) -> [u8; 80] {
        BlockHeader {
            version: 1,
            prev_hash: prev,
            merkle_root: [0; 32],
            time: 0,
            bits,
            nonce,
        }
        .encode()
    }

    #[test]
    fn best_chain_follows_most_work_and_skips_orphans() {
        let mut tree = HeaderTree::default();
        let loc = |i: u64| BlockLoc {
            file: 0,
            offset: i,
            size: 81,
        };
        let g = header([0; 32], 0, 0x207fffff);
        let gh = sha256d(&g);
        let a1 = header(gh, 1, 0x207fffff);
        let a1h = sha256d(&a1);
        let a2 = header(a1h, 2, 0x207fffff);
        let b1 = header(gh, 3, 0x207fffff);
        let b1h = sha256d(&b1);
        let b2 = header(b1h, 4, 0x207fffff);
        let b3 = header(sha256d(&b2), 5, 0x207fffff);
        let orphan = header([7; 32], 6, 0x207fffff);
        // Children before parents, as out-of-order files have them.
        for (i, h) in [&b3, &a2, &orphan, &b2, &a1, &g, &b1].iter().enumerate() {
            tree.add(loc(i as u64), h);
        }
        tree.add(loc(99), &a1); // duplicate
        let (chain, orphans) = tree.best_chain();
        assert_eq!(tree.duplicates, 1);
        assert_eq!(chain.len(), 4);
        assert_eq!(chain[0].hash, gh);
        assert_eq!(chain[1].hash, b1h);
        assert_eq!(chain[3].hash, sha256d(&b3));
        assert_eq!(chain[3].height, Some(3));
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].missing_parent, [7; 32]);
    }
}
