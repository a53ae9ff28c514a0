//! Four-byte encodings of the store's wide per-record fields, with the rare values that do
//! not fit kept in a side column ("patched" columns, as Parquet and PFOR do).
//!
//! - Output values ([`pack_value`]): below 2³¹ sats (21.47 BTC) the value itself; round
//!   amounts `m × 10^e` with `m < 2²⁶` (50 BTC, 1,000 BTC, …) as mantissa and exponent;
//!   anything else as an index into `out_value_big.col` (u64).
//! - Tx version and lock time ([`pack_meta`]): version 1 or 2 with a lock time below 2³⁰
//!   (every block height, zero) in one word; anything else as an index into
//!   `tx_meta_big.col` (`[version as u32, lock_time]`).
//!
//! Every encoding is canonical (one packed word per value), so equal chains give equal
//! columns and equal store fingerprints.

/// Packed values at or above this are not plain sats.
const TAGGED: u32 = 0x8000_0000;
/// Packed values at or above this are indexes into the big-value column.
const BIG: u32 = 0xC000_0000;
/// Largest mantissa of a round amount, exclusive.
const MANTISSA_END: u64 = 1 << 26;
/// Most exceptions a packed column can index (values: 2³⁰; metas: 2³¹).
pub const MAX_BIG_VALUES: u64 = 1 << 30;
/// Most version/lock-time exceptions.
pub const MAX_BIG_METAS: u64 = 1 << 31;

const POW10: [u64; 16] = {
    let mut p = [1u64; 16];
    let mut i = 1;
    while i < 16 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// Packs `sats` in one word, or `None` when it needs a big-value entry (then the word is
/// [`big_value_word`] of that entry's index).
#[inline]
pub fn pack_value(sats: u64) -> Option<u32> {
    if sats < TAGGED as u64 {
        return Some(sats as u32);
    }
    // The largest exponent that leaves an integer mantissa below 2^26.
    let mut e = 15;
    while e > 0 {
        let p = POW10[e];
        if sats.is_multiple_of(p) && sats / p < MANTISSA_END {
            return Some(TAGGED | (e as u32) << 26 | (sats / p) as u32);
        }
        e -= 1;
    }
    None
}

/// The packed word that refers to big-value entry `index` (< [`MAX_BIG_VALUES`]).
#[inline]
pub fn big_value_word(index: u32) -> u32 {
    debug_assert!((index as u64) < MAX_BIG_VALUES);
    BIG | index
}

/// True if the packed word refers to a big-value entry.
#[inline]
pub fn is_big_value(word: u32) -> bool {
    word >= BIG
}

/// Unpacks a value word; `big` is the big-value column.
#[inline]
pub fn unpack_value(word: u32, big: &[u64]) -> u64 {
    if word < TAGGED {
        word as u64
    } else {
        unpack_tagged(word, big)
    }
}

#[cold]
fn unpack_tagged(word: u32, big: &[u64]) -> u64 {
    if word >= BIG {
        big[(word - BIG) as usize]
    } else {
        (word & 0x03FF_FFFF) as u64 * POW10[((word >> 26) & 0xF) as usize]
    }
}

/// Packs a tx's version and lock time in one word, or `None` when they need a big entry
/// (then the word is [`big_meta_word`] of that entry's index).
#[inline]
pub fn pack_meta(version: i32, lock_time: u32) -> Option<u32> {
    if lock_time >= 1 << 30 {
        return None;
    }
    match version {
        1 => Some(lock_time),
        2 => Some(1 << 30 | lock_time),
        _ => None,
    }
}

/// The packed word that refers to big meta entry `index` (< [`MAX_BIG_METAS`]).
#[inline]
pub fn big_meta_word(index: u32) -> u32 {
    debug_assert!((index as u64) < MAX_BIG_METAS);
    TAGGED | index
}

/// True if the packed word refers to a big meta entry.
#[inline]
pub fn is_big_meta(word: u32) -> bool {
    word >= TAGGED
}

/// The big-column record of a version and lock time.
#[inline]
pub fn meta_record(version: i32, lock_time: u32) -> [u32; 2] {
    [version as u32, lock_time]
}

/// Unpacks a meta word into `(version, lock_time)`; `big` is the big meta column.
#[inline]
pub fn unpack_meta(word: u32, big: &[[u32; 2]]) -> (i32, u32) {
    if word < TAGGED {
        (if word >= 1 << 30 { 2 } else { 1 }, word & 0x3FFF_FFFF)
    } else {
        let [v, l] = big[(word - TAGGED) as usize];
        (v as i32, l)
    }
}

/// Output values by `out_num`, read in place from the packed column and its big values.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    packed: &'a [u32],
    big: &'a [u64],
}

