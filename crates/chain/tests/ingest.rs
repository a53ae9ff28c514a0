//! End-to-end: hand-built chains written as blk files, ingested, resumed, reorged, crashed.

use chainwatch_chain::ingest::{ingest, IngestError, IngestOptions};
use chainwatch_chain::store::{Store, NONE};
use chainwatch_chain::tx::write_varint;
use chainwatch_chain::{merkle_root, to_hex, Block, BlockHeader, OutPoint, Tx, TxIn, TxOut};
use chainwatch_types::{AddrKey, Chain};
use std::path::Path;

const CHAIN: Chain = Chain::BitcoinRegtest;

fn p2wpkh(n: u32) -> Vec<u8> {
    let mut s = vec![0x00, 0x14];
    s.extend_from_slice(&[n as u8; 20]);
    s[2..6].copy_from_slice(&n.to_le_bytes());
    s
}

fn p2pkh(n: u32) -> Vec<u8> {
    let mut s = vec![0x76, 0xa9, 0x14];
    let mut h = [0x55u8; 20];
    h[..4].copy_from_slice(&n.to_le_bytes());
    s.extend_from_slice(&h);
    s.extend_from_slice(&[0x88, 0xac]);
    s
}

fn coinbase(height: u32, tag: u8, script: Vec<u8>, value: u64) -> Tx {
    let mut sig = vec![4];
    sig.extend_from_slice(&height.to_le_bytes());
    sig.push(tag);
    Tx {
        version: 2,
        inputs: vec![TxIn {
            prevout: OutPoint::NULL,
            script_sig: sig,
            sequence: u32::MAX,
            witness: vec![],
        }],
        outputs: vec![TxOut {
            value,
            script_pubkey: script,
        }],
        lock_time: 0,
    }
}

fn spend(prev: &[(OutPoint, bool)], outs: Vec<(u64, Vec<u8>)>) -> Tx {
    Tx {
        version: 2,
        inputs: prev
            .iter()
            .map(|(op, segwit)| TxIn {
                prevout: *op,
                script_sig: if *segwit { vec![] } else { vec![0x01, 0x02] },
                sequence: 0xffff_fffe,
                witness: if *segwit {
                    vec![vec![0x30; 71], vec![0x02; 33]]
                } else {
                    vec![]
                },
            })
            .collect(),
        outputs: outs
            .into_iter()
            .map(|(value, script_pubkey)| TxOut {
                value,
                script_pubkey,
            })
            .collect(),
        lock_time: 0,
    }
}

fn block(prev: [u8; 32], height: u32, txs: Vec<Tx>) -> Block {
    let txids: Vec<_> = txs.iter().map(|t| t.txid()).collect();
    let header = BlockHeader {
        version: 0x2000_0000,
        prev_hash: prev,
        merkle_root: merkle_root(&txids),
        time: 1_600_000_000 + height * 600,
        bits: 0x207f_ffff,
        nonce: height,
    };
    Block { header, txs }
}

/// A main chain of `n` blocks where each block spends the previous block's outputs (segwit and
/// legacy), including a spend of an output created earlier in the same block; `fork_at` makes a
/// competing branch tag.
fn make_chain(n: u32, tag: u8, base: Option<(&[Block], u32)>) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut start = 0;
    if let Some((main, at)) = base {
        blocks.extend_from_slice(&main[..at as usize]);
        start = at;
    }
    for h in start..n {
        let prev = blocks.last().map(|b| b.header.hash()).unwrap_or([0; 32]);
        let mut txs = vec![coinbase(h, tag, p2wpkh(h), 50_0000_0000)];
        if h > 0 {
            let pb = &blocks[h as usize - 1];
            let cb = pb.txs[0].txid();
            let a = spend(
                &[(OutPoint { txid: cb, vout: 0 }, true)],
                vec![(30_0000_0000, p2pkh(h)), (19_9999_0000, p2wpkh(1000 + h))],
            );
            let a_id = a.txid();
            // Spends an output created in this very block.
            let b = spend(
                &[(
                    OutPoint {
                        txid: a_id,
                        vout: 1,
                    },
                    true,
                )],
                vec![(19_9998_0000, p2wpkh(7)), (0, vec![0x6a, 0x02, 0xbe, 0xef])],
            );
            txs.push(a);
            txs.push(b);
            if h > 1 {
                // Consolidate the previous block's P2PKH output with its chained output.
                let pa = pb.txs[1].txid();
                let pbx = pb.txs[2].txid();
                txs.push(spend(
                    &[
                        (OutPoint { txid: pa, vout: 0 }, false),
                        (OutPoint { txid: pbx, vout: 0 }, true),
                    ],
                    vec![(49_9997_0000, p2wpkh(7))],
                ));
            }
        }
        blocks.push(block(prev, h, txs));
    }
    blocks
}

