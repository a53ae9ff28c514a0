//! A memory-mapped open-addressing hash table from 64-bit key hashes to dense ids.
//!
//! Slots hold `id + 1` (0 = empty); the keys themselves stay in their column, so a lookup
//! confirms a candidate id by comparing the full key there. Linear probing from the home
//! slot `⌊h·n / 2⁶⁴⌋` (any slot count `n`, not only powers of two): the table doubles when
//! 70% full while appending, and [`HashIndex::clear_fitted`] sizes a rebuild to 70%.
//! Derived data: after a crash or a rollback it is rebuilt from the columns.

use memmap2::{Mmap, MmapMut, MmapOptions};
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

/// The on-disk hash index.
pub struct HashIndex {
    path: PathBuf,
    map: Option<MmapMut>,
    ro: Option<Mmap>,
    /// Number of slots.
    n: usize,
    count: usize,
}

/// Hints the CPU to load `items[i]` into cache; nothing if `i` is out of range.
#[inline]
pub fn prefetch<T>(items: &[T], i: usize) {
    if let Some(x) = items.get(i) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetch has no observable effect; the pointer is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                x as *const T as *const i8,
            )
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = x;
    }
}

/// Largest share of occupied slots, in tenths.
const MAX_LOAD_TENTHS: usize = 7;

/// The home slot of hash `h` in a table of `n` slots.
#[inline]
fn home(h: u64, n: usize) -> usize {
    ((h as u128 * n as u128) >> 64) as usize
}

/// The slot after `i` in a table of `n` slots.
#[inline]
fn next(i: usize, n: usize) -> usize {
    if i + 1 == n {
        0
    } else {
        i + 1
    }
}

const MIN_SLOTS: usize = 1 << 12;

