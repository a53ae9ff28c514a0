//! The rows (`seq`) of every stored object by its id key ([`crate::sqlite::id_key`]), in
//! memory: the store finds objects by id through it (TAXII `match[id]`, the object and
//! versions endpoints, duplicate checks when objects are added, the latest and first
//! version of each object in a page).
//!
//! Why not an index in the database: keys are uniform hashes, so every object added
//! lands on a random page of such an index, and each page touched is written to the log
//! again at the commit. Once a store holds some 100,000 objects a 500-object TAXII write
//! rewrites most of the index (2.7 MB per commit) and takes 3.7 ms instead of 1.2 ms
//! (`cargo run --release -p chainwatch-server --example benchwriter`), and it grows worse
//! with every object. In memory an object costs 38 to 75 bytes (a 33-byte slot of a hash
//! table that doubles as it fills; 43 bytes per object, 8.7 MB, for 200,000 objects read
//! back, `benchwriter`) and no writes; it is read back, when the store opens, from the
//! index of objects by time added, whose entries end with the key (44 ms for 200,000).
//!
//! The writer indexes a row when it inserts it, before the commit, and takes a deleted
//! row out only after the delete committed: a reader finds every row its snapshot holds.
//! Entries may also name rows that a reader cannot see (not committed yet) or that are not
//! the object any more (a rolled-back write's `seq`, which a later row can reuse, until
//! the writer takes it out): every query through the index checks the key and the id of
//! the rows it reads.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The rows of one key: nearly always one.
#[derive(Clone, Debug)]
enum Rows {
    One(i64),
    Many(Vec<i64>),
}

/// The index.
#[derive(Clone, Debug, Default)]
pub struct IdIndex {
    /// Keyed with the standard library's hasher, seeded at random per process: ids are
    /// chosen by clients, and with a fixed hash a writer could find ids whose keys all
    /// fall into one bucket.
    keys: HashMap<i64, Rows>,
    rows: usize,
}

impl IdIndex {
    /// An empty index with room for `keys` keys.
    pub fn with_capacity(keys: usize) -> IdIndex {
        IdIndex {
            keys: HashMap::with_capacity(keys),
            rows: 0,
        }
    }

    /// Adds row `seq` under `key` (once).
    pub fn insert(&mut self, key: i64, seq: i64) {
        match self.keys.get_mut(&key) {
            None => {
                self.keys.insert(key, Rows::One(seq));
            }
            Some(Rows::One(s)) if *s == seq => return,
            Some(r @ Rows::One(_)) => {
                if let Rows::One(first) = *r {
                    *r = Rows::Many(vec![first, seq]);
                }
            }
            Some(Rows::Many(v)) if v.contains(&seq) => return,
            Some(Rows::Many(v)) => v.push(seq),
        }
        self.rows += 1;
    }

    /// Takes row `seq` out from under `key`; answers whether it was there.
    pub fn remove(&mut self, key: i64, seq: i64) -> bool {
        let removed = match self.keys.get_mut(&key) {
            Some(Rows::One(s)) if *s == seq => {
                self.keys.remove(&key);
                true
            }
            Some(Rows::Many(v)) => match v.iter().position(|&s| s == seq) {
                Some(i) => {
                    v.swap_remove(i);
                    if let [last] = v[..] {
                        self.keys.insert(key, Rows::One(last));
                    }
                    true
                }
                None => false,
            },
            _ => false,
        };
        self.rows -= usize::from(removed);
        removed
    }

    /// The rows under `key` (in no particular order).
    pub fn rows(&self, key: i64) -> &[i64] {
        match self.keys.get(&key) {
            None => &[],
            Some(Rows::One(s)) => std::slice::from_ref(s),
            Some(Rows::Many(v)) => v,
        }
    }

    /// Rows indexed.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is indexed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Bytes the index holds on the heap (its table, and the row lists of keys with
    /// several rows).
    pub fn heap_bytes(&self) -> usize {
        // The table has a power of two of slots, of which it fills at most 7 in 8 (what
        // `capacity` counts), each with one control byte.
        let slots = (self.keys.capacity() * 8).div_ceil(7).next_power_of_two();
        let table = slots * (std::mem::size_of::<(i64, Rows)>() + 1);
        let lists: usize = self
            .keys
            .values()
            .map(|r| match r {
                Rows::One(_) => 0,
                Rows::Many(v) => v.capacity() * std::mem::size_of::<i64>(),
            })
            .sum();
        table + lists
    }
}

/// An [`IdIndex`] shared by the store's writer (which changes it) and its readers.
#[derive(Clone, Debug, Default)]
pub struct SharedIdIndex(Arc<RwLock<IdIndex>>);

impl SharedIdIndex {
    /// Shares `index`.
    pub fn new(index: IdIndex) -> SharedIdIndex {
        SharedIdIndex(Arc::new(RwLock::new(index)))
    }

    /// The index, to read (a panic elsewhere while it was held does not make it unusable:
    /// every change is one complete step).
    pub fn read(&self) -> RwLockReadGuard<'_, IdIndex> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index, to change.
    pub fn write(&self) -> RwLockWriteGuard<'_, IdIndex> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rows under `key`, copied (no allocation when there are none).
    pub fn rows(&self, key: i64) -> Vec<i64> {
        self.read().rows(key).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_and_go_under_their_key() {
        let mut ix = IdIndex::default();
        ix.insert(7, 1);
        ix.insert(7, 1);
        assert_eq!(ix.rows(7), &[1]);
        assert_eq!(ix.len(), 1);
        ix.insert(7, 5);
        ix.insert(7, 9);
        ix.insert(-3, 2);
        let mut r = ix.rows(7).to_vec();
        r.sort_unstable();
        assert_eq!(r, [1, 5, 9]);
        assert_eq!(ix.len(), 4);
        assert!(ix.remove(7, 5));
        assert!(!ix.remove(7, 5));
        assert!(!ix.remove(8, 1));
        assert!(ix.remove(7, 1));
        assert_eq!(ix.rows(7), &[9]);
        assert!(ix.remove(7, 9));
        assert!(ix.rows(7).is_empty());
        assert_eq!(ix.rows(-3), &[2]);
        assert_eq!(ix.len(), 1);
        assert!(ix.remove(-3, 2));
        assert!(ix.is_empty());
    }

    #[test]
    fn an_index_of_many_pairs_finds_every_row() {
        let pairs: Vec<(i64, i64)> = (0..10_000).map(|i| (i * 7919 % 5_000, i)).collect();
        let mut ix = IdIndex::with_capacity(5_000);
        pairs.iter().for_each(|&(key, seq)| ix.insert(key, seq));
        assert_eq!(ix.len(), pairs.len());
        for (key, seq) in pairs {
            assert!(ix.rows(key).contains(&seq), "{key} {seq}");
        }
        assert!(ix.rows(5_000).is_empty());
    }
}