fn write_blk(dir: &Path, name: &str, blocks: &[&Block], xor: Option<[u8; 8]>, offset: usize) {
    let mut data = Vec::new();
    for b in blocks {
        let mut raw = Vec::new();
        b.encode(&mut raw);
        data.extend_from_slice(&CHAIN.magic());
        data.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        data.extend_from_slice(&raw);
    }
    if let Some(key) = xor {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 8];
        }
        std::fs::write(dir.join("xor.dat"), key).unwrap();
    }
    std::fs::write(dir.join(name), data).unwrap();
}

fn run(
    blocks_dir: &Path,
    data: &Path,
) -> Result<chainwatch_chain::ingest::IngestSummary, IngestError> {
    ingest(&IngestOptions::new(blocks_dir, CHAIN, data), &mut |_| {})
}

fn fresh_fingerprint(blocks: &[Block]) -> [u8; 32] {
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<&Block> = blocks.iter().collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    run(dir.path(), &dir.path().join("store")).unwrap();
    Store::open(&dir.path().join("store"), CHAIN)
        .unwrap()
        .fingerprint()
}

#[test]
fn ingests_out_of_order_xored_files_with_a_stale_branch() {
    let main = make_chain(12, 0, None);
    let stale = make_chain(8, 9, Some((&main, 6))); // 2 stale blocks at heights 6, 7
    let dir = tempfile::tempdir().unwrap();
    // Out of order across two files: later blocks first, stale ones in between.
    let mut first: Vec<&Block> = main[6..].iter().rev().collect();
    first.push(&stale[6]);
    first.push(&stale[7]);
    write_blk(dir.path(), "blk00000.dat", &first, None, 0);
    let second: Vec<&Block> = main[..6].iter().collect();
    write_blk(dir.path(), "blk00001.dat", &second, None, 0);
    let store_dir = dir.path().join("store");
    let s = run(dir.path(), &store_dir).unwrap();
    assert_eq!(s.blocks, 12, "{s:?}");
    assert_eq!(s.height, 11);
    assert_eq!(s.stale_blocks, 2);
    assert_eq!(s.tip_hash, to_hex(&main[11].header.hash()));
    let n_tx: usize = main.iter().map(|b| b.txs.len()).sum();
    let n_in: usize = main
        .iter()
        .flat_map(|b| &b.txs)
        .map(|t| t.inputs.len())
        .sum();
    let n_out: usize = main
        .iter()
        .flat_map(|b| &b.txs)
        .map(|t| t.outputs.len())
        .sum();
    assert_eq!(
        (s.txs as usize, s.inputs as usize, s.outputs as usize),
        (n_tx, n_in, n_out)
    );
    assert_eq!(
        fresh_fingerprint(&main),
        Store::open(&store_dir, CHAIN).unwrap().fingerprint()
    );

    // Every input resolves to the output it names; every spent output names its spender.
    let store = Store::open(&store_dir, CHAIN).unwrap();
    for b in &main {
        for t in &b.txs {
            let num = store.tx_by_txid(&t.txid()).expect("txid indexed");
            let view = store.tx_view(num);
            assert_eq!(view.outputs.len(), t.outputs.len());
            for (inp, v) in t.inputs.iter().zip(&view.inputs) {
                if inp.prevout == OutPoint::NULL {
                    assert!(v.prev_txid.is_none());
                    continue;
                }
                assert_eq!(
                    v.prev_txid.as_deref(),
                    Some(to_hex(&inp.prevout.txid).as_str())
                );
                assert_eq!(v.prev_vout, Some(inp.prevout.vout));
                let prev = store.tx_by_txid(&inp.prevout.txid).unwrap();
                let out = store.tx_outputs(prev).start + inp.prevout.vout;
                assert_eq!(store.out_spender.as_slice()[out as usize], num);
            }
        }
    }
    // The last block's outputs are unspent; the reused address's totals add up.
    let last = store.tx_by_txid(&main[11].txs[2].txid()).unwrap();
    assert!(store
        .tx_view(last)
        .outputs
        .iter()
        .all(|o| o.spent_by.is_none()));
    let seven = store
        .address_view(&AddrKey::from_script(&p2wpkh(7)))
        .unwrap();
    assert_eq!(seven.balance, seven.received - seven.sent);
    assert!(seven.sent > 0 && seven.tx_count > 10);
    let _ = NONE;

    // Same chain, xor-obfuscated: same store.
    let xdir = tempfile::tempdir().unwrap();
    write_blk(
        xdir.path(),
        "blk00000.dat",
        &first,
        Some([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]),
        0,
    );
    write_blk(
        xdir.path(),
        "blk00001.dat",
        &second,
        Some([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]),
        0,
    );
    run(xdir.path(), &xdir.path().join("store")).unwrap();
    assert_eq!(
        Store::open(&xdir.path().join("store"), CHAIN)
            .unwrap()
            .fingerprint(),
        store.fingerprint()
    );
}

