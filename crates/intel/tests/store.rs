//! The tag store on small hand-written sources: header inheritance, confidence names and
//! tables, testnet packs, invalid addresses with file and line, bad files, load speed.

use chainwatch_intel::{IntelError, SourceKind, TagStore};
use chainwatch_types::Chain;
use std::path::Path;
use std::time::Instant;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const PACK: &str = "\
title: DPRK test pack
creator: chainwatch tests
description: hand-written
currency: BTC
label: Lazarus group
confidence: authority_data
category: user
abuse: sanction
actor: lazarusgroup
lastmod: 2024-01-01
source: https://example.org/advisory
tags:
- address: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
- address: 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy
  label: Overridden label
  confidence: web_crawl
- address: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
  currency: ETH
  confidence: 85
- address: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD'
  currency: ETH
- address: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb
- address: XnPFsRWTaSgiVauosEwQ6dEitGYXgwznz2
  currency: DASH
- address: some-unknown-format
  currency: ADA
";

#[test]
fn handwritten_pack_inheritance_confidence_and_invalid_lines() {
    let dir = tempfile::tempdir().unwrap();
    let pack = write(dir.path(), "pack.yaml", PACK);
    let mut store = TagStore::open(dir.path().join("tags")).unwrap();
    let r = store.import(&pack).unwrap();
    assert_eq!(r.kind, SourceKind::TagPack);
    assert_eq!((r.tags, r.unvalidated), (5, 1), "{r:#?}");

    let t = &store.tags_for("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")[0];
    assert_eq!(t.label, "Lazarus group");
    assert_eq!(t.category.as_deref(), Some("user"));
    assert_eq!(t.abuse.as_deref(), Some("sanction"));
    assert_eq!(t.actor.as_deref(), Some("lazarusgroup"));
    assert_eq!(t.lastmod.as_deref(), Some("2024-01-01"));
    assert_eq!(t.reference.as_deref(), Some("https://example.org/advisory"));
    assert_eq!(t.pack.as_deref(), Some("DPRK test pack"));
    assert_eq!(
        (t.confidence, t.confidence_name.as_deref()),
        (Some(60), Some("authority_data"))
    );
    assert_eq!(t.chain, Some(Chain::Bitcoin));
    assert_eq!(t.line, Some(13));

    let t = &store.tags_for("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")[0];
    assert_eq!(t.label, "Overridden label");
    assert_eq!(
        (t.confidence, t.confidence_name.as_deref()),
        (Some(20), Some("web_crawl"))
    );
    let t = &store.tags_for("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED")[0];
    assert_eq!((t.asset.as_str(), t.confidence), ("ETH", Some(85)));
    assert_eq!(t.address, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
    let dash = &store.tags_for("XnPFsRWTaSgiVauosEwQ6dEitGYXgwznz2")[0];
    assert!(
        dash.validated,
        "DASH is checked by its base58check version byte"
    );
    let ada = &store.tags_for("some-unknown-format")[0];
    assert!(
        !ada.validated,
        "an asset that cannot be checked is kept, marked"
    );

    // Invalid: the EIP-55 mismatch (line 20) and the bad base58 checksum (line 22).
    let inv: Vec<(Option<usize>, &str)> = r
        .invalid
        .iter()
        .map(|i| (i.line, i.reason.as_str()))
        .collect();
    assert_eq!(inv.len(), 2, "{inv:?}");
    assert_eq!(inv[0].0, Some(20));
    assert!(inv[0].1.contains("EIP-55"));
    assert_eq!(inv[1].0, Some(22));
    assert!(inv[1].1.contains("checksum"));
    assert!(r.invalid.iter().all(|i| i.file.ends_with("pack.yaml")));
}

#[test]
fn confidence_csv_is_the_table_and_testnet_packs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write(
        &src,
        "a_pack.yaml",
        "title: t\ncreator: c\nlabel: l\ncurrency: BTC\nnetwork: bitcoin-testnet\nconfidence: house_rule\ntags:\n- address: tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx\n- address: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n",
    );
    // Sorted after the pack, but imported first.
    write(
        &src,
        "z_confidence.csv",
        "id,label,description,level\nhouse_rule,House rule,ours, 42\n",
    );
    write(&src, "README.md", "# notes\n");
    let mut store = TagStore::open(dir.path().join("tags")).unwrap();
    let s = store.import_paths(std::slice::from_ref(&src));
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(s.imported[0].kind, SourceKind::ConfidenceTable);
    let pack = &s.imported[1];
    assert_eq!(pack.tags, 1);
    // A mainnet address in a testnet pack is invalid, with its line.
    assert_eq!(pack.invalid.len(), 1);
    assert_eq!(pack.invalid[0].line, Some(9));
    let t = &store.tags_for("TB1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KXPJZSX")[0];
    assert_eq!(t.chain, Some(Chain::BitcoinTestnet));
    assert_eq!(
        (t.confidence, t.confidence_name.as_deref()),
        (Some(42), Some("house_rule"))
    );
    assert_eq!(store.confidence_table().level("house_rule"), Some(42));
    // Levels follow the table in force when the store is loaded.
    write(
        &src,
        "z_confidence.csv",
        "id,label,description,level\nhouse_rule,House rule,ours,43\n",
    );
    store.import(src.join("z_confidence.csv")).unwrap();
    let store = TagStore::open(dir.path().join("tags")).unwrap();
    let t = &store.tags_for("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")[0];
    assert_eq!(t.confidence, Some(43));
}

