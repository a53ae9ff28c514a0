//! Tags joined with the chain store and its clustering: which clusters are services, and what
//! every address and cluster is tagged with. Shared by the CLI (`trace`, `entity`) and the
//! server (background traces of submitted reports).

use crate::cluster::ClusterStore;
use crate::taint::Service;
use chainwatch_chain::store::Store;
use chainwatch_intel::{IntelError, Tag, TagStore};
use chainwatch_types::AddrKey;
use std::collections::HashMap;
use std::path::Path;

/// Categories whose clusters can freeze funds or hide them: a trace stops there.
pub fn is_service_category(category: &str) -> bool {
    let c = category.to_ascii_lowercase();
    [
        "exchange", "mixer", "mixing", "gambling", "market", "payment", "wallet", "service",
        "defi", "bridge", "atm",
    ]
    .iter()
    .any(|k| c.contains(k))
}

/// Tags that name addresses present in the store, with their address ids.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    /// (addr_id, tag) pairs.
    pub tagged: Vec<(u32, Tag)>,
}

impl Labels {
    /// Loads the tags of data directory `data` (`DATA/tags/`) and keeps those whose address
    /// is on the stored chain.
    pub fn load(data: &Path, store: &Store) -> Result<Labels, IntelError> {
        let dir = data.join("tags");
        if !dir.exists() {
            return Ok(Labels::default());
        }
        Ok(Labels::from_tags(&TagStore::open(&dir)?, store))
    }

    /// Keeps the tags of `tags` whose address is on the stored chain.
    pub fn from_tags(tags: &TagStore, store: &Store) -> Labels {
        let mut tagged = Vec::new();
        for tag in tags.tags() {
            if let Ok(key) = AddrKey::parse(&tag.address, store.chain()) {
                if let Some(id) = store.addr_id(&key) {
                    tagged.push((id, tag.clone()));
                }
            }
        }
        Labels { tagged }
    }

    /// Service clusters: for each cluster with a service-category tag, the most confident one.
    pub fn services(&self, clusters: &ClusterStore) -> HashMap<u32, Service> {
        let mut best: HashMap<u32, (u8, Service)> = HashMap::new();
        for (addr, tag) in &self.tagged {
            let Some(cat) = tag.category.as_deref().filter(|c| is_service_category(c)) else {
                continue;
            };
            let c = clusters.cluster_of(*addr);
            let conf = tag.confidence.unwrap_or(50);
            let svc = Service {
                label: tag.label.clone(),
                category: cat.to_string(),
            };
            match best.get(&c) {
                Some((k, s)) if *k > conf || (*k == conf && s.label <= svc.label) => {}
                _ => {
                    best.insert(c, (conf, svc));
                }
            }
        }
        best.into_iter().map(|(c, (_, s))| (c, s)).collect()
    }
}

/// The distinct labels (trimmed, lower-cased, sorted) of an entity's tags when they name
/// more than one thing — a conflict to show the investigator — else none.
pub fn label_conflicts<'a>(labels: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut distinct: Vec<String> = labels
        .into_iter()
        .map(|l| l.trim().to_lowercase())
        .collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > 1 {
        distinct
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_only_between_different_labels() {
        assert!(label_conflicts(["Binance", " binance "]).is_empty());
        assert!(label_conflicts([]).is_empty());
        assert_eq!(
            label_conflicts(["Kraken", "binance", "Binance"]),
            ["binance", "kraken"]
        );
    }
}
