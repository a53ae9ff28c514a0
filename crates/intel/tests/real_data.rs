//! Imports every file of the shared reference data (GraphSense TagPacks and ActorPack,
//! OFAC SDN.CSV, the 0xB10C per-asset lists, MISP galaxies) and checks exact counts that
//! were established independently of the importer (substring and line counts of the raw
//! files, and a Python base58check run over the lists).

use chainwatch_intel::{ImportReport, ImportSummary, SourceKind, TagStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        p.join("ofac-sdn-csv").is_dir(),
        "shared reference data not found at {}",
        p.display()
    );
    p
}

const DIRS: [&str; 4] = [
    "graphsense-tagpacks",
    "ofac-sdn-csv",
    "ofac-0xB10C-lists",
    "misp-galaxy",
];

fn import_all(store: &mut TagStore) -> ImportSummary {
    let dirs: Vec<PathBuf> = DIRS.iter().map(|d| shared().join(d)).collect();
    store.import_paths(&dirs)
}

fn by_file(summary: &ImportSummary) -> BTreeMap<String, &ImportReport> {
    summary
        .imported
        .iter()
        .map(|r| {
            let name = Path::new(&r.source)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, r)
        })
        .collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(shared().join(rel)).unwrap()
}

#[test]
fn imports_every_shared_file_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = TagStore::open(dir.path().join("tags")).unwrap();
    let summary = import_all(&mut store);
    assert!(summary.failed.is_empty(), "{:#?}", summary.failed);

    // Every file is imported or skipped with a reason.
    let skipped: BTreeMap<String, String> = summary
        .skipped
        .iter()
        .map(|s| {
            let rel = s
                .path
                .split("/shared/data/")
                .nth(1)
                .unwrap_or(&s.path)
                .to_string();
            (rel, s.reason.clone())
        })
        .collect();
    let expected_skips = [
        "graphsense-tagpacks/CITATION.cff",
        "graphsense-tagpacks/LICENSE",
        "graphsense-tagpacks/README.md",
        "graphsense-tagpacks/tagpack-tool-schema/LICENSE",
        "graphsense-tagpacks/tagpack-tool-schema/actorpack_schema.yaml",
        "graphsense-tagpacks/tagpack-tool-schema/concepts.yaml",
        "graphsense-tagpacks/tagpack-tool-schema/tag_types.csv",
        "graphsense-tagpacks/tagpack-tool-schema/tagpack_schema.yaml",
        "misp-galaxy/LICENSE.md",
        "misp-galaxy/galaxy-threat-actor.json",
        "ofac-0xB10C-lists/LICENSE",
        "ofac-0xB10C-lists/README.md",
    ];
    assert_eq!(
        skipped.keys().map(String::as_str).collect::<Vec<_>>(),
        expected_skips,
        "{skipped:#?}"
    );
    assert!(skipped.values().all(|r| !r.is_empty()));
    // 12 packs + actorpack + confidence.csv + SDN + 34 lists + 2 galaxies.
    assert_eq!(summary.imported.len(), 51);
    let files = by_file(&summary);
    assert_eq!(files["confidence.csv"].kind, SourceKind::ConfidenceTable);
    // The confidence table is imported before the packs that use it.
    assert_eq!(summary.imported[0].kind, SourceKind::ConfidenceTable);

    // --- OFAC SDN.CSV: 295 `Digital Currency Address - ` mentions, 204 of them XBT.
    let sdn_raw = std::fs::read(shared().join("ofac-sdn-csv/sdn_2024-05-03.csv")).unwrap();
    let count = |needle: &[u8]| {
        sdn_raw
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    };
    let xbt_mentions = count(b"Digital Currency Address - XBT");
    let all_mentions = count(b"Digital Currency Address - ");
    assert_eq!((xbt_mentions, all_mentions), (204, 295));
    let sdn = files["sdn_2024-05-03.csv"];
    assert_eq!(sdn.kind, SourceKind::OfacSdn);
    assert_eq!(sdn.tags + sdn.invalid.len(), all_mentions);
    assert_eq!(sdn.tags, 286);
    let btc_invalid = sdn.invalid.iter().filter(|i| i.asset == "BTC").count();
    // 7 XBT addresses cut off at the Remarks limit, 1 TRON address listed as XBT.
    assert_eq!((sdn.per_asset["BTC"], btc_invalid), (196, 8));
    assert_eq!(sdn.per_asset["BTC"] + btc_invalid, xbt_mentions);
    let expected_assets: BTreeMap<String, usize> = [
        ("ARB", 1),
        ("BCH", 2),
        ("BSC", 1),
        ("BTC", 196),
        ("BTG", 1),
        ("DASH", 3),
        ("ETC", 1),
        ("ETH", 49),
        ("LTC", 4),
        ("TRX", 4),
        ("USDC", 2),
        ("USDT", 17),
        ("XMR", 2),
        ("XVG", 1),
        ("ZEC", 2),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_string(), n))
    .collect();
    assert_eq!(sdn.per_asset, expected_assets);
    assert_eq!(sdn.unvalidated, 0);
    let cut: Vec<(usize, &str)> = sdn
        .invalid
        .iter()
        .filter(|i| {
            i.reason
                .starts_with("cut off by the 1000-character Remarks limit")
        })
        .map(|i| (i.line.unwrap(), i.address.as_str()))
        .collect();
    assert_eq!(
        cut,
        [
            (7807, "1Gq"),
            (8382, "1B64QRxf"),
            (8650, "3"),
            (9774, "1B11Ezqg3AXj"),
            (10133, "3F6bbvS1krsc1qR8FsbTDfYQyvkMm"),
            (10911, "1N6XqS"),
            (10918, ""),
        ]
    );
    // 18 entries have Remarks of exactly 1,000 characters (checked with Python's csv).
    assert_eq!(sdn.truncated.len(), 18);
    assert!(sdn.truncated.iter().all(|t| t.remarks_chars == 1000));
    let lazarus = sdn
        .truncated
        .iter()
        .find(|t| t.entity == "LAZARUS GROUP")
        .unwrap();
    assert_eq!((lazarus.line, lazarus.ent_num.as_str()), (6894, "27307"));
    let kimsuky = sdn
        .truncated
        .iter()
        .find(|t| t.entity == "KIMSUKY")
        .unwrap();
    assert_eq!(kimsuky.addresses_found, 0);
    assert!(sdn.warnings.iter().any(|w| w.contains("18 SDN entries")));

    // --- 0xB10C lists: every line is a tag or an invalid entry; .txt and .json agree.
    let lists_dir = shared().join("ofac-0xB10C-lists");
    let mut list_files = 0;
    for entry in std::fs::read_dir(&lists_dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".txt") else {
            continue;
        };
        list_files += 1;
        let lines = read(&format!("ofac-0xB10C-lists/{name}")).lines().count();
        let txt = files[&name];
        let json = files[&format!("{stem}.json")];
        assert_eq!(txt.kind, SourceKind::OfacList);
        assert_eq!(txt.tags + txt.invalid.len(), lines, "{name}");
        assert_eq!(
            (json.tags, json.invalid.len()),
            (txt.tags, txt.invalid.len())
        );
        assert_eq!(txt.unvalidated, 0, "{name}");
    }
    assert_eq!(list_files, 17);
    let xbt = files["sanctioned_addresses_XBT.txt"];
    assert_eq!((xbt.tags, xbt.invalid.len()), (434, 1));
    assert_eq!(xbt.invalid[0].address, "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq");
    assert_eq!(xbt.invalid[0].line, Some(355));
    assert!(xbt.invalid[0].reason.ends_with("it is a valid TRX address"));
    let xmr = files["sanctioned_addresses_XMR.txt"];
    assert_eq!((xmr.tags, xmr.invalid.len()), (2, 1));
    assert_eq!(xmr.invalid[0].line, Some(2));
    let usdt = files["sanctioned_addresses_USDT.txt"];
    assert_eq!(usdt.tags, 26);
    assert_eq!(files["sanctioned_addresses_ETH.txt"].tags, 152);

    // --- TagPacks: `- address:` lines = tags + invalid + exact duplicates.
    let packs = [
        ("binance_hack.yaml", 44, 0, 0),
        ("blender_io.yaml", 45, 0, 0),
        ("etherhiding.yaml", 2, 0, 0),
        ("hacks.yaml", 608, 0, 0),
        ("lazarus.yaml", 21, 0, 0),
        ("lazarus2.yaml", 6, 0, 0),
        // 3 XMR addresses cut short by the scraper, 1 TRON address as BTC.
        ("ofac.yaml", 568, 4, 0),
        ("ronin_bridge.yaml", 6, 0, 0),
        ("sinbad_io.yaml", 2, 0, 0),
        // One address listed twice (once with a trailing space).
        ("tornado_cash.yaml", 38, 0, 1),
        ("usdt_blacklist.yaml", 774, 0, 0),
        ("walletexplorer.yaml", 386, 0, 0),
    ];
    for (name, tags, invalid, dups) in packs {
        let text = read(&format!("graphsense-tagpacks/packs/{name}"));
        let lines = text.lines().filter(|l| l.starts_with("- address:")).count();
        let r = files[name];
        assert_eq!(r.kind, SourceKind::TagPack);
        assert_eq!((r.tags, r.invalid.len()), (tags, invalid), "{name}");
        assert_eq!(tags + invalid + dups, lines, "{name}");
        assert_eq!(r.unvalidated, 0, "{name}");
    }
    let ofac_pack = files["ofac.yaml"];
    let lines: Vec<usize> = ofac_pack.invalid.iter().map(|i| i.line.unwrap()).collect();
    assert_eq!(lines, [571, 801, 803, 1069]);
    assert!(ofac_pack
        .warnings
        .iter()
        .any(|w| w.contains("568 tag(s) have no confidence")));

    // --- Actors.
    let actorpack = read("graphsense-tagpacks/actors/graphsense.actorpack.yaml");
    let ids = actorpack.lines().filter(|l| l.starts_with("- id:")).count();
    assert_eq!(files["graphsense.actorpack.yaml"].actors, ids);
    assert_eq!(ids, 3813);
    let galaxy: serde_json::Value =
        serde_json::from_str(&read("misp-galaxy/threat-actor.json")).unwrap();
    let values = galaxy["values"].as_array().unwrap().len();
    assert_eq!(files["threat-actor.json"].actors, values);
    assert_eq!(values, 1041);
    // 191 intrusion sets, 6 revoked.
    assert_eq!(files["mitre-intrusion-set.json"].actors, 185);

    // Totals in the store.
    assert_eq!(store.tag_count(), 4090);
    assert_eq!(store.actors().count(), 3813 + 1041 + 185);
    assert_eq!(store.tags().filter(|t| !t.validated).count(), 0);
    // Every actor a tag points to is in the store.
    assert!(
        store.unresolved_actors().is_empty(),
        "{:?}",
        store.unresolved_actors()
    );
}

