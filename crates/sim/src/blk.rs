//! Writing `blocks/blk?????.dat` the way Bitcoin Core does: records of network magic,
//! little-endian size and the serialized block; a new file when the next record would
//! reach 128 MiB; optional XOR obfuscation with the 8-byte key of `blocks/xor.dat`
//! (Bitcoin Core 28+), keyed by the offset within each file; optional out-of-order
//! writing within windows of consecutive heights.

use crate::rng::Rng;
use crate::SimError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

/// Bitcoin Core's `MAX_BLOCKFILE_SIZE`.
pub const MAX_BLOCKFILE_SIZE: u64 = 0x800_0000;

/// Appends records to numbered blk files.
pub struct BlkWriter {
    dir: PathBuf,
    magic: [u8; 4],
    xor: Option<[u8; 8]>,
    file_no: u32,
    file: Option<BufWriter<File>>,
    path: PathBuf,
    pos: u64,
    total: u64,
    scratch: Vec<u8>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BlkWriter {
    /// Prepares `dir` (created if missing; old `blk*.dat` and `xor.dat` removed) and writes
    /// `xor.dat` when obfuscating.
    pub fn new(dir: &Path, magic: [u8; 4], xor: Option<[u8; 8]>) -> Result<BlkWriter, SimError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
        for e in entries {
            let e = e.map_err(io_err(dir))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if (name.starts_with("blk") && name.ends_with(".dat")) || name == "xor.dat" {
                std::fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
            }
        }
        if let Some(key) = xor {
            let p = dir.join("xor.dat");
            std::fs::write(&p, key).map_err(io_err(&p))?;
        }
        Ok(BlkWriter {
            dir: dir.to_path_buf(),
            magic,
            xor,
            file_no: 0,
            file: None,
            path: PathBuf::new(),
            pos: 0,
            total: 0,
            scratch: Vec::new(),
        })
    }

    fn open(&mut self) -> Result<(), SimError> {
        self.path = self.dir.join(format!("blk{:05}.dat", self.file_no));
        let f = File::create(&self.path).map_err(io_err(&self.path))?;
        self.file = Some(BufWriter::with_capacity(1 << 20, f));
        self.pos = 0;
        Ok(())
    }

    fn close(&mut self) -> Result<(), SimError> {
        if let Some(mut f) = self.file.take() {
            f.flush().map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    /// Writes one block record.
    pub fn write_block(&mut self, block: &[u8]) -> Result<(), SimError> {
        let rec = block.len() as u64 + 8;
        if self.file.is_some() && self.pos + rec >= MAX_BLOCKFILE_SIZE {
            self.close()?;
            self.file_no += 1;
        }
        if self.file.is_none() {
            self.open()?;
        }
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&self.magic);
        head[4..].copy_from_slice(&(block.len() as u32).to_le_bytes());
        let f = self.file.as_mut().expect("open");
        match self.xor {
            None => {
                f.write_all(&head).map_err(io_err(&self.path))?;
                f.write_all(block).map_err(io_err(&self.path))?;
            }
            Some(key) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(&head);
                self.scratch.extend_from_slice(block);
                let start = (self.pos % 8) as usize;
                for (i, b) in self.scratch.iter_mut().enumerate() {
                    *b ^= key[(start + i) & 7];
                }
                f.write_all(&self.scratch).map_err(io_err(&self.path))?;
            }
        }
        self.pos += rec;
        self.total += rec;
        Ok(())
    }

    /// Flushes and returns the number of bytes written over all files.
    pub fn finish(mut self) -> Result<u64, SimError> {
        self.close()?;
        Ok(self.total)
    }
}

/// Buffers blocks of a window of heights and writes them in a shuffled order.
pub struct Layout {
    writer: BlkWriter,
    window: u32,
    pending: Vec<Vec<u8>>,
    main_in_window: u32,
    rng: Rng,
    recycle: Option<Sender<Vec<u8>>>,
}

impl Layout {
    /// Writes through `writer`, permuting within windows of `window` main-chain heights
    /// (0 or 1: in order). Written buffers are sent back through `recycle`.
    pub fn new(
        writer: BlkWriter,
        window: u32,
        rng: Rng,
        recycle: Option<Sender<Vec<u8>>>,
    ) -> Layout {
        Layout {
            writer,
            window,
            pending: Vec::new(),
            main_in_window: 0,
            rng,
            recycle,
        }
    }

    fn written(&mut self, b: Vec<u8>) {
        if let Some(r) = &self.recycle {
            let _ = r.send(b);
        }
    }

