//! A hasher for integer keys that need no protection against chosen collisions: dense
//! ids (txs, addresses, clusters) and keys that are already uniform hashes (the intel
//! store's id keys). One multiplication spreads the key's bits over the word, where the
//! standard library's SipHash costs several times more.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The golden-ratio multiplier (Fibonacci hashing).
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A multiplicative hasher for integer keys.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i).wrapping_mul(K);
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i.wrapping_mul(K);
    }

    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
}

/// A `HashMap` keyed by integers, with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn keys_spread_over_the_table_and_equal_keys_hash_alike() {
        let b = BuildHasherDefault::<IdHasher>::default();
        assert_eq!(b.hash_one(42u32), b.hash_one(42u32));
        assert_eq!(b.hash_one(-7i64), b.hash_one(-7i64));
        // Dense ids land in distinct top-7-bit groups often enough for a hash table.
        let tops: std::collections::HashSet<u64> =
            (0u32..1000).map(|i| b.hash_one(i) >> 57).collect();
        assert!(tops.len() > 100, "{}", tops.len());
        let mut m: IdMap<i64, u8> = IdMap::default();
        m.insert(i64::MIN, 1);
        m.insert(i64::MAX, 2);
        assert_eq!((m[&i64::MIN], m[&i64::MAX]), (1, 2));
    }
}