impl<'a> Values<'a> {
    /// A view over a packed column and its big-value column.
    pub fn new(packed: &'a [u32], big: &'a [u64]) -> Values<'a> {
        Values { packed, big }
    }

    /// The value of `out_num` in sats. Panics if out of range.
    #[inline]
    pub fn get(&self, out_num: u32) -> u64 {
        unpack_value(self.packed[out_num as usize], self.big)
    }

    /// The value of `out_num`, or `None` past the end.
    #[inline]
    pub fn try_get(&self, out_num: u32) -> Option<u64> {
        let w = *self.packed.get(out_num as usize)?;
        Some(unpack_value(w, self.big))
    }

    /// Number of outputs.
    #[inline]
    pub fn len(&self) -> usize {
        self.packed.len()
    }

    /// True if there are no outputs.
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// All values in `out_num` order, decoded a block of words at a time (a block of plain
    /// words, the common case, converts without a branch per value).
    pub fn iter(&self) -> ValuesIter<'a> {
        ValuesIter {
            words: self.packed,
            big: self.big,
            buf: [0; CHUNK],
            pos: 0,
            len: 0,
        }
    }

    /// Calls `f(first_out_num, values)` for consecutive blocks of up to 1,024 values: the
    /// fastest full scan (plain blocks convert without a branch per value, and `f` can run
    /// a tight loop over the block and the same range of other output columns).
    pub fn for_each_block(&self, mut f: impl FnMut(usize, &[u64])) {
        let mut buf = [0u64; 1024];
        for (i, words) in self.packed.chunks(buf.len()).enumerate() {
            let out = &mut buf[..words.len()];
            decode_block(words, self.big, out);
            f(i * 1024, out);
        }
    }
}

const CHUNK: usize = 32;

/// Decodes `words` into `out` (same length): a block of plain words, the common case,
/// converts without a branch per value.
#[inline]
fn decode_block(words: &[u32], big: &[u64], out: &mut [u64]) {
    if words.iter().fold(0, |acc, &w| acc | w) < TAGGED {
        for (b, &w) in out.iter_mut().zip(words) {
            *b = w as u64;
        }
    } else {
        for (b, &w) in out.iter_mut().zip(words) {
            *b = unpack_value(w, big);
        }
    }
}

/// Iterator over [`Values`], see [`Values::iter`].
pub struct ValuesIter<'a> {
    words: &'a [u32],
    big: &'a [u64],
    buf: [u64; CHUNK],
    pos: usize,
    len: usize,
}

impl ValuesIter<'_> {
    #[inline]
    fn refill(&mut self) {
        let n = self.words.len().min(CHUNK);
        let (chunk, rest) = self.words.split_at(n);
        decode_block(chunk, self.big, &mut self.buf[..n]);
        self.words = rest;
        self.pos = 0;
        self.len = n;
    }
}

