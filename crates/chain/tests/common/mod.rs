//! Shared by the tests that run a real Litecoin Core regtest node: JSON-RPC helpers and the
//! builder of a chain with every script type the 0.21.2 wallet and RPC can produce, MWEB
//! activation (peg-ins, an MWEB-to-MWEB transfer, peg-outs) and a reorg.
//!
//! Each test file uses a different part of it.
#![allow(dead_code)]

use chainwatch_chain::ingest::{ingest, IngestOptions, IngestSummary};
use chainwatch_chain::store::Store;
use chainwatch_chain::Hash32;
use chainwatch_testenv::{litoshis, ltc_string, Litecoind};
use chainwatch_types::Chain;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Height of the first block mined under MWEB rules on Litecoin regtest.
pub const MWEB_HEIGHT: u64 = 432;

pub fn rpc(node: &Litecoind, method: &str, params: Value) -> Value {
    node.rpc(method, params)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

pub fn pubkey_of(node: &Litecoind, address: &str) -> String {
    str_of(&rpc(node, "getaddressinfo", json!([address]))["pubkey"])
}

/// The address RPC shows for a raw scriptPubKey (`decodescript`), e.g. for taproot outputs the
/// 0.21.2 wallet cannot make itself.
pub fn address_of_script(node: &Litecoind, script_hex: &str) -> String {
    str_of(&rpc(node, "decodescript", json!([script_hex]))["addresses"][0])
}

pub fn generate_to_descriptor(node: &Litecoind, desc: &str) {
    let desc = str_of(&rpc(node, "getdescriptorinfo", json!([desc]))["descriptor"]);
    rpc(node, "generatetodescriptor", json!([1, desc]));
}

/// Builds, signs and sends a transaction spending `inputs` (txid, vout, litoshis, and for
/// outputs the wallet does not track, the scriptPubKey hex) to `n_out` fresh addresses of
/// rotating kinds, paying a fixed fee.
pub fn spend(
    node: &Litecoind,
    inputs: &[(String, u64, u64, Option<String>)],
    n_out: usize,
) -> String {
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
pub fn utxos_by_descriptor(node: &Litecoind) -> BTreeMap<String, Vec<(String, u64, u64)>> {
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
pub fn build_chain(node: &Litecoind) -> String {
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

/// Ingests a node's `blocks_dir` into `store_dir` (Litecoin regtest) and returns the summary.
pub fn run_ingest(blocks_dir: &Path, store_dir: &Path) -> IngestSummary {
    let opts = IngestOptions::new(blocks_dir, Chain::LitecoinRegtest, store_dir);
    let summary = ingest(&opts, &mut |_| {}).unwrap_or_else(|e| panic!("ingest: {e}"));
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    summary
}

/// The fingerprint of a fresh ingest of `blocks_dir` into a new directory: the independent
/// reference a store built any other way must equal.
pub fn fresh_fingerprint(blocks_dir: &Path) -> Hash32 {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    run_ingest(blocks_dir, &dir);
    let store = Store::open(&dir, Chain::LitecoinRegtest).unwrap();
    store.fingerprint()
}

pub fn node_tip(node: &Litecoind) -> String {
    str_of(&rpc(node, "getbestblockhash", json!([])))
}

pub fn block_hash(node: &Litecoind, height: u64) -> String {
    str_of(&rpc(node, "getblockhash", json!([height])))
}

/// The string chainwatch must show for an output, from RPC's `scriptPubKey` alone: the
/// address RPC gives for the address kinds (P2PKH, P2SH, witness v0, taproot; 0.21.2 puts it
/// in `addresses[0]`, newer nodes in `address`), `nulldata:<sha256 of the script>` for
/// `OP_RETURN`, and `script:<sha256 of the script>` for everything else: P2PK (no address),
/// bare multisig (RPC lists the keys' P2PKH addresses), unknown witness versions (RPC shows an
/// `rltc1z…` address), MWEB peg-in and HogAddr scripts, non-standard scripts.
pub fn expected_display(spk: &Value) -> String {
    let script = hex::decode(str_of(&spk["hex"])).expect("scriptPubKey hex");
    match str_of(&spk["type"]).as_str() {
        "pubkeyhash"
        | "scripthash"
        | "witness_v0_keyhash"
        | "witness_v0_scripthash"
        | "witness_v1_taproot" => match spk["address"].as_str() {
            Some(address) => address.to_string(),
            None => {
                let addresses = spk["addresses"].as_array().expect("addresses");
                assert_eq!(addresses.len(), 1, "{spk}");
                str_of(&addresses[0])
            }
        },
        "nulldata" => format!("nulldata:{}", hex::encode(Sha256::digest(&script))),
        _ => format!("script:{}", hex::encode(Sha256::digest(&script))),
    }
}
