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
use chainwatch_testenv::{litoshis, ltc_string, Litecoind};
use chainwatch_types::{AddrKey, AddrKind, Address, Chain};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

const CHAIN: Chain = Chain::LitecoinRegtest;

/// Height of the first block mined under MWEB rules on Litecoin regtest.
const MWEB_HEIGHT: u64 = 432;

fn rpc(node: &Litecoind, method: &str, params: Value) -> Value {
    node.rpc(method, params)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn pubkey_of(node: &Litecoind, address: &str) -> String {
    str_of(&rpc(node, "getaddressinfo", json!([address]))["pubkey"])
}

/// The address RPC shows for a raw scriptPubKey (`decodescript`), e.g. for taproot outputs the
/// 0.21.2 wallet cannot make itself.
fn address_of_script(node: &Litecoind, script_hex: &str) -> String {
    str_of(&rpc(node, "decodescript", json!([script_hex]))["addresses"][0])
}

fn generate_to_descriptor(node: &Litecoind, desc: &str) {
    let desc = str_of(&rpc(node, "getdescriptorinfo", json!([desc]))["descriptor"]);
    rpc(node, "generatetodescriptor", json!([1, desc]));
}

/// Builds, signs and sends a transaction spending `inputs` (txid, vout, litoshis, and for
/// outputs the wallet does not track, the scriptPubKey hex) to `n_out` fresh addresses of
/// rotating kinds, paying a fixed fee.
fn spend(node: &Litecoind, inputs: &[(String, u64, u64, Option<String>)], n_out: usize) -> String {
    const FEE: u64 = 100_000;
    const KINDS: [&str; 3] = ["legacy", "p2sh-segwit", "bech32"];
    let total: u64 = inputs.iter().map(|i| i.2).sum();
    let each = (total - FEE) / n_out as u64;
    let mut outputs = serde_json::Map::new();
    for i in 0..n_out {
        let value = if i == 0 {
            total - FEE - each * (n_out as u64 - 1)
        } else {
            each
        };
        let address = node.new_address(KINDS[i % KINDS.len()]).unwrap();
        outputs.insert(address, json!(ltc_string(value)));
    }
    let ins: Vec<Value> = inputs
        .iter()
        .map(|(txid, vout, _, _)| json!({"txid": txid, "vout": vout}))
        .collect();
    let raw = rpc(node, "createrawtransaction", json!([ins, outputs]));
    let prevtxs: Vec<Value> = inputs
        .iter()
        .filter_map(|(txid, vout, value, spk)| {
            spk.as_ref().map(|spk| {
                json!({"txid": txid, "vout": vout, "scriptPubKey": spk, "amount": ltc_string(*value)})
            })
        })
        .collect();
    let signed = rpc(node, "signrawtransactionwithwallet", json!([raw, prevtxs]));
    let complete = signed["complete"].as_bool() == Some(true);
    // An OP_TRUE input needs no signature but cannot be "completed" by the signer.
    let op_true_only = inputs.iter().all(|i| i.3.as_deref() == Some("51"));
    assert!(complete || op_true_only, "not fully signed: {signed}");
    str_of(&rpc(node, "sendrawtransaction", json!([signed["hex"]])))
}

/// Wallet UTXOs grouped by the start of their output descriptor (`pkh(`, `sh(wpkh(`, …).
fn utxos_by_descriptor(node: &Litecoind) -> BTreeMap<String, Vec<(String, u64, u64)>> {
    let mut groups: BTreeMap<String, Vec<(String, u64, u64)>> = BTreeMap::new();
    for u in rpc(node, "listunspent", json!([1])).as_array().unwrap() {
        let Some(desc) = u["desc"].as_str() else {
            continue; // MWEB coins have no descriptor
        };
        if u["spendable"].as_bool() != Some(true) {
            continue;
        }
        // "sh(wpkh([fingerprint/path]key))#checksum" -> "sh(wpkh("
        let end = desc
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '('))
            .unwrap_or(desc.len());
        let kind = desc[..end].to_string();
        groups.entry(kind).or_default().push((
            str_of(&u["txid"]),
            u["vout"].as_u64().unwrap(),
            litoshis(&u["amount"]).unwrap(),
        ));
    }
    groups
}

