//! The block parser, blk-file reader and header tree against a real Litecoin Core regtest
//! node: every block of the best chain, read from the node's own `blk*.dat` files, must agree
//! with `getblock <hash> 2` (and be byte-identical to `getblock <hash> 0`).
//!
//! The chain covers every output script type the 0.21.2 wallet and RPC can produce (P2PKH,
//! P2SH, P2SH-P2WPKH, P2WPKH, P2WSH, P2SH-P2WSH, P2TR, unknown witness version, P2PK, bare
//! multisig, OP_RETURN, a non-standard script), spends of each spendable kind (so scriptSig,
//! witness and mixed inputs appear, several per tx), MWEB activation with peg-ins, an
//! MWEB-to-MWEB transfer and peg-outs (HogEx transactions and MWEB block data), and a reorg
//! that leaves a stale block in the files.
//!
//! Needs `litecoind` on PATH (`apt-get install litecoind`); fails, rather than skips, without.

use chainwatch_chain::blkfile::{BlkFiles, BlockLoc};
use chainwatch_chain::headers::HeaderTree;
use chainwatch_chain::{merkle_root, to_hex, BlockRef, Hash32, Tx};
use chainwatch_testenv::{litoshis, Litecoind};
use chainwatch_types::{AddrKey, AddrKind, Address, Chain};
use common::{build_chain, node_tip, rpc, str_of, MWEB_HEIGHT};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

mod common;

const CHAIN: Chain = Chain::LitecoinRegtest;

/// The key kind the RPC script type must map to.
fn expected_kind(rpc_type: &str) -> AddrKind {
    match rpc_type {
        "pubkeyhash" => AddrKind::P2pkh,
        "scripthash" => AddrKind::P2sh,
        "witness_v0_keyhash" => AddrKind::P2wpkh,
        "witness_v0_scripthash" => AddrKind::P2wsh,
        "witness_v1_taproot" => AddrKind::P2tr,
        "nulldata" => AddrKind::NullData,
        // pubkey, multisig, nonstandard, witness_unknown, witness_mweb_pegin, witness_mweb_hogaddr
        _ => AddrKind::Script,
    }
}

/// Checks one output's script classification and display against RPC's `scriptPubKey`.
fn check_address(script: &[u8], spk: &Value, at: &str) {
    let key = AddrKey::from_script(script);
    let shown = key.display(CHAIN);
    // The rule litecoind_ingest.rs checks the store's addresses with.
    assert_eq!(
        shown,
        common::expected_display(spk),
        "{at}: display of {spk}"
    );
    let rpc_type = spk["type"].as_str().unwrap();
    assert_eq!(key.kind, expected_kind(rpc_type), "{at}: kind of {spk}");
    // 0.21.2 gives `addresses` (newer nodes give `address`).
    let rpc_address = spk["address"]
        .as_str()
        .or_else(|| spk["addresses"][0].as_str());
    match (rpc_type, rpc_address) {
        // Bare multisig: RPC lists the P2PKH address of each key, not an address of the script.
        ("multisig", _) => assert!(spk["addresses"].is_array(), "{at}: {spk}"),
        // Unknown witness versions have an address, but chainwatch keys them as scripts.
        ("witness_unknown", Some(address)) => {
            let decoded = Address::from_script(script).expect("witness address");
            assert_eq!(decoded.encode(CHAIN), address, "{at}");
        }
        (_, Some(address)) => {
            assert_eq!(shown, address, "{at}: address of {spk}");
            return;
        }
        (_, None) => {}
    }
    let prefix = if key.kind == AddrKind::NullData {
        "nulldata:"
    } else {
        "script:"
    };
    let id = format!("{prefix}{}", hex::encode(Sha256::digest(script)));
    assert_eq!(shown, id, "{at}: {spk}");
}