impl Iterator for ValuesIter<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.pos == self.len {
            if self.words.is_empty() {
                return None;
            }
            self.refill();
        }
        let v = self.buf[self.pos];
        self.pos += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len - self.pos + self.words.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for ValuesIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(sats: u64, big: &mut Vec<u64>) -> u32 {
        let word = pack_value(sats).unwrap_or_else(|| {
            big.push(sats);
            big_value_word(big.len() as u32 - 1)
        });
        assert_eq!(unpack_value(word, big), sats, "{sats}");
        word
    }

    #[test]
    fn values_round_trip_in_every_encoding() {
        let mut big = Vec::new();
        let cases = [
            0,
            1,
            546,
            (1 << 31) - 1,
            1 << 31,
            50 * 100_000_000,
            25 * 100_000_000,
            1_250_000_000,
            21_000_000 * 100_000_000,
            2_099_999_997_690_000,
            u64::MAX,
            12_345_678_901,
            (MANTISSA_END - 1) * 1000,
            MANTISSA_END * 1000 + 1,
        ];
        for sats in cases {
            round_trip(sats, &mut big);
        }
        // Plain words below 2^31, round ones tagged, the rest big.
        assert_eq!(pack_value(546), Some(546));
        assert!(pack_value(50 * 100_000_000).unwrap() >= TAGGED);
        assert!(!is_big_value(pack_value(50 * 100_000_000).unwrap()));
        assert_eq!(pack_value(12_345_678_901), None);
        assert_eq!(pack_value(u64::MAX), None);
        assert_eq!(
            big,
            vec![
                1 << 31,
                2_099_999_997_690_000,
                u64::MAX,
                12_345_678_901,
                MANTISSA_END * 1000 + 1
            ]
        );
        // A pseudo-random sweep over the whole range, weighted to large values.
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let sats = x >> (x % 40);
            round_trip(sats, &mut big);
            round_trip(sats - sats % 1000, &mut big);
        }
    }

    #[test]
    fn round_encoding_is_canonical() {
        // 5e9 could be 5×10^9, 50×10^8, 500×10^7…: only the largest exponent is used.
        let w = pack_value(5_000_000_000).unwrap();
        assert_eq!((w >> 26) & 0xF, 9);
        assert_eq!(w & 0x03FF_FFFF, 5);
    }

    #[test]
    fn metas_round_trip() {
        let mut big = Vec::new();
        for (v, l) in [
            (1, 0),
            (2, 0),
            (2, 840_000),
            (1, (1 << 30) - 1),
            (2, 1 << 30),
            (1, 1_700_000_000),
            (3, 0),
            (-1, 5),
            (i32::MAX, u32::MAX),
        ] {
            let word = pack_meta(v, l).unwrap_or_else(|| {
                big.push(meta_record(v, l));
                big_meta_word(big.len() as u32 - 1)
            });
            assert_eq!(unpack_meta(word, &big), (v, l));
        }
        assert_eq!(big.len(), 5);
    }

    #[test]
    fn iter_decodes_plain_and_tagged_blocks() {
        let mut big = Vec::new();
        let sats: Vec<u64> = (0..1000u64)
            .map(|i| match i % 97 {
                0 => 99_999_999_999 + i,
                50 => 7_000_000_000,
                _ => i * 1000,
            })
            .collect();
        let packed: Vec<u32> = sats.iter().map(|&s| round_trip(s, &mut big)).collect();
        let v = Values::new(&packed, &big);
        assert_eq!(v.iter().len(), 1000);
        assert_eq!(v.iter().collect::<Vec<_>>(), sats);
        assert_eq!(Values::new(&packed[..5], &big).iter().count(), 5);
        let mut blocks = Vec::new();
        Values::new(&packed, &big).for_each_block(|start, vals| {
            assert_eq!(vals, &sats[start..start + vals.len()]);
            blocks.push(start);
        });
        assert_eq!(blocks, [0]);
        let many: Vec<u32> = (0..2500u32).collect();
        let mut seen = 0;
        Values::new(&many, &big).for_each_block(|start, vals| {
            assert_eq!(vals[0], start as u64);
            seen += vals.len();
        });
        assert_eq!(seen, 2500);
        assert_eq!(Values::new(&[], &big).iter().next(), None);
    }

    #[test]
    fn values_view() {
        let mut big = Vec::new();
        let sats = [7u64, 5_000_000_000, 99_999_999_999, 3];
        let packed: Vec<u32> = sats.iter().map(|&s| round_trip(s, &mut big)).collect();
        let v = Values::new(&packed, &big);
        assert_eq!(v.len(), 4);
        assert_eq!(v.get(2), 99_999_999_999);
        assert_eq!(v.iter().collect::<Vec<_>>(), sats);
        assert_eq!(
            v.iter().skip(1).take(2).sum::<u64>(),
            5_000_000_000 + 99_999_999_999
        );
    }
}
