//! Reading a node's `blocks/` directory: `blk*.dat` files of magic-and-size framed blocks,
//! optionally obfuscated with the 8-byte key in `xor.dat` (Bitcoin Core 28+).

use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Largest block record accepted (Bitcoin's limit is 4 MB; Litecoin MWEB blocks add more).
pub const MAX_BLOCK_SIZE: u32 = 32 * 1024 * 1024;

/// Where a block's bytes are: file number, offset of the block data (after the 8-byte frame), size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockLoc {
    /// The `N` of `blkN.dat`.
    pub file: u32,
    /// Byte offset of the first header byte.
    pub offset: u64,
    /// Size of the serialized block.
    pub size: u32,
}

/// A problem in the block files, with the file and byte offset where it was found.
#[derive(Debug, thiserror::Error)]
pub enum BlkError {
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The directory holds no `blk*.dat` file.
    #[error("{0}: no blk*.dat files")]
    NoFiles(PathBuf),
    /// `xor.dat` is not 8 bytes.
    #[error("{0}: xor.dat must be 8 bytes")]
    BadXorKey(PathBuf),
    /// A record does not start with the network magic.
    #[error("{path}: byte {offset}: wrong magic {found} (expected {expected}); is --chain right?")]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// The bytes found, hex.
        found: String,
        /// The network's magic, hex.
        expected: String,
    },
    /// A size field outside 80..=MAX_BLOCK_SIZE.
    #[error("{path}: byte {offset}: bad block size field {size}")]
    BadSize {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// The size read.
        size: u32,
    },
    /// The file ends inside a record.
    #[error("{path}: byte {offset}: file ends inside a block record ({needed} bytes needed, {left} left)")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// Bytes the record needs.
        needed: u64,
        /// Bytes left in the file.
        left: u64,
    },
}

