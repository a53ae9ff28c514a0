//! Append-only columns of fixed-width little-endian records, memory-mapped.
//!
//! A column's logical length lives in the store's commit record, not in the file: the file
//! may be longer (capacity reserved ahead, or records written after the last commit), and
//! everything past the committed length is ignored and overwritten on the next append.

use bytemuck::Pod;
use memmap2::{Mmap, MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

enum Map {
    None,
    Ro(Mmap),
    Rw(MmapMut),
}

/// One column file.
pub struct Column<T: Pod> {
    path: PathBuf,
    file: File,
    map: Map,
    len: usize,
    cap: usize,
    writable: bool,
    _t: PhantomData<T>,
}

const MIN_RESERVE_BYTES: usize = 1 << 20;

impl<T: Pod> Column<T> {
    /// Opens (creating when `writable`) a column whose committed length is `len` records.
    pub fn open(path: &Path, len: usize, writable: bool) -> io::Result<Column<T>> {
        let file = if writable {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?
        } else {
            File::open(path)?
        };
        let size = std::mem::size_of::<T>();
        let file_len = file.metadata()?.len() as usize;
        if file_len < len * size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: {} bytes, commit record needs {}",
                    path.display(),
                    file_len,
                    len * size
                ),
            ));
        }
        let cap = file_len / size;
        let mut col = Column {
            path: path.to_path_buf(),
            file,
            map: Map::None,
            len,
            cap,
            writable,
            _t: PhantomData,
        };
        col.remap()?;
        Ok(col)
    }

    fn remap(&mut self) -> io::Result<()> {
        let bytes = self.cap * std::mem::size_of::<T>();
        self.map = Map::None;
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: the store's lock file gives one writer per store; readers only read the
        // committed prefix, which writers never modify except through documented updates
        // (the spender column) that are word-sized.
        self.map = if self.writable {
            Map::Rw(unsafe { MmapOptions::new().len(bytes).map_mut(&self.file)? })
        } else {
            Map::Ro(unsafe { MmapOptions::new().len(bytes).map(&self.file)? })
        };
        Ok(())
    }

    /// Number of committed-or-appended records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the column has no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the records (not of reserved capacity).
    pub fn bytes(&self) -> u64 {
        (self.len * std::mem::size_of::<T>()) as u64
    }

    fn all(&self) -> &[T] {
        match &self.map {
            Map::None => &[],
            Map::Ro(m) => bytemuck::cast_slice(&m[..]),
            Map::Rw(m) => bytemuck::cast_slice(&m[..]),
        }
    }

    /// The records, read in place.
    pub fn as_slice(&self) -> &[T] {
        &self.all()[..self.len]
    }

    /// Mutable records (writer only).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        let len = self.len;
        match &mut self.map {
            Map::Rw(m) => &mut bytemuck::cast_slice_mut(&mut m[..])[..len],
            _ => &mut [],
        }
    }

    /// Appends a record, growing the file (doubling) when needed.
    pub fn push(&mut self, v: T) -> io::Result<()> {
        if self.len == self.cap {
            self.grow(self.len + 1)?;
        }
        let len = self.len;
        match &mut self.map {
            Map::Rw(m) => bytemuck::cast_slice_mut::<u8, T>(&mut m[..])[len] = v,
            _ => return Err(io::Error::other("column opened read-only")),
        }
        self.len += 1;
        Ok(())
    }

    /// Appends `n` copies of a record.
    pub fn push_n(&mut self, v: T, n: usize) -> io::Result<()> {
        if self.len + n > self.cap {
            self.grow(self.len + n)?;
        }
        let (start, end) = (self.len, self.len + n);
        match &mut self.map {
            Map::Rw(m) => bytemuck::cast_slice_mut::<u8, T>(&mut m[..])[start..end].fill(v),
            _ => return Err(io::Error::other("column opened read-only")),
        }
        self.len = end;
        Ok(())
    }

    fn grow(&mut self, need: usize) -> io::Result<()> {
        let size = std::mem::size_of::<T>();
        let min = MIN_RESERVE_BYTES / size;
        let cap = need.max(self.cap * 2).max(min);
        self.file.set_len((cap * size) as u64)?;
        self.cap = cap;
        self.remap()
    }

    /// Drops records past `len`.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Writes dirty pages to disk (msync).
    pub fn flush(&self) -> io::Result<()> {
        if let Map::Rw(m) = &self.map {
            m.flush()?;
        }
        Ok(())
    }

    /// Shrinks the file to the records (drops reserved capacity); used on a clean close.
    pub fn compact(&mut self) -> io::Result<()> {
        if !self.writable || self.cap == self.len {
            return Ok(());
        }
        self.flush()?;
        self.map = Map::None;
        self.file.set_len(self.bytes())?;
        self.file.sync_all()?;
        self.cap = self.len;
        self.remap()
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_reopen_and_ignore_uncommitted_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.col");
        let mut c: Column<u64> = Column::open(&p, 0, true).unwrap();
        for i in 0..300_000u64 {
            c.push(i * 3).unwrap();
        }
        c.flush().unwrap();
        drop(c);
        // Reopen with a shorter committed length: the tail is invisible.
        let c: Column<u64> = Column::open(&p, 1000, false).unwrap();
        assert_eq!(c.len(), 1000);
        assert_eq!(c.as_slice()[999], 2997);
        let mut w: Column<u64> = Column::open(&p, 1000, true).unwrap();
        w.push(7).unwrap();
        w.push_n(9, 3).unwrap();
        assert_eq!(w.as_slice()[999..], [2997, 7, 9, 9, 9]);
        w.compact().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 1004 * 8);
        assert!(Column::<u64>::open(&p, 2000, false).is_err());
    }
}
