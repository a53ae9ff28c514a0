//! End-to-end: simulate small chains, then re-read the blk files with an independent
//! framing reader and `chainwatch_chain::BlockRef`, and check consensus rules and the
//! ground truth against what is actually in the chain.

use chainwatch_chain::{from_hex, sha256d, to_hex, BlockRef, Hash32, TxRef};
use chainwatch_sim::{run, SimConfig, SimSummary};
use chainwatch_types::{Address, Chain};
use ripemd::Ripemd160;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        blocks: 220,
        txs: 9_000,
        ..SimConfig::default()
    }
}

fn simulate(cfg: &SimConfig, dir: &Path) -> SimSummary {
    let mut calls = 0u32;
    let mut last = (0, 0);
    let s = run(cfg, dir, &mut |a, b| {
        calls += 1;
        last = (a, b);
    })
    .expect("simulation runs");
    assert_eq!(calls, cfg.blocks);
    assert_eq!(last, (cfg.blocks, cfg.blocks));
    s
}

/// Reads every block record of `dir/blocks`, undoing the XOR obfuscation if any.
fn read_records(dir: &Path, magic: [u8; 4]) -> Vec<Vec<u8>> {
    let blocks = dir.join("blocks");
    let key: [u8; 8] = match std::fs::read(blocks.join("xor.dat")) {
        Ok(k) => k.try_into().expect("8-byte xor.dat"),
        Err(_) => [0; 8],
    };
    let mut names: Vec<String> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("blk"))
        .collect();
    names.sort();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(n, &format!("blk{i:05}.dat"));
    }
    let mut out = Vec::new();
    for n in names {
        let mut raw = std::fs::read(blocks.join(n)).unwrap();
        for (i, b) in raw.iter_mut().enumerate() {
            *b ^= key[i % 8];
        }
        let mut pos = 0;
        while pos < raw.len() {
            assert_eq!(raw[pos..pos + 4], magic, "record magic at {pos}");
            let len = u32::from_le_bytes(raw[pos + 4..pos + 8].try_into().unwrap()) as usize;
            out.push(raw[pos + 8..pos + 8 + len].to_vec());
            pos += 8 + len;
        }
    }
    out
}

fn target(bits: u32) -> [u8; 32] {
    let exp = (bits >> 24) as i32;
    let mant = bits & 0x7f_ffff;
    let mut t = [0u8; 32];
    for i in 0..3 {
        let byte = (mant >> (8 * (2 - i))) as u8;
        let pos = 32 - exp + i;
        if (0..32).contains(&pos) {
            t[pos as usize] = byte;
        }
    }
    t
}

fn my_merkle(mut level: Vec<Hash32>) -> Hash32 {
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(*level.last().unwrap());
        }
        level = level
            .chunks(2)
            .map(|p| {
                let mut b = p[0].to_vec();
                b.extend_from_slice(&p[1]);
                sha256d(&b)
            })
            .collect();
    }
    level[0]
}

fn hash160(d: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(d)).into()
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
enum Ty {
    P2pkh,
    P2sh,
    P2wpkh,
    P2wsh,
    P2tr,
    OpReturn,
    Other,
}

fn classify(s: &[u8]) -> Ty {
    match s {
        [0x76, 0xa9, 0x14, .., 0x88, 0xac] if s.len() == 25 => Ty::P2pkh,
        [0xa9, 0x14, .., 0x87] if s.len() == 23 => Ty::P2sh,
        [0x00, 0x14, ..] if s.len() == 22 => Ty::P2wpkh,
        [0x00, 0x20, ..] if s.len() == 34 => Ty::P2wsh,
        [0x51, 0x20, ..] if s.len() == 34 => Ty::P2tr,
        [0x6a, ..] => Ty::OpReturn,
        _ => Ty::Other,
    }
}

fn is_der_sig(s: &[u8]) -> bool {
    (s.len() == 71 || s.len() == 72) && s[0] == 0x30 && s[1] as usize == s.len() - 3
}

/// Witness items of input `i` of a segwit tx (re-parsed here from the raw bytes).
fn witnesses(tx: &TxRef) -> Vec<Vec<Vec<u8>>> {
    if tx.flags & 1 == 0 {
        return vec![Vec::new(); tx.n_inputs];
    }
    let owned = chainwatch_chain::Tx::decode(tx.raw).unwrap().0;
    owned.inputs.into_iter().map(|i| i.witness).collect()
}