#[test]
fn bad_files_are_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = TagStore::open(dir.path().join("tags")).unwrap();
    let broken = write(
        dir.path(),
        "broken.yaml",
        "title: x\ntags:\n- address: [1, 2\n- b\n",
    );
    let e = store.import(&broken).unwrap_err();
    assert!(matches!(e, IntelError::Parse { line: Some(_), .. }), "{e}");
    assert!(e.to_string().contains("broken.yaml:"), "{e}");
    let readme = write(dir.path(), "README.md", "# x\n");
    assert!(matches!(
        store.import(&readme),
        Err(IntelError::NotASource { .. })
    ));
    let sdn = write(dir.path(), "sdn.csv", "1,\"A\",-0- ,\"X\",-0- \r\n");
    let e = store.import(&sdn).unwrap_err().to_string();
    assert!(e.contains("sdn.csv:1") && e.contains("fields"), "{e}");
    let missing = dir.path().join("nope.yaml");
    assert!(matches!(store.import(&missing), Err(IntelError::Io { .. })));
    let s = store.import_paths(&[missing, broken]);
    assert_eq!(s.failed.len(), 2);
    assert_eq!(store.tag_count(), 0);
}

#[test]
fn loading_fifty_thousand_tags_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut pack = String::from(
        "title: big\ncreator: c\nlabel: l\ncurrency: ETH\nconfidence: service_data\ncategory: exchange\nactor: huobi\nsource: https://example.org/x\ntags:\n",
    );
    for i in 0..50_000u64 {
        pack.push_str(&format!("- address: '0x{:040x}'\n", i * 7919 + 1));
    }
    let p = write(dir.path(), "big.yaml", &pack);
    let mut store = TagStore::open(dir.path().join("tags")).unwrap();
    assert_eq!(store.import(&p).unwrap().tags, 50_000);
    let start = Instant::now();
    let store = TagStore::open(dir.path().join("tags")).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(store.tag_count(), 50_000);
    assert_eq!(store.tags_for(&format!("0x{:040x}", 7919 + 1)).len(), 1);
    // Well under 100 ms in release builds; the bound leaves room for debug builds and
    // a loaded CI machine.
    assert!(elapsed.as_millis() < 1500, "loading took {elapsed:?}");
}
