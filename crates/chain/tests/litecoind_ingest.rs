//! The chain store end to end against a real Litecoin Core regtest node: the node builds a
//! chain with every script type its wallet and RPC can produce (see `common::build_chain`),
//! is stopped, and its `regtest/blocks` is ingested; every block, tx, input (resolved to the
//! output it spends), output (value, address, spender) and address total the store shows
//! must agree with what the node's RPC (`getblock <hash> 2`) says. Then the node mines more
//! (payments to every wallet address kind and spends of coins from before the first ingest)
//! and a second ingest appends exactly the new blocks; then a reorg of depth 2 is rolled back
//! and replaced. After each incremental ingest the store must be identical (fingerprint) to
//! a fresh ingest of the same directory.
//!
//! Needs `litecoind` on PATH (`apt-get install litecoind`); fails, rather than skips, without.

use chainwatch_chain::ingest::IngestSummary;
use chainwatch_chain::store::Store;
use chainwatch_chain::{from_hex, Hash32};
use chainwatch_testenv::{litoshis, Litecoind};
use chainwatch_types::{AddrKey, Chain};
use common::{
    address_of_script, build_chain, expected_display, fresh_fingerprint, generate_to_descriptor,
    node_tip, pubkey_of, rpc, run_ingest, spend, str_of, utxos_by_descriptor,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod common;

const CHAIN: Chain = Chain::LitecoinRegtest;

/// An outpoint as RPC names it: (txid hex, vout).
type OutPoint = (String, u32);

/// The node's best chain as RPC gives it.
struct RpcChain {
    /// `getblock <hash> 2` by height.
    blocks: Vec<Value>,
    /// `getbestblockhash`.
    tip: String,
    /// Blocks on branches other than the active one (`getchaintips`).
    stale_blocks: u64,
}

/// Reads the best chain over RPC; `getblock` answers are cached by hash (a block's contents
/// never change), the height-to-hash mapping is asked afresh.
fn fetch(node: &Litecoind, cache: &mut HashMap<String, Value>) -> RpcChain {
    let height = node.height().unwrap();
    let mut blocks = Vec::new();
    for h in 0..=height {
        let hash = str_of(&rpc(node, "getblockhash", json!([h])));
        let block = cache
            .entry(hash.clone())
            .or_insert_with(|| rpc(node, "getblock", json!([hash, 2])));
        assert_eq!(block["height"], json!(h));
        blocks.push(block.clone());
    }
    let stale_blocks = rpc(node, "getchaintips", json!([]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] != json!("active"))
        .map(|t| t["branchlen"].as_u64().unwrap())
        .sum();
    RpcChain {
        blocks,
        tip: node_tip(node),
        stale_blocks,
    }
}

/// An output as RPC describes it.
struct RpcOut {
    value: u64,
    address: String,
    rpc_type: String,
}

/// Per-address totals computed from RPC data.
#[derive(Default)]
struct AddrTotals {
    received: u64,
    sent: u64,
    outputs: u64,
    txs: BTreeSet<String>,
    rpc_type: String,
}

/// What one comparison covered.
#[derive(Debug, Default, Clone)]
struct Compared {
    blocks: usize,
    txs: usize,
    inputs: usize,
    coinbase_inputs: usize,
    outputs: usize,
    spent_outputs: usize,
    addresses: usize,
    /// Per RPC script type: (addresses compared, those with spent outputs).
    address_types: BTreeMap<String, (usize, usize)>,
}

fn hash(hex: &str) -> Hash32 {
    from_hex(hex).unwrap_or_else(|| panic!("bad hash {hex}"))
}

fn vin_outpoint(vin: &Value) -> Option<OutPoint> {
    if vin["coinbase"].is_string() {
        return None;
    }
    Some((str_of(&vin["txid"]), vin["vout"].as_u64().unwrap() as u32))
}

/// The outpoints of `rpc`'s best chain that no tx of it spends (`OP_RETURN` outputs left out),
/// with their RPC script types.
fn unspent(rpc: &RpcChain) -> BTreeMap<OutPoint, String> {
    let mut set = BTreeMap::new();
    for block in &rpc.blocks {
        for tx in block["tx"].as_array().unwrap() {
            for vin in tx["vin"].as_array().unwrap() {
                if let Some(op) = vin_outpoint(vin) {
                    let created = set.remove(&op);
                    assert!(created.is_some(), "{op:?} spent but not created before");
                }
            }
            for vout in tx["vout"].as_array().unwrap() {
                let rpc_type = str_of(&vout["scriptPubKey"]["type"]);
                if rpc_type != "nulldata" {
                    let op = (str_of(&tx["txid"]), vout["n"].as_u64().unwrap() as u32);
                    set.insert(op, rpc_type);
                }
            }
        }
    }
    set
}

/// Compares everything the store shows with `rpc` (see the module docs).
fn compare(store: &Store, rpc: &RpcChain, summary: &IngestSummary) -> Compared {
    // What RPC says, indexed: every output, every spend, each tx's height.
    let mut outs: HashMap<OutPoint, RpcOut> = HashMap::new();
    let mut spender: HashMap<OutPoint, String> = HashMap::new();
    let mut tx_height: HashMap<String, u32> = HashMap::new();
    let mut totals: BTreeMap<String, AddrTotals> = BTreeMap::new();
    let (mut n_tx, mut n_in, mut n_out) = (0usize, 0usize, 0usize);
    for (h, block) in rpc.blocks.iter().enumerate() {
        for tx in block["tx"].as_array().unwrap() {
            let txid = str_of(&tx["txid"]);
            n_tx += 1;
            assert!(
                tx_height.insert(txid.clone(), h as u32).is_none(),
                "{txid} twice"
            );
            for vin in tx["vin"].as_array().unwrap() {
                n_in += 1;
                if let Some(op) = vin_outpoint(vin) {
                    let prev = spender.insert(op.clone(), txid.clone());
                    assert!(prev.is_none(), "RPC: {op:?} spent twice");
                }
            }
            for vout in tx["vout"].as_array().unwrap() {
                n_out += 1;
                let spk = &vout["scriptPubKey"];
                let out = RpcOut {
                    value: litoshis(&vout["value"]).unwrap(),
                    address: expected_display(spk),
                    rpc_type: str_of(&spk["type"]),
                };
                let t = totals.entry(out.address.clone()).or_default();
                t.received += out.value;
                t.outputs += 1;
                t.txs.insert(txid.clone());
                t.rpc_type = out.rpc_type.clone();
                outs.insert((txid.clone(), vout["n"].as_u64().unwrap() as u32), out);
            }
        }
    }
    for (op, by) in &spender {
        let out = outs
            .get(op)
            .unwrap_or_else(|| panic!("RPC: {op:?} spent by {by} is no output"));
        let t = totals.get_mut(&out.address).unwrap();
        t.sent += out.value;
        t.txs.insert(by.clone());
    }

    // Summary and commit record.
    let height = rpc.blocks.len() as i64 - 1;
    assert_eq!(summary.chain, CHAIN.name());
    assert_eq!(summary.tip_hash, rpc.tip);
    assert_eq!(summary.height, height);
    assert_eq!(summary.blocks as usize, rpc.blocks.len());
    assert_eq!(summary.txs as usize, n_tx, "txs");
    assert_eq!(summary.inputs as usize, n_in, "inputs");
    assert_eq!(summary.outputs as usize, n_out, "outputs");
    assert_eq!(summary.addresses as usize, totals.len(), "addresses");
    assert_eq!(summary.stale_blocks, rpc.stale_blocks, "stale blocks");
    let c = store.committed();
    assert_eq!(
        (
            c.blocks,
            c.txs,
            c.inputs,
            c.outputs,
            c.addrs,
            c.tip_hash.as_str()
        ),
        (
            summary.blocks,
            summary.txs,
            summary.inputs,
            summary.outputs,
            summary.addresses,
            rpc.tip.as_str()
        )
    );
    assert_eq!(store.block_count() as usize, rpc.blocks.len());
    assert!(store.block_view(rpc.blocks.len() as u32).is_none());

    let mut done = Compared::default();
    let mut tx_num = 0u32;
    for (h, rb) in rpc.blocks.iter().enumerate() {
        let h = h as u32;
        let block_hash = str_of(&rb["hash"]);
        let at = format!("block {h} {block_hash}");
        let bv = store
            .block_view(h)
            .unwrap_or_else(|| panic!("{at}: missing"));
        assert_eq!(bv.hash, block_hash, "{at}");
        assert_eq!(bv.height, h, "{at}");
        let prev = rb["previousblockhash"]
            .as_str()
            .map_or_else(|| "00".repeat(32), str::to_string);
        assert_eq!(bv.prev_hash, prev, "{at}");
        assert_eq!(bv.merkle_root, str_of(&rb["merkleroot"]), "{at}");
        assert_eq!(json!(bv.time), rb["time"], "{at}");
        assert_eq!(bv.bits, str_of(&rb["bits"]), "{at}");
        assert_eq!(json!(bv.nonce), rb["nonce"], "{at}");
        assert_eq!(json!(bv.version), rb["version"], "{at}");
        assert_eq!(json!(bv.size), rb["size"], "{at}: size");
        assert_eq!(json!(bv.tx_count), rb["nTx"], "{at}");
        let rtxs = rb["tx"].as_array().unwrap();
        let txids: Vec<String> = rtxs.iter().map(|t| str_of(&t["txid"])).collect();
        assert_eq!(bv.txids, txids, "{at}");
        assert_eq!(store.height_of_block(&hash(&block_hash)), Some(h), "{at}");
        done.blocks += 1;

        for (ti, rtx) in rtxs.iter().enumerate() {
            let txid = str_of(&rtx["txid"]);
            let at = format!("{at} tx {ti} {txid}");
            // Dense ids in chain order.
            assert_eq!(store.tx_by_txid(&hash(&txid)), Some(tx_num), "{at}");
            let tv = store.tx_view(tx_num);
            tx_num += 1;
            done.txs += 1;
            assert_eq!(tv.txid, txid, "{at}");
            assert_eq!(tv.height, h, "{at}");
            assert_eq!(tv.block_hash, block_hash, "{at}");
            assert_eq!(json!(tv.time), rb["time"], "{at}");
            assert_eq!(json!(tv.version), rtx["version"], "{at}");
            assert_eq!(json!(tv.lock_time), rtx["locktime"], "{at}");
            assert_eq!(tv.coinbase, ti == 0, "{at}");

            let rvin = rtx["vin"].as_array().unwrap();
            assert_eq!(tv.inputs.len(), rvin.len(), "{at}: inputs");
            let mut in_sum = 0u64;
            for (ii, (iv, rin)) in tv.inputs.iter().zip(rvin).enumerate() {
                let at = format!("{at} in {ii}");
                done.inputs += 1;
                match vin_outpoint(rin) {
                    None => {
                        done.coinbase_inputs += 1;
                        assert!(iv.prev_txid.is_none() && iv.prev_vout.is_none(), "{at}");
                        assert!(iv.address.is_none() && iv.value.is_none(), "{at}");
                    }
                    Some(op) => {
                        let spent = &outs[&op];
                        in_sum += spent.value;
                        assert_eq!(iv.prev_txid.as_deref(), Some(op.0.as_str()), "{at}");
                        assert_eq!(iv.prev_vout, Some(op.1), "{at}");
                        assert_eq!(iv.value, Some(spent.value), "{at}: value");
                        assert_eq!(iv.address.as_deref(), Some(spent.address.as_str()), "{at}");
                    }
                }
            }

            let rvout = rtx["vout"].as_array().unwrap();
            assert_eq!(tv.outputs.len(), rvout.len(), "{at}: outputs");
            let mut out_sum = 0u64;
            for (oi, (ov, rout)) in tv.outputs.iter().zip(rvout).enumerate() {
                let at = format!("{at} out {oi}");
                done.outputs += 1;
                let op = (txid.clone(), oi as u32);
                let expected = &outs[&op];
                out_sum += expected.value;
                assert_eq!(json!(ov.vout), rout["n"], "{at}");
                assert_eq!(ov.value, expected.value, "{at}: value");
                assert_eq!(ov.address, expected.address, "{at}: address");
                assert_eq!(ov.spent_by.as_ref(), spender.get(&op), "{at}: spent_by");
                done.spent_outputs += usize::from(ov.spent_by.is_some());
            }
            let fee = (ti > 0).then(|| in_sum.saturating_sub(out_sum));
            assert_eq!(tv.fee, fee, "{at}: fee");
        }
    }
    assert_eq!(tx_num as usize, n_tx);

    // Every address's totals, and its first and last heights.
    for (address, t) in &totals {
        let key = AddrKey::parse(address, CHAIN).unwrap_or_else(|e| panic!("{address}: {e}"));
        let av = store
            .address_view(&key)
            .unwrap_or_else(|| panic!("{address} ({}) not in the store", t.rpc_type));
        let heights: Vec<u32> = t.txs.iter().map(|txid| tx_height[txid]).collect();
        let expected = (
            address.as_str(),
            t.received,
            t.sent,
            t.received - t.sent,
            t.txs.len() as u64,
            t.outputs,
            *heights.iter().min().unwrap(),
            *heights.iter().max().unwrap(),
        );
        let got = (
            av.address.as_str(),
            av.received,
            av.sent,
            av.balance,
            av.tx_count,
            av.output_count,
            av.first_height,
            av.last_height,
        );
        assert_eq!(got, expected, "{address} ({})", t.rpc_type);
        done.addresses += 1;
        let by_type = done.address_types.entry(t.rpc_type.clone()).or_default();
        by_type.0 += 1;
        by_type.1 += usize::from(t.sent > 0);
    }
    done
}

/// Checks that blocks RPC puts on no active branch, given as `getblock <hash> 1`, are not in
/// the store, nor their coinbases (their other txs may be mined again on the active branch).
fn assert_not_stored(store: &Store, stale: &[Value]) {
    for b in stale {
        let block_hash = str_of(&b["hash"]);
        assert_eq!(
            store.height_of_block(&hash(&block_hash)),
            None,
            "{block_hash}"
        );
        let coinbase = str_of(&b["tx"][0]);
        assert_eq!(store.tx_by_txid(&hash(&coinbase)), None, "{coinbase}");
    }
}

/// Between the first and second ingest: payments to every wallet address kind and to
/// taproot (bech32m) addresses, an MWEB payment, coinbases to P2PK and bare multisig, explicit
/// spends of coins of each wallet kind confirmed before the first ingest; 14 blocks, the
/// last two each with a tx, the last one's spending an output of the one before.
fn extend_chain(node: &Litecoind) -> u64 {
    let start = node.height().unwrap();
    // Old coins to spend explicitly, locked so that the wallet's own sends leave them alone.
    let groups = utxos_by_descriptor(node);
    let mut old = Vec::new();
    for kind in ["pkh(", "sh(wpkh(", "wpkh("] {
        let coins = groups.get(kind).map_or(&[][..], Vec::as_slice);
        assert!(coins.len() >= 2, "too few old {kind} coins: {groups:?}");
        old.extend(coins.iter().take(3).cloned());
    }
    let lock: Vec<Value> = old
        .iter()
        .map(|(t, v, _)| json!({"txid": t, "vout": v}))
        .collect();
    rpc(node, "lockunspent", json!([false, lock]));

    node.send(&node.new_address("mweb").unwrap(), 150_000_000)
        .unwrap();
    let k1 = pubkey_of(node, &node.new_address("legacy").unwrap());
    let k2 = pubkey_of(node, &node.new_address("legacy").unwrap());
    generate_to_descriptor(node, &format!("pk({k1})"));
    generate_to_descriptor(node, &format!("multi(1,{k1},{k2})"));
    let mut old = old.into_iter();
    for round in 0..5u64 {
        for kind in ["legacy", "p2sh-segwit", "bech32"] {
            node.send(
                &node.new_address(kind).unwrap(),
                10_000_000 * (round + 1) + 7,
            )
            .unwrap();
        }
        let program = hex::encode(Sha256::digest([100 + round as u8]));
        let taproot = address_of_script(node, &format!("5120{program}"));
        node.send(&taproot, 5_000_000 + round).unwrap();
        // Two old coins per round, one at a time and both in one tx in the last rounds.
        let coins: Vec<_> = old
            .by_ref()
            .take(2)
            .map(|(t, v, a)| (t, v, a, None))
            .collect();
        if coins.len() == 2 && round >= 3 {
            spend(node, &coins, 2);
        } else {
            for c in coins {
                spend(node, &[c], 2);
            }
        }
        node.generate(2).unwrap();
    }
    rpc(node, "lockunspent", json!([true]));
    // Two blocks for the reorg to undo: the second spends an output of the first.
    let address = node.new_address("bech32").unwrap();
    let txid = node.send(&address, 25_000_000).unwrap();
    node.generate(1).unwrap();
    let tx = rpc(node, "getrawtransaction", json!([txid, true]));
    let out = tx["vout"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["scriptPubKey"]["addresses"][0] == json!(address))
        .unwrap();
    let vout = out["n"].as_u64().unwrap();
    spend(
        node,
        &[(txid, vout, litoshis(&out["value"]).unwrap(), None)],
        3,
    );
    node.generate(1).unwrap();
    node.height().unwrap() - start
}

#[test]
fn store_of_a_real_node_matches_its_rpc() {
    let started = std::time::Instant::now();
    let mut node = Litecoind::start_with_args(&["-acceptnonstdtxn=1"]).expect("start litecoind");
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let blocks_dir = node.blocks_dir();
    let mut cache = HashMap::new();
    let mut log = Vec::new();

    // 1. The rich chain, ingested from scratch.
    let stale = build_chain(&node);
    let stale1 = vec![rpc(&node, "getblock", json!([stale, 1]))];
    let rpc1 = fetch(&node, &mut cache);
    node.stop().unwrap();
    let s1 = run_ingest(&blocks_dir, &store_dir);
    assert_eq!(s1.blocks_added as usize, rpc1.blocks.len());
    assert_eq!(s1.blocks_rolled_back, 0);
    assert_eq!(rpc1.stale_blocks, 1, "build_chain's reorg");
    let fingerprint1 = {
        let store = Store::open(&store_dir, CHAIN).unwrap();
        let done = compare(&store, &rpc1, &s1);
        log.push(("first ingest", done));
        assert_not_stored(&store, &stale1);
        store.fingerprint()
    };
    // Nothing new: a no-op.
    let again = run_ingest(&blocks_dir, &store_dir);
    assert_eq!((again.blocks_added, again.blocks_rolled_back), (0, 0));
    assert_eq!(again.tip_hash, rpc1.tip);
    assert_eq!(
        Store::open(&store_dir, CHAIN).unwrap().fingerprint(),
        fingerprint1
    );
    assert_eq!(fresh_fingerprint(&blocks_dir), fingerprint1);

    // 2. More blocks, appended.
    node.restart().unwrap();
    assert_eq!(node_tip(&node), rpc1.tip);
    let new_blocks = extend_chain(&node);
    assert!(new_blocks >= 10, "{new_blocks}");
    let rpc2 = fetch(&node, &mut cache);
    let unused: Vec<String> = ["legacy", "p2sh-segwit", "bech32"]
        .iter()
        .map(|kind| node.new_address(kind).unwrap())
        .collect();
    node.stop().unwrap();
    let s2 = run_ingest(&blocks_dir, &store_dir);
    assert_eq!(s2.blocks_added as u64, new_blocks);
    assert_eq!(s2.blocks_rolled_back, 0);
    // Outputs that were unspent at the first ingest and are spent now.
    let after = unspent(&rpc2);
    let mut newly_spent: BTreeMap<String, usize> = BTreeMap::new();
    for (op, rpc_type) in unspent(&rpc1) {
        if !after.contains_key(&op) {
            *newly_spent.entry(rpc_type).or_default() += 1;
        }
    }
    for t in ["pubkeyhash", "scripthash", "witness_v0_keyhash"] {
        let n = newly_spent.get(t).copied().unwrap_or(0);
        assert!(n >= 2, "{n} old {t} outputs spent: {newly_spent:?}");
    }
    {
        let store = Store::open(&store_dir, CHAIN).unwrap();
        let done = compare(&store, &rpc2, &s2);
        log.push(("second ingest", done));
        for address in &unused {
            let key = AddrKey::parse(address, CHAIN).unwrap();
            assert!(store.address_view(&key).is_none(), "unused {address}");
        }
        assert_eq!(store.fingerprint(), fresh_fingerprint(&blocks_dir));
    }

    // 3. A reorg of depth 2 replaced by a longer branch.
    node.restart().unwrap();
    let parent = str_of(&rpc2.blocks[rpc2.blocks.len() - 2]["hash"]);
    rpc(&node, "invalidateblock", json!([parent]));
    let stale3: Vec<Value> = rpc2.blocks[rpc2.blocks.len() - 2..]
        .iter()
        .map(|b| rpc(&node, "getblock", json!([b["hash"], 1])))
        .collect();
    node.generate(3).unwrap();
    let rpc3 = fetch(&node, &mut cache);
    assert_eq!(rpc3.blocks.len(), rpc2.blocks.len() + 1);
    assert_eq!(rpc3.stale_blocks, rpc2.stale_blocks + 2);
    // The undone blocks' txs are mined again on the new branch.
    for rb in &rpc2.blocks[rpc2.blocks.len() - 2..] {
        for tx in &rb["tx"].as_array().unwrap()[1..] {
            let txid = &tx["txid"];
            assert!(
                rpc3.blocks[rpc2.blocks.len() - 2..].iter().any(|b| b["tx"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| &t["txid"] == txid)),
                "{txid} not re-mined"
            );
        }
    }
    node.stop().unwrap();
    let s3 = run_ingest(&blocks_dir, &store_dir);
    assert_eq!((s3.blocks_rolled_back, s3.blocks_added), (2, 3));
    {
        let store = Store::open(&store_dir, CHAIN).unwrap();
        let done = compare(&store, &rpc3, &s3);
        log.push(("after the reorg", done));
        assert_not_stored(&store, &stale1);
        assert_not_stored(&store, &stale3);
        assert_eq!(store.fingerprint(), fresh_fingerprint(&blocks_dir));
    }

    // Coverage of the comparison itself.
    for (when, done) in &log {
        assert!(done.blocks > 438 && done.txs >= 480, "{when}: {done:#?}");
        assert!(
            done.inputs - done.coinbase_inputs >= 60,
            "{when}: {done:#?}"
        );
        assert!(done.spent_outputs >= 60, "{when}: {done:#?}");
        let count = |t: &str| done.address_types.get(t).copied().unwrap_or_default();
        // Wallet kinds (legacy, p2sh-segwit, bech32) received and spent from; taproot
        // (bech32m) and unknown witness versions only received.
        for t in ["pubkeyhash", "scripthash", "witness_v0_keyhash"] {
            assert!(count(t).1 >= 5, "{when}: {t}: {done:#?}");
        }
        assert!(count("witness_v0_scripthash").1 >= 1, "{when}: {done:#?}");
        assert!(count("witness_v1_taproot").0 >= 3, "{when}: {done:#?}");
        for t in [
            "pubkey",
            "multisig",
            "nonstandard",
            "witness_unknown",
            "nulldata",
        ] {
            assert!(count(t).0 >= 1, "{when}: {t}: {done:#?}");
        }
        for t in ["witness_mweb_pegin", "witness_mweb_hogaddr"] {
            assert!(count(t).1 >= 2, "{when}: {t}: {done:#?}");
        }
    }
    let (_, last) = &log[2];
    assert!(last.address_types["witness_v1_taproot"].0 >= 8, "{last:#?}");
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "old outputs spent after the first ingest: {newly_spent:?}; {log:#?}; in {:.1?}",
            started.elapsed()
        );
    }
}
