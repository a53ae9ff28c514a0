//! Any bytes as a blk file: the scanner reports records or an error naming an offset, never
//! panics, and every reported record lies inside the file.
#![no_main]
use chainwatch_chain::blkfile::BlkFiles;
use chainwatch_types::Chain;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("cw-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("blk00000.dat"), data).expect("write");
    let files = BlkFiles::open(&dir).expect("one file");
    let _ = files.scan(Chain::BitcoinRegtest.magic(), |loc, _| {
        assert!(loc.offset + loc.size as u64 <= data.len() as u64);
    });
});