/// Drives the wallet through every kind of transaction it can make; returns the hash of the
/// block the final reorg made stale.
fn build_chain(node: &Litecoind) -> String {
    // Coinbases to scripts no address stands for, and to a P2PKH address.
    let k1 = pubkey_of(node, &node.new_address("legacy").unwrap());
    let k2 = pubkey_of(node, &node.new_address("legacy").unwrap());
    generate_to_descriptor(node, &format!("pk({k1})"));
    let p2pk_coinbase =
        json!([{"txid": rpc(node, "getblock", json!([node_tip(node), 1]))["tx"][0], "vout": 0}]);
    generate_to_descriptor(node, &format!("multi(1,{k1},{k2})"));
    rpc(node, "generatetodescriptor", json!([1, "raw(51)#8lvh9jxk"]));
    let op_true_coinbase = str_of(&rpc(node, "getblock", json!([node_tip(node), 1]))["tx"][0]);
    node.generate_to(1, &node.new_address("legacy").unwrap())
        .unwrap();
    node.generate_to(1, &node.new_address("p2sh-segwit").unwrap())
        .unwrap();
    node.generate(101).unwrap();
    // Keep the P2PK coin for an explicit spend below (coin selection would take it).
    rpc(node, "lockunspent", json!([false, p2pk_coinbase]));

    // Payments to every wallet address kind, several each, with varied amounts.
    for (i, kind) in ["legacy", "p2sh-segwit", "bech32"].iter().enumerate() {
        for j in 0..4u64 {
            let address = node.new_address(kind).unwrap();
            node.send(&address, 100_000_000 * (j + 1) + 12_345 * i as u64 + 1)
                .unwrap();
        }
    }
    // (A block now and then keeps the wallet's change chains under the mempool's limit of 25.)
    node.generate(1).unwrap();
    // Multisig scripts (P2SH, P2SH-P2WSH, P2WSH) the wallet can spend.
    for kind in ["legacy", "p2sh-segwit", "bech32"] {
        let ms = rpc(node, "addmultisigaddress", json!([1, [k1, k2], "", kind]));
        let address = str_of(&ms["address"]);
        for j in 1..=3u64 {
            node.send(&address, 50_000_000 * j).unwrap();
        }
    }
    // Taproot outputs and one of an unknown witness version (the wallet can pay, not spend).
    for i in 0..3u8 {
        let program = hex::encode(Sha256::digest([i]));
        let taproot = address_of_script(node, &format!("5120{program}"));
        assert!(taproot.starts_with("rltc1p"), "{taproot}");
        node.send(&taproot, 10_000_000 + u64::from(i)).unwrap();
    }
    let v2 = address_of_script(node, &format!("5220{}", hex::encode([7u8; 32])));
    node.send(&v2, 1_000_000).unwrap();
    node.generate(1).unwrap();
    // Several outputs in one tx, of mixed kinds.
    for round in 0..2u64 {
        let mut outs = serde_json::Map::new();
        for (i, kind) in ["legacy", "p2sh-segwit", "bech32", "bech32", "legacy"]
            .iter()
            .enumerate()
        {
            let value = 30_000_000 + 1_000 * i as u64 + round;
            outs.insert(node.new_address(kind).unwrap(), json!(ltc_string(value)));
        }
        rpc(node, "sendmany", json!(["", outs]));
    }
    // OP_RETURN outputs.
    for data in ["636861696e7761746368", "00"] {
        let raw = rpc(
            node,
            "createrawtransaction",
            json!([[], [{"data": data}, {node.new_address("bech32").unwrap(): "0.5"}]]),
        );
        let funded = rpc(node, "fundrawtransaction", json!([raw]));
        let signed = rpc(node, "signrawtransactionwithwallet", json!([funded["hex"]]));
        rpc(node, "sendrawtransaction", json!([signed["hex"]]));
    }
    node.generate(1).unwrap();

    // Spend each kind of wallet output, several inputs at a time where there are several.
    const MIXED: [&str; 3] = ["pkh(", "sh(wpkh(", "wpkh("];
    rpc(node, "lockunspent", json!([true, p2pk_coinbase]));
    let groups = utxos_by_descriptor(node);
    for kind in [
        "pkh(",
        "sh(wpkh(",
        "wpkh(",
        "sh(multi(",
        "sh(wsh(multi(",
        "wsh(multi(",
        "pk(",
    ] {
        let coins = groups
            .get(kind)
            .unwrap_or_else(|| panic!("no spendable {kind} coins: {groups:?}"));
        // The last coin of the single-key kinds is kept for the mixed spend below.
        let keep = usize::from(MIXED.contains(&kind));
        assert!(coins.len() > keep, "too few {kind} coins: {coins:?}");
        let inputs: Vec<_> = coins[..coins.len() - keep]
            .iter()
            .take(3)
            .map(|(t, v, a)| (t.clone(), *v, *a, None))
            .collect();
        spend(node, &inputs, 2);
    }
    // One tx mixing input kinds (legacy, nested and native segwit).
    let mixed: Vec<_> = MIXED
        .iter()
        .map(|k| {
            let (t, v, a) = groups[*k].last().unwrap().clone();
            (t, v, a, None)
        })
        .collect();
    spend(node, &mixed, 3);
    // The bare-multisig and OP_TRUE coinbases, which the wallet does not list.
    let multisig_cb = str_of(&rpc(node, "getblock", json!([block_hash(node, 2), 1]))["tx"][0]);
    let cb = rpc(node, "getrawtransaction", json!([multisig_cb, true]));
    let spk = str_of(&cb["vout"][0]["scriptPubKey"]["hex"]);
    let value = litoshis(&cb["vout"][0]["value"]).unwrap();
    spend(node, &[(multisig_cb, 0, value, Some(spk))], 1);
    let cb = rpc(node, "getrawtransaction", json!([op_true_coinbase, true]));
    let value = litoshis(&cb["vout"][0]["value"]).unwrap();
    spend(node, &[(op_true_coinbase, 0, value, Some("51".into()))], 1);
    node.generate(1).unwrap();

    // MWEB: activation needs a peg-in in the mempool for the first HogEx.
    let pegin = node.activate_mweb().unwrap();
    assert!(pegin.is_some(), "MWEB was active before height 432");
    assert_eq!(node.height().unwrap(), MWEB_HEIGHT);
    // More peg-ins next to ordinary payments: the HogEx spends the previous one and each peg-in.
    for i in 0..2u64 {
        node.send(&node.new_address("mweb").unwrap(), 200_000_000 + i)
            .unwrap();
    }
    node.send(&node.new_address("bech32").unwrap(), 70_000_000)
        .unwrap();
    node.generate(1).unwrap();
    // MWEB-only spends: lock every canonical coin so the wallet must use MWEB coins, then
    // pay an MWEB address (no canonical tx at all) and canonical addresses (peg-outs, which
    // appear as HogEx outputs).
    let canonical: Vec<Value> = rpc(node, "listunspent", json!([0]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["desc"].is_string())
        .map(|u| json!({"txid": u["txid"], "vout": u["vout"]}))
        .collect();
    rpc(node, "lockunspent", json!([false, canonical]));
    node.send(&node.new_address("mweb").unwrap(), 50_000_000)
        .unwrap();
    for kind in ["legacy", "bech32"] {
        node.send(&node.new_address(kind).unwrap(), 60_000_000)
            .unwrap();
    }
    node.generate(1).unwrap();
    rpc(node, "lockunspent", json!([true]));
    node.send(&node.new_address("p2sh-segwit").unwrap(), 80_000_000)
        .unwrap();
    node.generate(2).unwrap();

    // A reorg: the tip (with a payment in it) is replaced by a longer branch.
    node.send(&node.new_address("legacy").unwrap(), 90_000_000)
        .unwrap();
    node.generate(1).unwrap();
    let stale = node_tip(node);
    rpc(node, "invalidateblock", json!([stale]));
    node.generate(2).unwrap();
    stale
}

fn node_tip(node: &Litecoind) -> String {
    str_of(&rpc(node, "getbestblockhash", json!([])))
}

fn block_hash(node: &Litecoind, height: u64) -> String {
    str_of(&rpc(node, "getblockhash", json!([height])))
}

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