/// What the comparison saw, for the coverage assertions.
#[derive(Default, Debug)]
struct Seen {
    /// Per RPC script type: (txs with at least one such output, outputs).
    by_type: BTreeMap<String, (usize, usize)>,
    txs: usize,
    inputs_script_sig_only: usize,
    inputs_witness_only: usize,
    inputs_both: usize,
    inputs_empty: usize,
    hogex_inputs: usize,
    multi_input_txs: usize,
    multi_output_txs: usize,
    op_return_outside_coinbase: usize,
    hogex_txs: usize,
    hogex_with_pegouts: usize,
    mweb_blocks: usize,
}

/// Compares one parsed block with `getblock <hash> 2` (and its bytes with `getblock <hash> 0`).
fn compare_block(node: &Litecoind, raw: &[u8], height: u32, hash: &Hash32, seen: &mut Seen) {
    let block = BlockRef::parse(raw).unwrap_or_else(|e| panic!("block {height}: {e}"));
    let hash_hex = to_hex(hash);
    assert_eq!(to_hex(&block.hash()), hash_hex);
    let at = format!("block {height} {hash_hex}");
    let expected_raw = str_of(&rpc(node, "getblock", json!([hash_hex, 0])));
    assert!(hex::encode(raw) == expected_raw, "{at}: bytes differ");
    let rb = rpc(node, "getblock", json!([hash_hex, 2]));
    assert_eq!(rb["hash"], json!(hash_hex), "{at}");
    assert_eq!(rb["height"], json!(height), "{at}");
    let header = block.header();
    if height == 0 {
        assert!(rb["previousblockhash"].is_null());
    } else {
        assert_eq!(
            rb["previousblockhash"],
            json!(to_hex(&header.prev_hash)),
            "{at}"
        );
    }
    assert_eq!(rb["merkleroot"], json!(to_hex(&header.merkle_root)), "{at}");
    let txids: Vec<Hash32> = block.txs.iter().map(|t| t.txid()).collect();
    assert_eq!(merkle_root(&txids), header.merkle_root, "{at}: merkle root");
    let rtxs = rb["tx"].as_array().unwrap();
    assert_eq!(rb["nTx"], json!(block.txs.len()), "{at}");
    assert_eq!(rtxs.len(), block.txs.len(), "{at}");

    // MWEB blocks end with a HogEx (flag 0x08, empty MWEB part) followed by the MWEB block.
    let is_mweb = u64::from(height) >= MWEB_HEIGHT;
    let tx_bytes: usize = block.txs.iter().map(|t| t.raw.len()).sum();
    let mut varint = Vec::new();
    chainwatch_chain::tx::write_varint(&mut varint, block.txs.len() as u64);
    let trailing = &raw[80 + varint.len() + tx_bytes..];
    assert_eq!(rb["mweb"].is_object(), is_mweb, "{at}");
    if is_mweb {
        seen.mweb_blocks += 1;
        assert_eq!(trailing.first(), Some(&1), "{at}: MWEB block present");
        let hogex = block.txs.last().unwrap();
        assert_eq!(hogex.flags, 0x08, "{at}: HogEx flags");
        assert!(block.txs.len() >= 2, "{at}");
        seen.hogex_txs += 1;
        if hogex.n_outputs > 1 {
            seen.hogex_with_pegouts += 1;
        }
    } else {
        assert!(trailing.is_empty(), "{at}: bytes after the txs");
    }

    for (ti, (tx, rtx)) in block.txs.iter().zip(rtxs).enumerate() {
        let at = format!("{at} tx {ti}");
        seen.txs += 1;
        assert_eq!(rtx["txid"], json!(to_hex(&tx.txid())), "{at}");
        assert_eq!(rtx["hex"], json!(hex::encode(tx.raw)), "{at}");
        assert_eq!(tx.is_coinbase(), ti == 0, "{at}");
        assert_eq!(
            tx.flags & 0x08 != 0,
            is_mweb && ti == rtxs.len() - 1,
            "{at}"
        );
        let owned = Tx::decode(tx.raw).unwrap().0;
        assert_eq!(owned.txid(), tx.txid(), "{at}");

        let rvin = rtx["vin"].as_array().unwrap();
        assert_eq!(rvin.len(), tx.n_inputs, "{at}");
        if tx.n_inputs > 1 {
            seen.multi_input_txs += 1;
        }
        for (ii, ((input, rin), owned_in)) in tx.inputs().zip(rvin).zip(&owned.inputs).enumerate() {
            let at = format!("{at} in {ii}");
            assert_ne!(rin["ismweb"], json!(true), "{at}");
            let witness: Vec<String> = owned_in.witness.iter().map(hex::encode).collect();
            let rpc_witness = rin["txinwitness"]
                .as_array()
                .map_or(vec![], |w| w.iter().map(str_of).collect::<Vec<_>>());
            assert_eq!(witness, rpc_witness, "{at}: witness");
            assert_eq!(rin["sequence"], json!(input.sequence), "{at}");
            if ti == 0 {
                assert_eq!(
                    rin["coinbase"],
                    json!(hex::encode(input.script_sig)),
                    "{at}"
                );
                continue;
            }
            assert!(rin["coinbase"].is_null(), "{at}");
            assert_eq!(rin["txid"], json!(to_hex(input.prev_txid)), "{at}");
            assert_eq!(rin["vout"], json!(input.prev_vout), "{at}");
            assert_eq!(
                rin["scriptSig"]["hex"],
                json!(hex::encode(input.script_sig)),
                "{at}"
            );
            match (input.script_sig.is_empty(), witness.is_empty()) {
                (false, true) => seen.inputs_script_sig_only += 1,
                (true, false) => seen.inputs_witness_only += 1,
                (false, false) => seen.inputs_both += 1,
                // HogEx inputs spend peg-in and HogAddr outputs, which need nothing.
                (true, true) if tx.flags & 0x08 != 0 => seen.hogex_inputs += 1,
                (true, true) => seen.inputs_empty += 1,
            }
        }

        let rvout = rtx["vout"].as_array().unwrap();
        assert_eq!(rvout.len(), tx.n_outputs, "{at}");
        if tx.n_outputs > 2 {
            seen.multi_output_txs += 1;
        }
        let mut types_in_tx = HashSet::new();
        for (oi, (output, rout)) in tx.outputs().zip(rvout).enumerate() {
            let at = format!("{at} out {oi}");
            assert_ne!(rout["ismweb"], json!(true), "{at}");
            assert_eq!(rout["n"], json!(oi), "{at}");
            assert_eq!(litoshis(&rout["value"]), Some(output.value), "{at}: value");
            let spk = &rout["scriptPubKey"];
            assert_eq!(spk["hex"], json!(hex::encode(output.script_pubkey)), "{at}");
            check_address(output.script_pubkey, spk, &at);
            let rpc_type = str_of(&spk["type"]);
            if ti > 0 && rpc_type == "nulldata" {
                seen.op_return_outside_coinbase += 1;
            }
            seen.by_type.entry(rpc_type.clone()).or_default().1 += 1;
            types_in_tx.insert(rpc_type);
        }
        for t in types_in_tx {
            seen.by_type.entry(t).or_default().0 += 1;
        }
    }
}