/// Checks an input's scriptSig/witness against the script it spends.
fn check_spend(spk: &[u8], script_sig: &[u8], wit: &[Vec<u8>]) {
    match classify(spk) {
        Ty::P2pkh => {
            let sl = script_sig[0] as usize;
            assert!(is_der_sig(&script_sig[1..1 + sl]));
            assert_eq!(script_sig[1 + sl], 33);
            let pk = &script_sig[2 + sl..];
            assert_eq!(pk.len(), 33);
            assert_eq!(&spk[3..23], &hash160(pk));
            assert!(wit.is_empty());
        }
        Ty::P2sh => {
            assert_eq!(script_sig.len(), 23);
            assert_eq!(script_sig[0], 22);
            let redeem = &script_sig[1..];
            assert_eq!(&spk[2..22], &hash160(redeem));
            assert_eq!(&redeem[..2], &[0, 20]);
            assert_eq!(wit.len(), 2);
            assert!(is_der_sig(&wit[0]));
            assert_eq!(&redeem[2..], &hash160(&wit[1]));
        }
        Ty::P2wpkh => {
            assert!(script_sig.is_empty());
            assert_eq!(wit.len(), 2);
            assert!(is_der_sig(&wit[0]));
            assert_eq!(wit[1].len(), 33);
            assert_eq!(&spk[2..], &hash160(&wit[1]));
        }
        Ty::P2wsh => {
            assert!(script_sig.is_empty());
            assert_eq!(wit.len(), 4);
            assert!(wit[0].is_empty());
            assert!(is_der_sig(&wit[1]) && is_der_sig(&wit[2]));
            let ws = &wit[3];
            assert_eq!(&spk[2..], Sha256::digest(ws).as_slice());
            assert_eq!(
                (ws[0], ws[ws.len() - 2], ws[ws.len() - 1]),
                (0x52, 0x53, 0xae)
            );
        }
        Ty::P2tr => {
            assert!(script_sig.is_empty());
            assert_eq!(wit.len(), 1);
            assert_eq!(wit[0].len(), 64);
        }
        t => panic!("spends an unspendable {t:?} output"),
    }
}

fn subsidy(h: u32) -> u64 {
    let halvings = h / 150;
    if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    }
}

/// What the independent validation learned about the main chain.
struct ChainView {
    /// Main-chain block hashes, genesis first.
    hashes: Vec<Hash32>,
    /// All block hashes in the files (main and stale) with their parent.
    parents: HashMap<Hash32, Hash32>,
    /// Every main-chain transaction's outputs: (value, script).
    outputs: HashMap<Hash32, Vec<(u64, Vec<u8>)>>,
    /// Every main-chain transaction's spent outpoints.
    inputs: HashMap<Hash32, Vec<(Hash32, u32)>>,
    /// Which tx spent an outpoint.
    spent_by: HashMap<(Hash32, u32), Hash32>,
    /// All output scripts in the main chain.
    scripts: HashSet<Vec<u8>>,
    /// Output type counts.
    types: BTreeMap<Ty, usize>,
    tx_count: u64,
}