    /// Queues a block; `main` is true for main-chain blocks (which count towards the window).
    pub fn push(&mut self, block: Vec<u8>, main: bool) -> Result<(), SimError> {
        if self.window <= 1 {
            self.writer.write_block(&block)?;
            self.written(block);
            return Ok(());
        }
        self.pending.push(block);
        if main {
            self.main_in_window += 1;
            if self.main_in_window >= self.window {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SimError> {
        let mut blocks = std::mem::take(&mut self.pending);
        self.rng.shuffle(&mut blocks);
        for b in blocks {
            self.writer.write_block(&b)?;
            self.written(b);
        }
        self.main_in_window = 0;
        Ok(())
    }

    /// Writes whatever is buffered and closes the files; returns the bytes written.
    pub fn finish(mut self) -> Result<u64, SimError> {
        self.flush()?;
        self.writer.finish()
    }
}

/// A [`Layout`] running on its own thread, so that file I/O overlaps block generation.
pub struct Sink {
    tx: Option<SyncSender<(Vec<u8>, bool)>>,
    spare: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<Result<u64, SimError>>>,
}

impl Sink {
    /// Starts the writer thread.
    pub fn spawn(writer: BlkWriter, window: u32, rng: Rng) -> Sink {
        let (tx, rx) = sync_channel::<(Vec<u8>, bool)>(8);
        let (spare_tx, spare) = channel();
        let thread = std::thread::spawn(move || {
            let mut layout = Layout::new(writer, window, rng, Some(spare_tx));
            for (block, main) in rx {
                layout.push(block, main)?;
            }
            layout.finish()
        });
        Sink {
            tx: Some(tx),
            spare,
            thread: Some(thread),
        }
    }

    /// An empty buffer to serialize the next block into (recycled when possible).
    pub fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.spare.try_recv().unwrap_or_default();
        b.clear();
        b
    }

    /// Queues a block for writing.
    pub fn push(&mut self, block: Vec<u8>, main: bool) -> Result<(), SimError> {
        let sent = self.tx.as_ref().expect("open").send((block, main));
        if sent.is_err() {
            // The writer stopped: it has an error to report.
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| SimError::BadConfig("block writer stopped".into())));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<u64, SimError> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t.join().expect("writer thread panicked"),
            None => Err(SimError::BadConfig("block writer already finished".into())),
        }
    }

    /// Flushes everything and returns the number of bytes written.
    pub fn finish(mut self) -> Result<u64, SimError> {
        self.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_is_keyed_by_file_offset_and_files_roll_over() {
        let dir = tempfile::tempdir().unwrap();
        let key = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut w = BlkWriter::new(dir.path(), [0xfa, 0xbf, 0xb5, 0xda], Some(key)).unwrap();
        let a = vec![0u8; 13];
        let b = vec![0xffu8; 21];
        w.write_block(&a).unwrap();
        w.write_block(&b).unwrap();
        assert_eq!(w.finish().unwrap(), 13 + 21 + 16);
        assert_eq!(std::fs::read(dir.path().join("xor.dat")).unwrap(), key);
        let raw = std::fs::read(dir.path().join("blk00000.dat")).unwrap();
        let plain: Vec<u8> = raw
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 8])
            .collect();
        assert_eq!(&plain[..4], &[0xfa, 0xbf, 0xb5, 0xda]);
        assert_eq!(&plain[4..8], &13u32.to_le_bytes());
        assert_eq!(&plain[8..21], &a[..]);
        assert_eq!(&plain[21..25], &[0xfa, 0xbf, 0xb5, 0xda]);
        assert_eq!(&plain[29..], &b[..]);

        // Roll-over: a record that would reach 128 MiB goes to the next file, whose
        // obfuscation starts again at key[0].
        let mut w = BlkWriter::new(dir.path(), [9; 4], None).unwrap();
        assert!(!dir.path().join("xor.dat").exists(), "old xor.dat removed");
        let big = vec![7u8; (MAX_BLOCKFILE_SIZE / 2) as usize];
        w.write_block(&big).unwrap();
        w.write_block(&big).unwrap(); // 2 * (size + 8) > max
        w.write_block(&a).unwrap();
        w.finish().unwrap();
        let mut w = BlkWriter::new(dir.path(), [9; 4], Some(key)).unwrap();
        w.write_block(&big[..1001]).unwrap();
        w.pos = MAX_BLOCKFILE_SIZE - 20; // pretend the first file is nearly full
        w.write_block(&a).unwrap();
        w.finish().unwrap();
        let f1 = std::fs::read(dir.path().join("blk00001.dat")).unwrap();
        let plain: Vec<u8> = f1.iter().enumerate().map(|(i, b)| b ^ key[i % 8]).collect();
        assert_eq!(&plain[..4], &[9; 4]);
        assert_eq!(&plain[8..], &a[..]);
        let mut w = BlkWriter::new(dir.path(), [9; 4], None).unwrap();
        w.write_block(&big).unwrap();
        w.write_block(&big).unwrap();
        w.write_block(&a).unwrap();
        w.finish().unwrap();
        let l0 = std::fs::metadata(dir.path().join("blk00000.dat"))
            .unwrap()
            .len();
        let l1 = std::fs::metadata(dir.path().join("blk00001.dat"))
            .unwrap()
            .len();
        assert_eq!(l0, MAX_BLOCKFILE_SIZE / 2 + 8);
        assert_eq!(l1, MAX_BLOCKFILE_SIZE / 2 + 8 + 13 + 8);
    }
}