#[test]
fn blk_files_of_a_real_node_match_its_rpc() {
    let started = std::time::Instant::now();
    let mut node = Litecoind::start_with_args(&["-acceptnonstdtxn=1"]).expect("start litecoind");
    let stale = build_chain(&node);
    let height = node.height().unwrap();
    let tip = node_tip(&node);
    node.stop().unwrap();

    // Read the files of the stopped node.
    let dir = node.blocks_dir();
    assert!(
        !dir.join("xor.dat").exists(),
        "Litecoin 0.21 has no xor.dat"
    );
    let files = BlkFiles::open(&dir).unwrap();
    let mut tree = HeaderTree::default();
    files
        .scan(CHAIN.magic(), |loc, header| tree.add(loc, header))
        .unwrap();
    let (best, orphans) = tree.best_chain();
    assert!(orphans.is_empty(), "{orphans:?}");
    assert_eq!(best.len() as u64, height + 1);
    assert_eq!(to_hex(&best.last().unwrap().hash), tip);
    // Every block of the best chain plus the one the reorg left behind.
    assert_eq!(tree.len(), best.len() + 1);
    assert_eq!(tree.duplicates, 0);
    let stale_hash = chainwatch_chain::from_hex(&stale).unwrap();
    assert!(tree.get(&stale_hash).is_some(), "stale block in the files");
    assert!(best.iter().all(|n| n.hash != stale_hash));
    let blocks: Vec<(BlockLoc, u32, Hash32, Vec<u8>)> = best
        .iter()
        .map(|n| {
            let mut buf = Vec::new();
            files.read(n.loc, &mut buf);
            (n.loc, n.height.expect("connected"), n.hash, buf)
        })
        .collect();
    drop(files);

    node.restart().unwrap();
    assert_eq!(node_tip(&node), tip);
    let mut seen = Seen::default();
    for (i, (_loc, h, hash, raw)) in blocks.iter().enumerate() {
        assert_eq!(*h as usize, i);
        compare_block(&node, raw, *h, hash, &mut seen);
    }

    // Coverage: every script type the node can produce was seen, in the numbers made.
    let count = |t: &str| seen.by_type.get(t).map_or(0, |c| c.0);
    let minimum = [
        ("pubkeyhash", 8),            // 4 sends, sendmany, spends' outputs, 2 peg-outs
        ("scripthash", 8),            // p2sh-segwit sends, P2SH multisig, P2SH-P2WSH
        ("witness_v0_keyhash", 8),    // coinbases, sends, change
        ("witness_v0_scripthash", 3), // P2WSH multisig sends
        ("witness_v1_taproot", 3),    // sends to taproot addresses
        ("witness_unknown", 1),       // witness v2
        ("pubkey", 2),                // genesis and pk() coinbases
        ("multisig", 1),              // bare multisig coinbase
        ("nonstandard", 1),           // OP_TRUE coinbase
        ("nulldata", 2 + 400),        // 2 OP_RETURN txs + witness commitments
        ("witness_mweb_pegin", 2),    // peg-ins (the wallet pays MWEB from MWEB coins if it can)
        ("witness_mweb_hogaddr", 5),  // one HogEx per MWEB block
    ];
    for (t, min) in minimum {
        assert!(
            count(t) >= min,
            "{t}: {} txs, want >= {min}; {seen:#?}",
            count(t)
        );
    }
    let known: HashSet<&str> = minimum.iter().map(|m| m.0).collect();
    let unknown: Vec<_> = seen
        .by_type
        .keys()
        .filter(|t| !known.contains(t.as_str()))
        .collect();
    assert!(unknown.is_empty(), "unexpected script types {unknown:?}");
    assert!(seen.inputs_script_sig_only >= 10, "{seen:#?}");
    assert!(seen.inputs_witness_only >= 10, "{seen:#?}");
    assert!(seen.inputs_both >= 3, "{seen:#?}");
    assert_eq!(seen.inputs_empty, 1, "the OP_TRUE spend: {seen:#?}");
    // Each HogEx spends the previous one (except the first) and each peg-in of its block.
    assert_eq!(
        seen.hogex_inputs,
        seen.hogex_txs - 1 + count("witness_mweb_pegin"),
        "{seen:#?}"
    );
    assert_eq!(seen.op_return_outside_coinbase, 2, "{seen:#?}");
    assert!(seen.multi_input_txs >= 7, "{seen:#?}");
    assert!(seen.multi_output_txs >= 3, "{seen:#?}");
    assert_eq!(seen.mweb_blocks as u64, height + 1 - MWEB_HEIGHT);
    assert_eq!(seen.hogex_txs, seen.mweb_blocks);
    assert!(seen.hogex_with_pegouts >= 1, "{seen:#?}");
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "compared {} blocks, {} txs in {:.1?}: {seen:#?}",
            blocks.len(),
            seen.txs,
            started.elapsed()
        );
    }
}