impl BlkError {
    fn io(path: &Path, source: std::io::Error) -> BlkError {
        BlkError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The block files of one `blocks/` directory.
pub struct BlkFiles {
    dir: PathBuf,
    files: Vec<(u32, PathBuf, Mmap)>,
    xor: Option<[u8; 8]>,
}

impl BlkFiles {
    /// Lists and maps `blk*.dat` in `dir` (in file-number order) and reads `xor.dat` if present.
    pub fn open(dir: &Path) -> Result<BlkFiles, BlkError> {
        let entries = std::fs::read_dir(dir).map_err(|e| BlkError::io(dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| BlkError::io(dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(num) = name
                .strip_prefix("blk")
                .and_then(|n| n.strip_suffix(".dat"))
            {
                if let Ok(n) = num.parse::<u32>() {
                    names.push((n, entry.path()));
                }
            }
        }
        if names.is_empty() {
            return Err(BlkError::NoFiles(dir.to_path_buf()));
        }
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for (n, path) in names {
            let file = File::open(&path).map_err(|e| BlkError::io(&path, e))?;
            // SAFETY: the node only appends to blk files; we never read past the mapped length.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| BlkError::io(&path, e))?;
            files.push((n, path, map));
        }
        let xor_path = dir.join("xor.dat");
        let xor = match std::fs::read(&xor_path) {
            Ok(k) if k.len() == 8 => {
                let key: [u8; 8] = k.try_into().expect("8");
                (key != [0; 8]).then_some(key)
            }
            Ok(_) => return Err(BlkError::BadXorKey(xor_path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(BlkError::io(&xor_path, e)),
        };
        Ok(BlkFiles {
            dir: dir.to_path_buf(),
            files,
            xor,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Total bytes in all block files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.2.len() as u64).sum()
    }

    /// The path of file number `n`.
    pub fn path(&self, n: u32) -> Option<&Path> {
        self.files.iter().find(|f| f.0 == n).map(|f| f.1.as_path())
    }

    fn copy_out(&self, map: &[u8], offset: u64, out: &mut [u8]) {
        let start = offset as usize;
        out.copy_from_slice(&map[start..start + out.len()]);
        if let Some(key) = self.xor {
            for (i, b) in out.iter_mut().enumerate() {
                *b ^= key[(start + i) % 8];
            }
        }
    }

    /// Walks every record of every file in order, calling `on_block` with its location and
    /// 80-byte header. Zero bytes at a file's end (the node's preallocation) end that file.
    /// Stops at the first bad record and returns its error; blocks before it were reported.
    pub fn scan(
        &self,
        magic: [u8; 4],
        mut on_block: impl FnMut(BlockLoc, &[u8; 80]),
    ) -> Result<(), BlkError> {
        for (n, path, map) in &self.files {
            let len = map.len() as u64;
            let mut pos = 0u64;
            while pos < len {
                let left = len - pos;
                let mut frame = [0u8; 8];
                let frame_len = left.min(8) as usize;
                self.copy_out(map, pos, &mut frame[..frame_len]);
                if frame[..4.min(frame_len)].iter().all(|&b| b == 0) {
                    let mut rest = vec![0u8; left as usize];
                    self.copy_out(map, pos, &mut rest);
                    if rest.iter().all(|&b| b == 0) {
                        break; // preallocated zero padding
                    }
                }
                if frame_len < 8 {
                    return Err(BlkError::Truncated {
                        path: path.clone(),
                        offset: pos,
                        needed: 8,
                        left,
                    });
                }
                if frame[..4] != magic {
                    return Err(BlkError::WrongMagic {
                        path: path.clone(),
                        offset: pos,
                        found: hex::encode(&frame[..4]),
                        expected: hex::encode(magic),
                    });
                }
                let size = u32::from_le_bytes(frame[4..8].try_into().expect("4"));
                if !(80..=MAX_BLOCK_SIZE).contains(&size) {
                    return Err(BlkError::BadSize {
                        path: path.clone(),
                        offset: pos,
                        size,
                    });
                }
                if left < 8 + size as u64 {
                    return Err(BlkError::Truncated {
                        path: path.clone(),
                        offset: pos,
                        needed: 8 + size as u64,
                        left,
                    });
                }
                let mut header = [0u8; 80];
                self.copy_out(map, pos + 8, &mut header);
                on_block(
                    BlockLoc {
                        file: *n,
                        offset: pos + 8,
                        size,
                    },
                    &header,
                );
                pos += 8 + size as u64;
            }
        }
        Ok(())
    }

    /// Copies a block's bytes (de-obfuscated) into `buf`.
    pub fn read<'a>(&self, loc: BlockLoc, buf: &'a mut Vec<u8>) -> &'a [u8] {
        let map = &self
            .files
            .iter()
            .find(|f| f.0 == loc.file)
            .expect("loc from scan")
            .2;
        buf.resize(loc.size as usize, 0);
        self.copy_out(map, loc.offset, buf);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_records(
        dir: &Path,
        magic: [u8; 4],
        blocks: &[Vec<u8>],
        xor: Option<[u8; 8]>,
        pad: usize,
    ) {
        let mut data = Vec::new();
        for b in blocks {
            data.extend_from_slice(&magic);
            data.extend_from_slice(&(b.len() as u32).to_le_bytes());
            data.extend_from_slice(b);
        }
        data.extend(std::iter::repeat_n(0u8, pad));
        if let Some(key) = xor {
            for (i, b) in data.iter_mut().enumerate() {
                *b ^= key[i % 8];
            }
            std::fs::write(dir.join("xor.dat"), key).unwrap();
        }
        std::fs::write(dir.join("blk00000.dat"), data).unwrap();
    }

    fn fake_block(tag: u8) -> Vec<u8> {
        let mut b = vec![tag; 80];
        b.push(0);
        b
    }

    #[test]
    fn reads_plain_and_xored_files_with_padding() {
        for xor in [None, Some([1, 2, 3, 4, 5, 6, 7, 0x99])] {
            let dir = tempfile::tempdir().unwrap();
            let magic = [0xfa, 0xbf, 0xb5, 0xda];
            write_records(
                dir.path(),
                magic,
                &[fake_block(7), fake_block(9)],
                xor,
                1000,
            );
            let files = BlkFiles::open(dir.path()).unwrap();
            let mut seen = Vec::new();
            files.scan(magic, |loc, h| seen.push((loc, h[0]))).unwrap();
            assert_eq!(seen.len(), 2);
            assert_eq!(seen[0].1, 7);
            assert_eq!(seen[1].1, 9);
            assert_eq!(seen[1].0.offset, 8 + 81 + 8);
            let mut buf = Vec::new();
            assert_eq!(files.read(seen[1].0, &mut buf), fake_block(9).as_slice());
        }
    }

    #[test]
    fn bad_records_name_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let magic = [0xfa, 0xbf, 0xb5, 0xda];
        write_records(dir.path(), magic, &[fake_block(1)], None, 0);
        let files = BlkFiles::open(dir.path()).unwrap();
        let e = files.scan([0xf9, 0xbe, 0xb4, 0xd9], |_, _| {}).unwrap_err();
        assert!(matches!(e, BlkError::WrongMagic { offset: 0, .. }), "{e}");
        assert!(e.to_string().contains("blk00000.dat"));

        // Truncate the file inside the record.
        let path = dir.path().join("blk00000.dat");
        let data = std::fs::read(&path).unwrap();
        std::fs::write(&path, &data[..50]).unwrap();
        let files = BlkFiles::open(dir.path()).unwrap();
        let e = files.scan(magic, |_, _| {}).unwrap_err();
        assert!(matches!(e, BlkError::Truncated { offset: 0, .. }), "{e}");

        // A size field that cannot be a block.
        let mut bad = data.clone();
        bad[4..8].copy_from_slice(&5u32.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        let files = BlkFiles::open(dir.path()).unwrap();
        let e = files.scan(magic, |_, _| {}).unwrap_err();
        assert!(matches!(e, BlkError::BadSize { size: 5, .. }), "{e}");
    }
}