#[test]
fn reimport_is_idempotent_and_lookups_work() {
    let dir = tempfile::tempdir().unwrap();
    let tags_dir = dir.path().join("tags");
    let mut store = TagStore::open(&tags_dir).unwrap();
    let first = import_all(&mut store);
    let snapshot = |d: &Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    };
    let before = snapshot(&tags_dir);
    assert_eq!(before.len(), 51);

    // Same files again, through a freshly opened store: nothing changes.
    let mut store = TagStore::open(&tags_dir).unwrap();
    let second = import_all(&mut store);
    assert!(second.imported.iter().all(|r| r.unchanged));
    let counts = |s: &ImportSummary| -> Vec<(String, usize, usize, usize)> {
        s.imported
            .iter()
            .map(|r| (r.source.clone(), r.tags, r.actors, r.invalid.len()))
            .collect()
    };
    assert_eq!(counts(&first), counts(&second));
    assert_eq!(snapshot(&tags_dir), before);
    assert_eq!(store.tag_count(), 4090);

    // A single file imported twice through `import` is unchanged the second time.
    let sdn = shared().join("ofac-sdn-csv/sdn_2024-05-03.csv");
    let r = store.import(&sdn).unwrap();
    assert!(r.unchanged);
    assert_eq!(r.tags, 286);

    // A known OFAC address maps to its entity: the Ronin bridge exploiter address is
    // listed for LAZARUS GROUP (DPRK3) on SDN.CSV line 6894.
    let ronin = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
    let tags = store.tags_for(ronin);
    let sdn_tag = tags
        .iter()
        .find(|t| t.source_kind == SourceKind::OfacSdn)
        .expect("SDN tag for the Ronin exploiter");
    assert_eq!(sdn_tag.entity.as_deref(), Some("LAZARUS GROUP"));
    assert_eq!(sdn_tag.program.as_deref(), Some("DPRK3"));
    assert_eq!(sdn_tag.line, Some(6894));
    assert_eq!(sdn_tag.confidence, Some(60));
    // ... and the GraphSense Ronin pack tags it too.
    assert!(tags.iter().any(|t| t.label == "Ronin bridge exploiter"));

    // EVM look-ups ignore case; the stored form is lower case.
    for form in [
        ronin.to_string(),
        ronin.to_lowercase(),
        ronin.to_uppercase().replacen("0X", "0x", 1),
    ] {
        assert_eq!(store.tags_for(&form).len(), tags.len(), "{form}");
    }
    assert!(tags.iter().all(|t| t.address == ronin.to_lowercase()));

    // A DPRK-sanctioned Bitcoin address: TIAN, Yinyin (DPRK3, CYBER2), and the GraphSense
    // Lazarus pack, whose actor resolves to the ActorPack's Lazarus Group.
    let tags = store.tags_for("1F2Gdug9ib9NQMhKMGGJczzMk5SuENoqrp");
    let tian = tags
        .iter()
        .find(|t| t.source_kind == SourceKind::OfacSdn)
        .unwrap();
    assert_eq!(tian.entity.as_deref(), Some("TIAN, Yinyin"));
    assert_eq!(tian.program.as_deref(), Some("DPRK3, CYBER2"));
    assert_eq!(tian.chain, Some(chainwatch_types::Chain::Bitcoin));
    let pack = tags
        .iter()
        .find(|t| t.source_kind == SourceKind::TagPack && t.actor.is_some())
        .unwrap();
    assert_eq!(pack.actor.as_deref(), Some("lazarusgroup"));
    assert_eq!(pack.confidence_name.as_deref(), Some("authority_data"));
    let actor = store.actor("lazarusgroup").unwrap();
    assert_eq!(
        (actor.name.as_str(), actor.source_kind),
        ("Lazarus Group", SourceKind::ActorPack)
    );

    // Actor look-up by synonym: MISP lists "Hidden Cobra" for Lazarus Group.
    let a = store.actor("HIDDEN COBRA").unwrap();
    assert_eq!(a.name, "Lazarus Group");
    assert_eq!(a.country.as_deref(), Some("KP"));
    assert_eq!(a.galaxy.as_deref(), Some("threat-actor"));
    let all = store.actors_matching("hidden cobra");
    assert_eq!(all.len(), 2, "threat-actor and MITRE");
    assert_eq!(all[1].external_id.as_deref(), Some("G0032"));
    assert_eq!(
        store.actor("TraderTraitor").unwrap().synonyms,
        ["Jade Sleet", "UNC4899", "Pukchong"]
    );
    assert!(store.actor("no such actor").is_none());
    // A name beats a synonym: "Lazarus Group" names three actors; the ActorPack one wins.
    assert_eq!(store.actor("Lazarus Group").unwrap().id, "lazarusgroup");

    // Bech32 look-ups ignore case too.
    let sinbad = "bc1qq7p0es3dv5hcynjjf40f2xjjr6qp5py47d2f6n847vduuq9gvnyq7y9ecd";
    assert_eq!(
        store.tags_for(&sinbad.to_uppercase()).len(),
        store.tags_for(sinbad).len()
    );
    assert!(!store.tags_for(sinbad).is_empty());
}

#[test]
fn changed_source_replaces_its_tags() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sanctioned_addresses_XBT.txt");
    let full = read("ofac-0xB10C-lists/sanctioned_addresses_XBT.txt");
    std::fs::write(&src, &full).unwrap();
    let mut store = TagStore::open(dir.path().join("tags")).unwrap();
    assert_eq!(store.import(&src).unwrap().tags, 434);
    // The list shrinks: the store follows, without duplicates or leftovers.
    let half: String = full.lines().take(100).map(|l| format!("{l}\n")).collect();
    std::fs::write(&src, half).unwrap();
    let r = store.import(&src).unwrap();
    assert_eq!((r.tags, r.unchanged), (100, false));
    assert_eq!(store.tag_count(), 100);
    let reopened = TagStore::open(dir.path().join("tags")).unwrap();
    assert_eq!(reopened.tag_count(), 100);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tags")).unwrap().count(),
        1
    );
    // Removing the source removes its tags.
    let mut store = reopened;
    assert!(store.remove(&src).unwrap());
    assert_eq!(store.tag_count(), 0);
}