/// Re-parses the files and validates the best chain; returns what it saw.
fn validate(dir: &Path, chain: Chain) -> ChainView {
    let records = read_records(dir, chain.magic());
    let mut by_hash: HashMap<Hash32, usize> = HashMap::new();
    let mut parents = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let b = BlockRef::parse(r).expect("block parses");
        let consumed: usize =
            80 + varint_len(b.txs.len() as u64) + b.txs.iter().map(|t| t.raw.len()).sum::<usize>();
        assert_eq!(consumed, r.len(), "no trailing bytes");
        assert!(by_hash.insert(b.hash(), i).is_none(), "duplicate block");
        parents.insert(b.hash(), b.header().prev_hash);
    }
    // Heights from parent links (works whatever the file order).
    let mut height: HashMap<Hash32, u32> = HashMap::new();
    let genesis: Vec<Hash32> = parents
        .iter()
        .filter(|(_, p)| **p == [0; 32])
        .map(|(h, _)| *h)
        .collect();
    assert_eq!(genesis.len(), 1, "exactly one genesis");
    height.insert(genesis[0], 0);
    loop {
        let mut changed = false;
        for (h, p) in &parents {
            if !height.contains_key(h) {
                if let Some(&ph) = height.get(p) {
                    height.insert(*h, ph + 1);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    assert_eq!(
        height.len(),
        parents.len(),
        "every block connects to genesis"
    );
    let best = *height.values().max().unwrap();
    let tips: Vec<Hash32> = height
        .iter()
        .filter(|(_, &v)| v == best)
        .map(|(h, _)| *h)
        .collect();
    assert_eq!(
        tips.len(),
        1,
        "a unique best tip (stale branches are shorter)"
    );
    let mut hashes = vec![tips[0]];
    while parents[hashes.last().unwrap()] != [0; 32] {
        let p = parents[hashes.last().unwrap()];
        hashes.push(p);
    }
    hashes.reverse();

    // Unspent outputs: value, script, height, from a coinbase.
    type Coin = (u64, Vec<u8>, u32, bool);
    let mut utxo: HashMap<(Hash32, u32), Coin> = HashMap::new();
    let mut view = ChainView {
        hashes: hashes.clone(),
        parents,
        outputs: HashMap::new(),
        inputs: HashMap::new(),
        spent_by: HashMap::new(),
        scripts: HashSet::new(),
        types: BTreeMap::new(),
        tx_count: 0,
    };
    let mut prev_time = 0;
    for (h, bh) in hashes.iter().enumerate() {
        let h = h as u32;
        let raw = &records[by_hash[bh]];
        let b = BlockRef::parse(raw).unwrap();
        let hd = b.header();
        assert_eq!(hd.bits, 0x207f_ffff);
        assert_eq!(hd.version, 0x2000_0000);
        let mut be = b.hash();
        be.reverse();
        assert!(be <= target(hd.bits), "proof of work at {h}");
        assert!(hd.time > prev_time, "time increases");
        prev_time = hd.time;
        if h > 0 {
            assert_eq!(hd.prev_hash, hashes[h as usize - 1]);
        }
        let txids: Vec<Hash32> = b.txs.iter().map(|t| t.txid()).collect();
        assert_eq!(
            my_merkle(txids.clone()),
            hd.merkle_root,
            "merkle root at {h}"
        );
        assert!(b.txs[0].is_coinbase());
        // BIP34 (heights > 16 push little-endian bytes; 1..=16 use OP_N).
        let cb_in = b.txs[0].inputs().next().unwrap();
        if h > 16 {
            let n = cb_in.script_sig[0] as usize;
            let mut v = [0u8; 4];
            v[..n].copy_from_slice(&cb_in.script_sig[1..1 + n]);
            assert_eq!(u32::from_le_bytes(v), h);
        } else if h > 0 {
            assert_eq!(cb_in.script_sig[0], 0x50 + h as u8);
        }
        // BIP141 witness commitment.
        if h > 0 {
            let mut w: Vec<Hash32> = vec![[0; 32]];
            w.extend(b.txs[1..].iter().map(|t| sha256d(t.raw)));
            let mut buf = my_merkle(w).to_vec();
            buf.extend_from_slice(&[0; 32]);
            let commit = sha256d(&buf);
            let found = b.txs[0]
                .outputs()
                .any(|o| o.script_pubkey.len() == 38 && o.script_pubkey[6..] == commit);
            assert!(found, "witness commitment at {h}");
        }
        let mut fees = 0u64;
        for (ti, tx) in b.txs.iter().enumerate() {
            let txid = txids[ti];
            view.tx_count += 1;
            if ti > 0 {
                assert!(!tx.is_coinbase());
                let wits = witnesses(tx);
                let mut sum_in = 0u64;
                let mut ins = Vec::new();
                let all_final = tx.inputs().all(|i| i.sequence == u32::MAX);
                if !all_final {
                    assert!(tx.lock_time < h, "lock time final");
                }
                for (k, i) in tx.inputs().enumerate() {
                    let op = (*i.prev_txid, i.prev_vout);
                    let (v, spk, at, cb) = utxo.remove(&op).unwrap_or_else(|| {
                        panic!("{}:{} missing or double spent", to_hex(&op.0), op.1)
                    });
                    if cb {
                        assert!(h - at >= 100, "coinbase maturity");
                    }
                    check_spend(&spk, i.script_sig, &wits[k]);
                    sum_in += v;
                    ins.push(op);
                    view.spent_by.insert(op, txid);
                }
                let sum_out: u64 = tx.outputs().map(|o| o.value).sum();
                assert!(sum_in >= sum_out, "value conserved");
                fees += sum_in - sum_out;
                view.inputs.insert(txid, ins);
            }
            let mut outs = Vec::new();
            for (vout, o) in tx.outputs().enumerate() {
                let ty = classify(o.script_pubkey);
                assert_ne!(ty, Ty::Other);
                *view.types.entry(ty).or_default() += 1;
                if ty != Ty::OpReturn {
                    assert!(o.value >= 546 || ti == 0, "no dust outputs");
                    view.scripts.insert(o.script_pubkey.to_vec());
                    if h > 0 {
                        utxo.insert(
                            (txid, vout as u32),
                            (o.value, o.script_pubkey.to_vec(), h, ti == 0),
                        );
                    }
                }
                outs.push((o.value, o.script_pubkey.to_vec()));
            }
            assert!(view.outputs.insert(txid, outs).is_none(), "duplicate txid");
        }
        let cb_out: u64 = b.txs[0].outputs().map(|o| o.value).sum();
        assert!(cb_out <= subsidy(h) + fees, "coinbase value at {h}");
    }
    view
}

fn varint_len(v: u64) -> usize {
    match v {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn load_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn txid_list(v: &Value) -> Vec<Hash32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| from_hex(s.as_str().unwrap()).unwrap())
        .collect()
}

/// Checks truth.json, incident.json and tags.yaml against the chain.
fn check_truth(dir: &Path, view: &ChainView, chain: Chain) {
    let truth = load_json(&dir.join("truth.json"));
    let tip = from_hex(truth["tip_hash"].as_str().unwrap()).unwrap();
    assert_eq!(&tip, view.hashes.last().unwrap());
    assert_eq!(
        truth["height"].as_u64().unwrap(),
        view.hashes.len() as u64 - 1
    );
    assert_eq!(truth["tx_count"].as_u64().unwrap(), view.tx_count);

    // Entities: every address decodes to a script in the chain; none is owned twice.
    let mut owner: HashMap<Vec<u8>, String> = HashMap::new();
    let ents = truth["entities"].as_object().unwrap();
    for (name, addrs) in ents {
        for a in addrs.as_array().unwrap() {
            let s = a.as_str().unwrap();
            let spk = Address::decode(s, chain).unwrap().script_pubkey();
            assert!(
                view.scripts.contains(&spk),
                "{name}'s {s} is not in the chain"
            );
            if let Some(o) = owner.insert(spk, name.clone()) {
                panic!("{s} owned by {o} and {name}");
            }
        }
    }
    let exchanges = [
        "coinhaven",
        "bitmarket",
        "kryptex",
        "hanbit",
        "vaultix",
        "satbank",
    ];
    for e in exchanges.iter().chain(&["mixer", "thief"]) {
        assert!(ents.contains_key(*e), "entity {e}");
    }
    let of = |spk: &[u8]| owner.get(spk).map(String::as_str).unwrap_or("?");

    // Theft.
    let theft = &truth["theft"];
    let victim = theft["victim"].as_str().unwrap();
    assert!(exchanges.contains(&victim));
    let theft_txids = txid_list(&theft["txids"]);
    assert!(!theft_txids.is_empty());
    let mut total = 0;
    let mut outs = Vec::new();
    for t in &theft_txids {
        for op in &view.inputs[t] {
            let spk = &view.outputs[&op.0][op.1 as usize].1;
            assert_eq!(of(spk), victim, "theft spends the victim's coins");
        }
        for (i, (v, spk)) in view.outputs[t].iter().enumerate() {
            assert_eq!(of(spk), "thief");
            total += v;
            outs.push(format!("{}:{i}", to_hex(t)));
        }
    }
    assert_eq!(theft["total_sats"].as_u64().unwrap(), total);
    let listed: Vec<String> = theft["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, outs);
    let incident = load_json(&dir.join("incident.json"));
    assert_eq!(incident["victim"], theft["victim"]);
    assert_eq!(incident["txids"], theft["txids"]);
    assert_eq!(incident["outputs"], theft["outputs"]);

    // Stolen deposits: totals are the listed txs' outputs to that exchange, and every such
    // output was swept into the exchange's own wallet.
    let mut cat_totals: BTreeMap<&str, u64> = BTreeMap::new();
    for (ex, cats) in truth["stolen_deposits"].as_object().unwrap() {
        assert!(exchanges.contains(&ex.as_str()));
        assert_ne!(ex, victim);
        for cat in ["peel", "after_mixer", "after_coinjoin"] {
            let d = &cats[cat];
            let mut sum = 0;
            for t in txid_list(&d["txids"]) {
                let outs = &view.outputs[&t];
                let mut paid = false;
                for (i, (v, spk)) in outs.iter().enumerate() {
                    if of(spk) == ex {
                        sum += v;
                        paid = true;
                        let sweep = view.spent_by.get(&(t, i as u32)).expect("deposit swept");
                        for (_, s2) in &view.outputs[sweep] {
                            assert_eq!(of(s2), ex, "sweep stays in {ex}");
                        }
                    }
                }
                assert!(paid, "{cat} tx pays {ex}");
                // Funded by the thief, or (mixer payouts) by the mixer.
                let from: HashSet<&str> = view.inputs[&t]
                    .iter()
                    .map(|op| of(&view.outputs[&op.0][op.1 as usize].1))
                    .collect();
                let ok = from == HashSet::from(["thief"])
                    || (cat == "after_mixer" && from == HashSet::from(["mixer"]));
                assert!(ok, "{cat} deposit funded by {from:?}");
            }
            assert_eq!(d["sats"].as_u64().unwrap(), sum, "{ex} {cat}");
            *cat_totals.entry(cat).or_default() += sum;
        }
    }
    for cat in ["peel", "after_mixer", "after_coinjoin"] {
        assert!(cat_totals[cat] > 0, "some stolen funds deposited {cat}");
    }

    // Peel chains: 1-in/2-out links, each spending the previous one.
    let chains = truth["peel_chains"].as_array().unwrap();
    assert!(chains.len() >= 3);
    let mut long = 0;
    for c in chains {
        let c = txid_list(c);
        if c.len() >= 5 {
            long += 1;
        }
        for (k, t) in c.iter().enumerate() {
            assert_eq!(view.inputs[t].len(), 1);
            assert!(view.outputs[t].len() <= 2);
            let prev = view.inputs[t][0];
            assert_eq!(of(&view.outputs[&prev.0][prev.1 as usize].1), "thief");
            if k > 0 {
                assert_eq!(prev.0, c[k - 1], "chain link");
            }
            let to_ex = view.outputs[t]
                .iter()
                .filter(|o| exchanges.contains(&of(&o.1)) && of(&o.1) != victim)
                .count();
            assert_eq!(to_ex, 1, "each peel pays one other exchange");
        }
    }
    assert!(long >= 3, "long peel chains");

    // CoinJoins: Whirlpool 5×5 equal or Wasabi ≥ 20 distinct owners.
    let cjs = txid_list(&truth["coinjoin_txids"]);
    let (mut whirl, mut wasabi) = (0, 0);
    for t in &cjs {
        let ins = &view.inputs[t];
        let owners: HashSet<&str> = ins
            .iter()
            .map(|op| of(&view.outputs[&op.0][op.1 as usize].1))
            .collect();
        let outs = &view.outputs[t];
        if ins.len() == 5 && outs.len() == 5 {
            assert!(outs.iter().all(|o| o.0 == outs[0].0));
            assert!([1_000_000, 5_000_000].contains(&outs[0].0));
            assert_eq!(owners.len(), 5);
            whirl += 1;
        } else {
            assert!(owners.len() >= 20, "wasabi owners {}", owners.len());
            let mut counts: HashMap<u64, usize> = HashMap::new();
            for o in outs {
                *counts.entry(o.0).or_default() += 1;
            }
            assert!(counts.values().filter(|&&c| c >= 2).count() >= 2, "tiers");
            wasabi += 1;
        }
    }
    assert!(
        whirl > 0 && wasabi > 0,
        "whirlpool {whirl}, wasabi {wasabi}"
    );
    let thief_cjs = txid_list(&truth["thief_coinjoin_txids"]);
    assert!(!thief_cjs.is_empty());
    for t in &thief_cjs {
        assert!(cjs.contains(t));
        assert!(view.inputs[t]
            .iter()
            .any(|op| of(&view.outputs[&op.0][op.1 as usize].1) == "thief"));
    }
    // Mixer deposits by the thief.
    let md = txid_list(&truth["mixer_deposit_txids"]);
    assert!(!md.is_empty());
    let all_md = txid_list(&truth["all_mixer_deposit_txids"]);
    for t in &md {
        assert!(all_md.contains(t));
        assert!(view.outputs[t].iter().any(|o| of(&o.1) == "mixer"));
        for op in &view.inputs[t] {
            assert_eq!(of(&view.outputs[&op.0][op.1 as usize].1), "thief");
        }
    }
    // Stale blocks are in the files but not in the main chain.
    let main: HashSet<Hash32> = view.hashes.iter().copied().collect();
    for s in txid_list(&truth["stale_blocks"]) {
        assert!(view.parents.contains_key(&s), "stale block in the files");
        assert!(!main.contains(&s));
    }

    // Tags: only exchange hot wallets and the mixer.
    let tags = std::fs::read_to_string(dir.join("tags.yaml")).unwrap();
    for key in [
        "title:",
        "creator:",
        "currency:",
        "network:",
        "confidence:",
        "source:",
    ] {
        assert!(tags.lines().any(|l| l.starts_with(key)), "tagpack {key}");
    }
    let mut tagged: HashSet<String> = HashSet::new();
    let mut hot: HashSet<Vec<u8>> = HashSet::new();
    for l in tags.lines() {
        if let Some(a) = l.strip_prefix("- address: ") {
            let spk = Address::decode(a, chain).unwrap().script_pubkey();
            let o = of(&spk);
            assert!(exchanges.contains(&o) || o == "mixer", "tag on {o}");
            tagged.insert(o.to_string());
            hot.insert(spk);
        }
    }
    assert_eq!(tagged.len(), exchanges.len() + 1);

    // Services behave as described: sweeps of several deposits into a tagged hot wallet,
    // batched withdrawals with change back to the exchange, mixer payouts from its pool.
    let (mut sweeps, mut withdrawals, mut payouts) = (0, 0, 0);
    for (t, ins) in &view.inputs {
        let outs = &view.outputs[t];
        let from: HashSet<&str> = ins
            .iter()
            .map(|op| of(&view.outputs[&op.0][op.1 as usize].1))
            .collect();
        if from.len() != 1 {
            continue;
        }
        let who = *from.iter().next().unwrap();
        let back = outs.iter().filter(|o| of(&o.1) == who).count();
        if outs.len() == 1 && ins.len() >= 3 && hot.contains(&outs[0].1) && back == 1 {
            sweeps += 1;
        }
        if exchanges.contains(&who) && back == 1 && outs.len() >= 3 {
            withdrawals += 1;
        }
        if who == "mixer" && outs.iter().any(|o| of(&o.1) != "mixer") {
            payouts += 1;
        }
    }
    assert!(sweeps >= 20, "{sweeps} sweeps");
    assert!(withdrawals >= 20, "{withdrawals} withdrawals");
    assert!(payouts >= 5, "{payouts} mixer payouts");
}

#[test]
fn small_chain_is_valid_and_matches_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small(11);
    let s = simulate(&cfg, dir.path());
    let view = validate(dir.path(), cfg.chain);
    assert_eq!(view.hashes.len() as u32, cfg.blocks);
    assert_eq!(s.txs, view.tx_count);
    assert_eq!(to_hex(view.hashes.last().unwrap()), s.tip_hash);
    assert!(
        s.txs > cfg.txs * 9 / 10 && s.txs < cfg.txs * 11 / 10,
        "{} txs for a target of {}",
        s.txs,
        cfg.txs
    );
    for ty in [
        Ty::P2pkh,
        Ty::P2sh,
        Ty::P2wpkh,
        Ty::P2wsh,
        Ty::P2tr,
        Ty::OpReturn,
    ] {
        assert!(
            view.types.get(&ty).copied().unwrap_or(0) > 20,
            "{ty:?}: {:?}",
            view.types
        );
    }
    check_truth(dir.path(), &view, cfg.chain);
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["", "blocks"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                let name = format!("{sub}/{}", e.file_name().to_string_lossy());
                out.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        blocks: 160,
        txs: 3_000,
        ..small(5)
    };
    simulate(&cfg, a.path());
    simulate(&cfg, b.path());
    let fa = files(a.path());
    assert!(fa.contains_key("/truth.json") && fa.contains_key("blocks/blk00000.dat"));
    assert_eq!(fa, files(b.path()));
    simulate(&SimConfig { seed: 6, ..cfg }, c.path());
    let fc = files(c.path());
    assert_ne!(fa["blocks/blk00000.dat"], fc["blocks/blk00000.dat"]);
    assert_ne!(fa["/truth.json"], fc["/truth.json"]);
}

#[test]
fn xor_shuffle_and_stale_keep_the_main_chain() {
    let plain = tempfile::tempdir().unwrap();
    let fancy = tempfile::tempdir().unwrap();
    let cfg = small(21);
    simulate(&cfg, plain.path());
    let fcfg = SimConfig {
        xor: true,
        shuffle_window: 16,
        stale: 9,
        ..cfg.clone()
    };
    simulate(&fcfg, fancy.path());
    let key = std::fs::read(fancy.path().join("blocks/xor.dat")).unwrap();
    assert_eq!(key.len(), 8);
    assert!(key.iter().any(|&b| b != 0));
    let raw = std::fs::read(fancy.path().join("blocks/blk00000.dat")).unwrap();
    assert_ne!(raw[..4], cfg.chain.magic(), "obfuscated");

    let v1 = validate(plain.path(), cfg.chain);
    let v2 = validate(fancy.path(), fcfg.chain);
    assert_eq!(v1.hashes, v2.hashes, "same main chain");
    assert_eq!(v2.parents.len(), v1.parents.len() + 9, "nine stale blocks");
    // Written out of order: some block precedes its parent on disk.
    let records = read_records(fancy.path(), fcfg.chain.magic());
    let order: Vec<Hash32> = records
        .iter()
        .map(|r| BlockRef::parse(r).unwrap().hash())
        .collect();
    let pos: HashMap<Hash32, usize> = order.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let early = order
        .iter()
        .filter(|h| pos.get(&v2.parents[*h]).is_some_and(|&p| p > pos[*h]))
        .count();
    assert!(early > 0, "children before parents");
    check_truth(fancy.path(), &v2, fcfg.chain);
    let t1 = load_json(&plain.path().join("truth.json"));
    let t2 = load_json(&fancy.path().join("truth.json"));
    assert_eq!(t1["theft"], t2["theft"]);
    assert_eq!(t1["entities"], t2["entities"]);
    assert_eq!(t2["stale_blocks"].as_array().unwrap().len(), 9);
}

#[test]
fn litecoin_regtest_uses_its_address_format() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        chain: Chain::LitecoinRegtest,
        blocks: 160,
        txs: 3_000,
        ..small(3)
    };
    simulate(&cfg, dir.path());
    let view = validate(dir.path(), cfg.chain);
    let truth = load_json(&dir.path().join("truth.json"));
    let thief = truth["entities"]["thief"].as_array().unwrap();
    assert!(thief
        .iter()
        .any(|a| a.as_str().unwrap().starts_with("rltc1")));
    assert_eq!(truth["chain"], "litecoin-regtest");
    assert!(std::fs::read_to_string(dir.path().join("tags.yaml"))
        .unwrap()
        .contains("currency: LTC"));
    assert_eq!(view.hashes.len(), 160);
}

#[test]
fn bad_configs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [
        SimConfig {
            blocks: 20,
            ..SimConfig::default()
        },
        SimConfig {
            txs: 10,
            ..SimConfig::default()
        },
        SimConfig {
            stale: 10_000,
            ..SimConfig::default()
        },
    ] {
        let e = run(&cfg, dir.path(), &mut |_, _| {}).unwrap_err();
        assert!(matches!(e, chainwatch_sim::SimError::BadConfig(_)), "{e}");
    }
}