#[test]
fn resume_appends_only_new_blocks_and_reorgs_roll_back() {
    let main = make_chain(20, 0, None);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let refs: Vec<&Block> = main[..10].iter().collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    assert_eq!(run(dir.path(), &store_dir).unwrap().blocks_added, 10);
    // The node writes more blocks.
    let refs: Vec<&Block> = main.iter().collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    let s = run(dir.path(), &store_dir).unwrap();
    assert_eq!((s.blocks_added, s.blocks), (10, 20));
    assert_eq!(run(dir.path(), &store_dir).unwrap().blocks_added, 0);
    assert_eq!(
        Store::open(&store_dir, CHAIN).unwrap().fingerprint(),
        fresh_fingerprint(&main)
    );

    // A competing branch from height 15 with more work (7 blocks vs 5) wins.
    let branch = make_chain(22, 5, Some((&main, 15)));
    let mut all: Vec<&Block> = main.iter().collect();
    all.extend(branch[15..].iter());
    write_blk(dir.path(), "blk00000.dat", &all, None, 0);
    let s = run(dir.path(), &store_dir).unwrap();
    assert_eq!((s.blocks_rolled_back, s.blocks_added, s.blocks), (5, 7, 22));
    assert_eq!(s.tip_hash, to_hex(&branch[21].header.hash()));
    assert_eq!(
        Store::open(&store_dir, CHAIN).unwrap().fingerprint(),
        fresh_fingerprint(&branch)
    );
}

#[test]
fn interrupted_writer_recovers_to_the_same_store() {
    let main = make_chain(30, 0, None);
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<&Block> = main.iter().collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    let store_dir = dir.path().join("store");
    let mut opts = IngestOptions::new(dir.path(), CHAIN, &store_dir);
    opts.max_blocks = Some(12);
    ingest(&opts, &mut |_| {}).unwrap();
    {
        // Append more blocks without committing, then "crash" (drop without close).
        let mut store = Store::open_writer(&store_dir, CHAIN).unwrap();
        for b in &main[12..20] {
            let mut raw = Vec::new();
            b.encode(&mut raw);
            store
                .append(&chainwatch_chain::ingest::prepare_block(&raw).unwrap())
                .unwrap();
        }
        drop(store); // no commit, no close: as if killed
    }
    assert!(store_dir.join("DIRTY").exists());
    // A reader sees only the committed part.
    assert_eq!(
        Store::open(&store_dir, CHAIN).unwrap().committed().blocks,
        12
    );
    let s = run(dir.path(), &store_dir).unwrap();
    assert_eq!((s.blocks_added, s.blocks), (18, 30));
    assert!(!store_dir.join("DIRTY").exists());
    assert_eq!(
        Store::open(&store_dir, CHAIN).unwrap().fingerprint(),
        fresh_fingerprint(&main)
    );
}

#[test]
fn bad_input_names_file_and_offset_and_keeps_good_blocks() {
    let main = make_chain(6, 0, None);
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<&Block> = main.iter().collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    let path = dir.path().join("blk00000.dat");
    let data = std::fs::read(&path).unwrap();
    let cut = data.len() - 10;
    std::fs::write(&path, &data[..cut]).unwrap();
    let store_dir = dir.path().join("store");
    match run(dir.path(), &store_dir) {
        Err(IngestError::BadInput { error, summary }) => {
            let msg = error.to_string();
            assert!(
                msg.contains("blk00000.dat") && msg.contains("ends inside a block"),
                "{msg}"
            );
            assert_eq!(summary.blocks, 5, "the five good blocks are committed");
        }
        other => panic!("expected bad input, got {other:?}"),
    }
    assert_eq!(
        Store::open(&store_dir, CHAIN).unwrap().committed().blocks,
        5
    );

    // A block whose merkle root lies: error at its offset, nothing past the last good block.
    let dir = tempfile::tempdir().unwrap();
    let mut bad = main.clone();
    bad[3].header.merkle_root = [1; 32];
    // Re-link the children so the header chain stays connected.
    for h in 4..6 {
        bad[h].header.prev_hash = bad[h - 1].header.hash();
    }
    let refs: Vec<&Block> = bad.iter().collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    match run(dir.path(), &dir.path().join("store")) {
        Err(IngestError::BadInput { error, summary }) => {
            assert!(error.to_string().contains("merkle root"), "{error}");
            assert_eq!(summary.blocks, 3);
        }
        other => panic!("expected bad input, got {other:?}"),
    }

    // A block whose parent is in no file is skipped with a warning.
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<&Block> = main[..4].iter().chain(main[5..].iter()).collect();
    write_blk(dir.path(), "blk00000.dat", &refs, None, 0);
    let s = run(dir.path(), &dir.path().join("store")).unwrap();
    assert_eq!(s.blocks, 4);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("parent"));
    let _ = write_varint;
}
