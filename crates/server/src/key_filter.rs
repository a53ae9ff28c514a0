//! A Bloom filter of the id keys (see [`crate::sqlite::id_key`]) of the stored objects,
//! kept by the store's writer: an object whose key the filter has never seen cannot be
//! stored already, so the writer skips the look-up for it. Nearly every posted object is
//! new, so a TAXII POST costs no duplicate look-ups at all, only one for each rare
//! "maybe" (a duplicate, or about one new object in a hundred).
//!
//! Keys are never removed (a deleted or rolled-back object leaves a "maybe", which only
//! costs a look-up). The filter doubles when it holds more keys than it was sized for,
//! rebuilt from the keys the store reads back.

/// Bits per key the filter is sized for (with [`PROBES`] probes: about 1 % "maybe" for
/// keys it has not seen, at full load).
const BITS_PER_KEY: usize = 10;
/// Bits set and tested per key.
const PROBES: usize = 4;
/// Keys the smallest filter is sized for.
const MIN_CAPACITY: usize = 1 << 14;

/// The filter.
#[derive(Clone, Debug)]
pub struct KeyFilter {
    words: Vec<u64>,
    /// `bits - 1` (the bit count is a power of two).
    mask: u64,
    keys: usize,
    capacity: usize,
}

impl KeyFilter {
    /// An empty filter sized for at least `keys` keys.
    pub fn with_capacity(keys: usize) -> KeyFilter {
        let capacity = keys.max(MIN_CAPACITY).next_power_of_two();
        let bits = capacity * BITS_PER_KEY.next_power_of_two();
        KeyFilter {
            words: vec![0; bits / 64],
            mask: bits as u64 - 1,
            keys: 0,
            capacity,
        }
    }

    /// A filter of `keys`, sized for twice as many.
    pub fn from_keys(keys: &[i64]) -> KeyFilter {
        let mut f = KeyFilter::with_capacity(keys.len() * 2);
        for &k in keys {
            f.insert(k);
        }
        f
    }

    /// The bit positions of `key`: double hashing on its two halves (the key is already
    /// a uniform hash of the id).
    fn positions(&self, key: i64) -> [u64; PROBES] {
        let k = key as u64;
        let (h1, h2) = (k, k.rotate_left(32) | 1);
        std::array::from_fn(|i| h1.wrapping_add((i as u64).wrapping_mul(h2)) & self.mask)
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: i64) {
        for bit in self.positions(key) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.keys += 1;
    }

    /// Whether `key` may have been added (`false`: it certainly was not).
    pub fn may_contain(&self, key: i64) -> bool {
        self.positions(key)
            .iter()
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Whether the filter holds more keys than it was sized for (time to rebuild it
    /// larger with [`KeyFilter::from_keys`]).
    pub fn is_full(&self) -> bool {
        self.keys > self.capacity
    }

    /// Keys added.
    pub fn len(&self) -> usize {
        self.keys
    }

    /// Whether no key was added.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::id_key;

    #[test]
    fn every_added_key_is_a_maybe_and_few_others_are() {
        let added: Vec<i64> = (0..20_000)
            .map(|i| id_key(&format!("indicator--{i}")))
            .collect();
        let f = KeyFilter::from_keys(&added);
        assert!(added.iter().all(|&k| f.may_contain(k)));
        let false_maybes = (0..20_000)
            .map(|i| id_key(&format!("malware--{i}")))
            .filter(|&k| f.may_contain(k))
            .count();
        // Sized for twice the keys: well under 1 %.
        assert!(false_maybes < 200, "{false_maybes} false maybes in 20,000");
    }

    #[test]
    fn an_empty_filter_says_no_and_a_full_one_asks_to_grow() {
        let mut f = KeyFilter::with_capacity(0);
        assert!(f.is_empty());
        assert!(!f.may_contain(id_key("indicator--1")));
        for i in 0..=MIN_CAPACITY {
            f.insert(id_key(&format!("indicator--{i}")));
        }
        assert_eq!(f.len(), MIN_CAPACITY + 1);
        assert!(f.is_full());
        assert!(!KeyFilter::from_keys(&[1, 2, 3]).is_full());
    }
}