impl HashIndex {
    /// Opens the index file, or creates an empty one.
    pub fn open(path: &Path) -> io::Result<HashIndex> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut slots = file.metadata()?.len() as usize / 4;
        if slots < MIN_SLOTS {
            slots = MIN_SLOTS;
            file.set_len(0)?;
            file.set_len((slots * 4) as u64)?;
        }
        // SAFETY: one writer per store (lock file); the file is not resized while mapped.
        let map = unsafe { MmapOptions::new().len(slots * 4).map_mut(&file)? };
        let count = bytemuck::cast_slice::<u8, u32>(&map)
            .iter()
            .filter(|&&s| s != 0)
            .count();
        Ok(HashIndex {
            path: path.to_path_buf(),
            map: Some(map),
            ro: None,
            n: slots,
            count,
        })
    }

    /// Opens an existing index for look-ups only.
    pub fn open_read(path: &Path) -> io::Result<HashIndex> {
        let file = std::fs::File::open(path)?;
        let slots = file.metadata()?.len() as usize / 4;
        if slots < MIN_SLOTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not an index", path.display()),
            ));
        }
        // SAFETY: writers replace the file by rename when resizing, never truncate it in place.
        let ro = unsafe { MmapOptions::new().len(slots * 4).map(&file)? };
        Ok(HashIndex {
            path: path.to_path_buf(),
            map: None,
            ro: Some(ro),
            n: slots,
            count: 0,
        })
    }

    fn slots(&self) -> &[u32] {
        match (&self.map, &self.ro) {
            (Some(m), _) => bytemuck::cast_slice(&m[..]),
            (None, Some(m)) => bytemuck::cast_slice(&m[..]),
            _ => &[],
        }
    }

    fn slots_mut(&mut self) -> &mut [u32] {
        self.map
            .as_mut()
            .map(|m| bytemuck::cast_slice_mut(&mut m[..]))
            .unwrap_or(&mut [])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the file in bytes.
    pub fn bytes(&self) -> u64 {
        (self.slots().len() * 4) as u64
    }

    /// Hints the CPU to load the slot for hash `h` (ingest prefetches a whole block's slots).
    #[inline]
    pub fn prefetch(&self, h: u64) {
        prefetch(self.slots(), home(h, self.n));
    }

    /// The id in `h`'s home slot, if any: a candidate whose key to prefetch before the
    /// real look-up (not checked against the key).
    #[inline]
    pub fn candidate(&self, h: u64) -> Option<u32> {
        match self.slots().get(home(h, self.n)) {
            Some(&s) if s != 0 => Some(s - 1),
            _ => None,
        }
    }

    /// Finds the id whose key hashes to `h` and satisfies `is_key`.
    #[inline]
    pub fn get(&self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let slots = self.slots();
        let n = self.n;
        let mut i = home(h, n);
        loop {
            let s = slots[i];
            if s == 0 {
                return None;
            }
            if is_key(s - 1) {
                return Some(s - 1);
            }
            i = next(i, n);
        }
    }

    /// Inserts `id` under hash `h`; an existing entry for the same key (per `is_key`) is
    /// replaced, so the newest id wins (Bitcoin's duplicate coinbase txids behave so).
    /// `rehash` gives the hash of any stored id, for growing the table.
    pub fn insert(
        &mut self,
        h: u64,
        id: u32,
        mut is_key: impl FnMut(u32) -> bool,
        rehash: impl Fn(u32) -> u64,
    ) -> io::Result<()> {
        if (self.count + 1) * 10 > self.n * MAX_LOAD_TENTHS {
            self.resize(self.n * 2, &rehash)?;
        }
        let n = self.n;
        let slots = self.slots_mut();
        let mut i = home(h, n);
        loop {
            let s = slots[i];
            if s == 0 {
                slots[i] = id + 1;
                self.count += 1;
                return Ok(());
            }
            if is_key(s - 1) {
                slots[i] = id + 1;
                return Ok(());
            }
            i = next(i, n);
        }
    }

    /// True if `id` is stored under hash `h`.
    pub fn contains_id(&self, h: u64, id: u32) -> bool {
        self.find(h, id).is_some()
    }

    fn find(&self, h: u64, id: u32) -> Option<usize> {
        let slots = self.slots();
        if slots.is_empty() {
            return None;
        }
        let n = self.n;
        let mut i = home(h, n);
        loop {
            match slots[i] {
                0 => return None,
                s if s == id + 1 => return Some(i),
                _ => i = next(i, n),
            }
        }
    }

    /// Removes `id`, stored under hash `h`, and moves later entries of its probe run back
    /// so that every remaining entry stays reachable (backward-shift deletion); `rehash`
    /// gives the hash of any stored id. Returns false if `id` is not there.
    pub fn remove(&mut self, h: u64, id: u32, rehash: impl Fn(u32) -> u64) -> bool {
        let Some(mut hole) = self.find(h, id) else {
            return false;
        };
        let n = self.n;
        let slots = self.slots_mut();
        slots[hole] = 0;
        let mut j = hole;
        loop {
            j = next(j, n);
            let s = slots[j];
            if s == 0 {
                break;
            }
            let home = home(rehash(s - 1), n);
            // The entry at `j` may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                slots[hole] = s;
                slots[j] = 0;
                hole = j;
            }
        }
        self.count -= 1;
        true
    }

    fn resize(&mut self, new_slots: usize, rehash: &impl Fn(u32) -> u64) -> io::Result<()> {
        let old: Vec<u32> = self.slots().iter().copied().filter(|&s| s != 0).collect();
        self.reset(new_slots)?;
        let n = self.n;
        let slots = self.slots_mut();
        for s in old {
            let mut i = home(rehash(s - 1), n);
            while slots[i] != 0 {
                i = next(i, n);
            }
            slots[i] = s;
        }
        self.count = slots.iter().filter(|&&s| s != 0).count();
        Ok(())
    }

    /// Empties the table and sizes it for about `expected` entries.
    pub fn clear(&mut self, expected: usize) -> io::Result<()> {
        self.reset((expected * 2).max(MIN_SLOTS))
    }

    /// The slot count that holds `entries` at the largest load.
    fn fitted_slots(entries: usize) -> usize {
        (entries * 10).div_ceil(MAX_LOAD_TENTHS).max(MIN_SLOTS)
    }

    /// True if the table is writable and more than a tenth larger than its entries need
    /// at the largest load (a table left by doubling is 35–70% full).
    pub fn can_shrink(&self) -> bool {
        self.map.is_some() && Self::fitted_slots(self.count) * 10 < self.n * 9
    }

    /// Empties the table and sizes it to hold exactly `expected` entries at the largest
    /// load (the size at rest; the next insert past it doubles the table).
    pub fn clear_fitted(&mut self, expected: usize) -> io::Result<()> {
        self.reset(Self::fitted_slots(expected))
    }

    fn reset(&mut self, slots: usize) -> io::Result<()> {
        // A new file renamed over the old one: readers that mapped the old file keep a valid
        // (if stale) mapping instead of a truncated one.
        self.map = None;
        let tmp = self.path.with_extension("idx.tmp");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.set_len((slots * 4) as u64)?;
        std::fs::rename(&tmp, &self.path)?;
        // SAFETY: as in `open`.
        self.map = Some(unsafe { MmapOptions::new().len(slots * 4).map_mut(&file)? });
        self.n = slots;
        self.count = 0;
        Ok(())
    }

    /// Writes dirty pages to disk.
    pub fn flush(&self) -> io::Result<()> {
        if let Some(m) = &self.map {
            m.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_grow_replace() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<u64> = (0..50_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 3))
            .collect();
        let mut idx = HashIndex::open(&dir.path().join("i.idx")).unwrap();
        for (id, k) in keys.iter().enumerate() {
            let id = id as u32;
            idx.insert(*k, id, |j| keys[j as usize] == *k, |j| keys[j as usize])
                .unwrap();
        }
        assert_eq!(idx.len(), keys.len());
        for (id, k) in keys.iter().enumerate() {
            assert_eq!(idx.get(*k, |j| keys[j as usize] == *k), Some(id as u32));
        }
        assert_eq!(idx.get(12345, |_| false), None);
        // Same key again: the newest id replaces the old one.
        let k = keys[7];
        idx.insert(k, 49_999, |j| keys[j as usize] == k, |j| keys[j as usize])
            .unwrap();
        assert_eq!(idx.len(), keys.len());
        drop(idx);
        let idx = HashIndex::open(&dir.path().join("i.idx")).unwrap();
        assert_eq!(idx.len(), keys.len());
    }

    #[test]
    fn removal_keeps_every_other_entry_reachable() {
        let dir = tempfile::tempdir().unwrap();
        // Few distinct home slots, so that probe runs are long and wrap around the end.
        // Hashes whose home slots are `(i % 97) * 41 + MIN_SLOTS - 60` modulo the slot count.
        let n = MIN_SLOTS as u128;
        let keys: Vec<u64> = (0..2_800u128)
            .map(|i| ((i % 97) * 41 + n - 60) % n)
            .map(|t| (t << 64).div_ceil(n) as u64)
            .collect();
        assert_eq!(home(keys[0], MIN_SLOTS), MIN_SLOTS - 60);
        let mut idx = HashIndex::open(&dir.path().join("i.idx")).unwrap();
        for (id, k) in keys.iter().enumerate() {
            // Distinct ids under colliding hashes: no id is another's key.
            idx.insert(*k, id as u32, |j| j == id as u32, |j| keys[j as usize])
                .unwrap();
        }
        assert_eq!(idx.len(), keys.len());
        let mut present = vec![true; keys.len()];
        // Remove every third id, then the newest half, checking all others each round.
        let order: Vec<usize> = (0..keys.len())
            .step_by(3)
            .chain((keys.len() / 2..keys.len()).rev())
            .collect();
        for (n, &id) in order.iter().enumerate() {
            let removed = idx.remove(keys[id], id as u32, |j| keys[j as usize]);
            assert_eq!(removed, present[id], "{id}");
            present[id] = false;
            if n % 97 == 0 || n == order.len() - 1 {
                for (j, k) in keys.iter().enumerate() {
                    let found = idx.get(*k, |x| x == j as u32);
                    assert_eq!(found.is_some(), present[j], "id {j} after {n} removals");
                }
            }
        }
        assert_eq!(idx.len(), present.iter().filter(|&&p| p).count());
        assert!(!idx.remove(keys[0], 0, |j| keys[j as usize]));
    }

    #[test]
    fn fitted_table_keeps_every_entry_reopens_and_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.idx");
        let keys: Vec<u64> = (0..30_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
            .collect();
        let mut idx = HashIndex::open(&path).unwrap();
        idx.clear(200_000).unwrap();
        for (id, k) in keys.iter().enumerate() {
            idx.insert(*k, id as u32, |_| false, |j| keys[j as usize])
                .unwrap();
        }
        assert!(idx.can_shrink());
        idx.clear_fitted(keys.len()).unwrap();
        for (id, k) in keys.iter().enumerate() {
            idx.insert(*k, id as u32, |_| false, |j| keys[j as usize])
                .unwrap();
        }
        assert!(!idx.can_shrink());
        let slots = idx.bytes() as usize / 4;
        assert_eq!(slots, (30_000 * 10usize).div_ceil(7));
        drop(idx);
        for idx in [
            HashIndex::open(&path).unwrap(),
            HashIndex::open_read(&path).unwrap(),
        ] {
            assert_eq!(idx.bytes() as usize / 4, slots);
            for (id, k) in keys.iter().enumerate() {
                assert_eq!(idx.get(*k, |j| j == id as u32), Some(id as u32));
            }
        }
        // Full: the next insert doubles the table.
        let mut idx = HashIndex::open(&path).unwrap();
        assert_eq!(idx.len(), keys.len());
        idx.insert(
            7,
            30_000,
            |_| false,
            |j| keys.get(j as usize).copied().unwrap_or(7),
        )
        .unwrap();
        assert_eq!(idx.bytes() as usize / 4, slots * 2);
    }
}
