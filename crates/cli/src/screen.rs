//! `screen`: sanctions, service tags and theft exposure of addresses; and the findings that
//! `trace --save` keeps for it.

use crate::entities::open_store;
use crate::BadInput;
use chainwatch_chain::store::Store;
use chainwatch_forensics::cluster::{cluster_dir, ClusterStore};
use chainwatch_forensics::explain::AddrOutputs;
use chainwatch_forensics::screen::ExposureIndex;
pub use chainwatch_forensics::screening::{Findings, ScreenItem, Screener};
use chainwatch_forensics::taint::TraceResult;
use chainwatch_intel::TagStore;
use chainwatch_types::Chain;
use std::path::{Path, PathBuf};

fn findings_dir(data: &Path, chain: Chain) -> PathBuf {
    data.join("findings").join(chain.name())
}

/// Saves a trace's findings under `id` (replacing earlier ones of that id).
pub fn save(data: &Path, store: &Store, id: &str, r: &TraceResult) -> anyhow::Result<PathBuf> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || id.starts_with('.')
    {
        return Err(BadInput(format!(
            "'{id}': a findings id uses letters, digits, '-', '_', '.'"
        ))
        .into());
    }
    let dir = findings_dir(data, store.chain());
    std::fs::create_dir_all(&dir)?;
    let f = Findings::from_trace(id, store, r);
    let path = dir.join(format!("{id}.json"));
    let tmp = dir.join(format!(".{id}.json.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(&f)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `chainwatch screen ADDR…`.
#[allow(clippy::print_stdout)]
pub fn screen(
    data: &Path,
    chain: Option<Chain>,
    addresses: &[String],
    max_hops: u32,
    json: bool,
) -> anyhow::Result<()> {
    if addresses.is_empty() {
        return Err(BadInput("give one or more addresses".into()).into());
    }
    if addresses.len() > 10_000 {
        return Err(BadInput(format!(
            "{} addresses: at most 10,000 per call",
            addresses.len()
        ))
        .into());
    }
    let store = open_store(data, chain)?;
    let clusters = ClusterStore::open(&cluster_dir(data, store.chain()), &store).ok();
    let tags = if data.join("tags").exists() {
        Some(TagStore::open(data.join("tags"))?)
    } else {
        None
    };
    let mut index = ExposureIndex::default();
    let fdir = findings_dir(data, store.chain());
    if fdir.exists() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&fdir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            let found: Findings = serde_json::from_slice(&std::fs::read(&f)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            index.add(&found.report, &found.exposed_ids(&store), clusters.as_ref());
        }
    }
    let outputs = AddrOutputs::build(&store);
    let items: Vec<ScreenItem> = addresses
        .iter()
        .map(|a| {
            Screener {
                store: &store,
                clusters: clusters.as_ref(),
                tags: tags.as_ref(),
                index: &index,
                outputs: &outputs,
            }
            .screen(a.trim(), max_hops, &|_| true)
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        for i in &items {
            println!("{}  risk {}", i.address, i.risk.to_uppercase());
            if let Some(e) = &i.error {
                println!("  error: {e}");
            }
            for r in &i.reasons {
                println!("  - {r}");
            }
        }
        if index.reports() == 0 {
            println!("(no saved findings: run `chainwatch trace --incident F --save ID` to screen for theft exposure)");
        }
    }
    Ok(())
}
