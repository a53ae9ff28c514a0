//! Tags joined with the chain store and its clustering: which clusters are services, and what
//! every address and cluster is tagged with.

use chainwatch_chain::store::Store;
use chainwatch_forensics::cluster::ClusterStore;
use chainwatch_forensics::taint::Service;
use chainwatch_intel::{Tag, TagStore};
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
pub struct Labels {
    /// (addr_id, tag) pairs.
    pub tagged: Vec<(u32, Tag)>,
}

impl Labels {
    /// Loads the data directory's tags and keeps those whose address is on the stored chain.
    pub fn load(data: &Path, store: &Store) -> anyhow::Result<Labels> {
        let dir = data.join("tags");
        let mut tagged = Vec::new();
        if dir.exists() {
            let tags = TagStore::open(&dir)?;
            for tag in tags.tags() {
                if let Ok(key) = AddrKey::parse(&tag.address, store.chain()) {
                    if let Some(id) = store.addr_id(&key) {
                        tagged.push((id, tag.clone()));
                    }
                }
            }
        }
        Ok(Labels { tagged })
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
