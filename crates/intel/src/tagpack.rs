//! GraphSense TagPacks and ActorPacks (YAML).
//!
//! A TagPack is a header (title, creator, …) plus `tags`; every header field that is a
//! tag field (label, source, currency, network, confidence, category, abuse, actor,
//! lastmod, context, is_cluster_definer, …) is inherited by the tags that do not set it.
//! An ActorPack is a header plus `actors` (id, label, uri, categories, jurisdictions,
//! aliases, context).

use crate::confidence::ConfidenceTable;
use crate::validate::{check, normalize_asset};
use crate::yaml::Node;
use crate::{Actor, Invalid, Parsed, SourceKind, Tag};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Header fields that describe the pack and are not inherited.
const PACK_ONLY: &[&str] = &[
    "title",
    "creator",
    "description",
    "owner",
    "is_public",
    "tags",
];

/// Fields a tag (or the header, for inheritance) may set.
const TAG_FIELDS: &[&str] = &[
    "label",
    "source",
    "currency",
    "network",
    "context",
    "confidence",
    "is_cluster_definer",
    "lastmod",
    "category",
    "abuse",
    "address",
    "tx_hash",
    "actor",
    "concepts",
    "tag_type",
];

fn scalar(node: Option<&Node>) -> Option<String> {
    node.and_then(Node::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn bool_of(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Some(true),
        "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// Imports the tags of a TagPack document.
pub(crate) fn parse_tagpack(source: &str, doc: &Node, table: &ConfidenceTable) -> Parsed {
    let mut out = Parsed::default();
    let Some(entries) = doc.entries() else {
        out.warnings.push("TagPack is not a mapping".to_string());
        return out;
    };
    let title = scalar(doc.get("title"));
    if title.is_none() {
        out.warnings
            .push("TagPack header has no title (mandatory in the schema)".to_string());
    }
    let mut header: HashMap<&str, &Node> = HashMap::new();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    for (k, v) in entries {
        let Some(key) = k.as_str() else { continue };
        if PACK_ONLY.contains(&key) {
            continue;
        }
        if !TAG_FIELDS.contains(&key) {
            unknown.entry(key.to_string()).or_insert(k.line());
        }
        header.insert(key, v);
    }
    let Some(tags) = doc.get("tags").and_then(Node::items) else {
        out.warnings.push("TagPack has no list of tags".to_string());
        return out;
    };
    let mut no_confidence = 0usize;
    let mut tx_tags = 0usize;
    let mut seen: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for node in tags {
        let line = node.line();
        let Some(tag_entries) = node.entries() else {
            out.invalid.push(Invalid {
                file: source.to_string(),
                line: Some(line),
                address: String::new(),
                asset: String::new(),
                reason: "tag is not a mapping".to_string(),
            });
            continue;
        };
        for (k, _) in tag_entries {
            if let Some(key) = k.as_str() {
                if !TAG_FIELDS.contains(&key) {
                    unknown.entry(key.to_string()).or_insert(k.line());
                }
            }
        }
        let field = |name: &str| node.get(name).or_else(|| header.get(name).copied());
        let text = |name: &str| scalar(field(name));
        let addr_node = node.get("address");
        let Some(raw) = scalar(addr_node) else {
            if node.get("tx_hash").is_some() {
                tx_tags += 1;
            } else {
                out.invalid.push(Invalid {
                    file: source.to_string(),
                    line: Some(line),
                    address: String::new(),
                    asset: text("currency").unwrap_or_default(),
                    reason: "tag has no address".to_string(),
                });
            }
            continue;
        };
        let addr_line = addr_node.map_or(line, Node::line);
        let invalid = |reason: String, asset: &str| Invalid {
            file: source.to_string(),
            line: Some(addr_line),
            address: raw.clone(),
            asset: asset.to_string(),
            reason,
        };
        let Some(currency) = text("currency") else {
            out.invalid.push(invalid(
                "no currency (neither the tag nor the pack header sets one)".to_string(),
                "",
            ));
            continue;
        };
        let asset = normalize_asset(&currency);
        let network = text("network");
        let checked = match check(&asset, network.as_deref(), &raw) {
            Ok(c) => c,
            Err(reason) => {
                out.invalid.push(invalid(reason, &asset));
                continue;
            }
        };
        let Some(label) = text("label") else {
            out.invalid.push(invalid(
                "no label (neither the tag nor the pack header sets one)".to_string(),
                &asset,
            ));
            continue;
        };
        let (confidence, confidence_name) = match text("confidence") {
            None => {
                no_confidence += 1;
                (None, None)
            }
            Some(raw_conf) => match table.resolve(&raw_conf) {
                Ok((level, name)) => (Some(level), name),
                Err(e) => {
                    let l = field("confidence").map_or(line, Node::line);
                    out.warnings.push(format!("line {l}: {e}"));
                    (None, Some(raw_conf))
                }
            },
        };
        let is_cluster_definer = match text("is_cluster_definer") {
            None => None,
            Some(s) => {
                let b = bool_of(&s);
                if b.is_none() {
                    out.warnings.push(format!(
                        "line {line}: is_cluster_definer '{s}' is not a boolean"
                    ));
                }
                b
            }
        };
        let context = field("context").and_then(|c| match c {
            Node::Scalar { .. } => scalar(Some(c)),
            other => Some(other.to_json().to_string()),
        });
        let tag = Tag {
            address: checked.address,
            asset,
            network: checked.network,
            chain: checked.chain,
            label,
            category: text("category"),
            abuse: text("abuse"),
            actor: text("actor"),
            confidence,
            confidence_name,
            source: source.to_string(),
            source_kind: SourceKind::TagPack,
            pack: title.clone(),
            reference: text("source"),
            entity: None,
            program: None,
            line: Some(addr_line),
            validated: checked.validated,
            is_cluster_definer,
            lastmod: text("lastmod"),
            context,
        };
        let key = (tag.address.clone(), tag.asset.clone());
        let same = seen.entry(key).or_default();
        if let Some(&first) = same.iter().find(|&&i| same_claim(&out.tags[i], &tag)) {
            out.warnings.push(format!(
                "line {addr_line}: duplicate of the tag at line {} ({} {}), skipped",
                out.tags[first].line.unwrap_or(0),
                tag.asset,
                tag.address
            ));
            continue;
        }
        same.push(out.tags.len());
        out.tags.push(tag);
    }
    if no_confidence > 0 {
        out.warnings.push(format!(
            "{no_confidence} tag(s) have no confidence (mandatory in the TagPack schema); left unset"
        ));
    }
    if tx_tags > 0 {
        out.warnings.push(format!(
            "{tx_tags} transaction tag(s) (tx_hash, no address) skipped: only address tags are imported"
        ));
    }
    for (key, line) in unknown {
        out.warnings.push(format!(
            "line {line}: unknown TagPack field '{key}' ignored"
        ));
    }
    out
}

/// Whether two tags say the same thing (all but the line equal).
fn same_claim(a: &Tag, b: &Tag) -> bool {
    let mut b = b.clone();
    b.line = a.line;
    *a == b
}

fn string_list(node: Option<&Node>) -> Vec<String> {
    match node {
        Some(Node::Seq(items, _)) => items
            .iter()
            .filter_map(Node::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(n) => scalar(Some(n)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Imports the actors of an ActorPack document.
pub(crate) fn parse_actorpack(source: &str, doc: &Node) -> Parsed {
    let mut out = Parsed::default();
    let Some(actors) = doc.get("actors").and_then(Node::items) else {
        out.warnings
            .push("ActorPack has no list of actors".to_string());
        return out;
    };
    let mut ids: HashMap<String, usize> = HashMap::new();
    for node in actors {
        let line = node.line();
        let Some(id) = scalar(node.get("id")) else {
            out.warnings
                .push(format!("line {line}: actor without id skipped"));
            continue;
        };
        if let Some(first) = ids.get(&id.to_ascii_lowercase()) {
            out.warnings.push(format!(
                "line {line}: actor id '{id}' already defined at line {first}; skipped"
            ));
            continue;
        }
        ids.insert(id.to_ascii_lowercase(), line);
        let name = scalar(node.get("label")).unwrap_or_else(|| {
            out.warnings.push(format!(
                "line {line}: actor '{id}' has no label; using its id"
            ));
            id.clone()
        });
        // Context may be a mapping or (older packs) JSON text.
        let context: Option<serde_json::Value> = match node.get("context") {
            Some(Node::Scalar { value, .. }) => serde_json::from_str(value).ok(),
            Some(n @ Node::Map(..)) => Some(n.to_json()),
            _ => None,
        };
        let mut synonyms: Vec<String> = string_list(node.get("aliases"));
        if let Some(extra) = context
            .as_ref()
            .and_then(|c| c.get("aliases"))
            .and_then(|a| a.as_array())
        {
            synonyms.extend(extra.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        let mut uniq = BTreeSet::new();
        synonyms.retain(|s| s != &name && uniq.insert(s.to_ascii_lowercase()));
        let jurisdictions = string_list(node.get("jurisdictions"));
        let description = context
            .as_ref()
            .and_then(|c| c.get("description"))
            .and_then(|d| d.as_str())
            .map(str::to_string);
        out.actors.push(Actor {
            country: (jurisdictions.len() == 1).then(|| jurisdictions[0].clone()),
            id,
            name,
            synonyms,
            jurisdictions,
            categories: string_list(node.get("categories")),
            uri: scalar(node.get("uri")),
            external_id: None,
            state_sponsor: None,
            description,
            galaxy: None,
            source: source.to_string(),
            source_kind: SourceKind::ActorPack,
            line: Some(line),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    const PACK: &str = "\
title: Test pack
creator: me
label: Lazarus group
currency: BTC
confidence: authority_data
abuse: sanction
actor: lazarusgroup
source: https://example.org/ofac
tags:
- address: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
- address: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb
- address: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
  currency: ETH
  label: override
  confidence: 75
- address: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4
  confidence: very_sure
- address: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
- tx_hash: ab
- address: xyz
  currency: ADA
";

    #[test]
    fn header_inheritance_and_confidence() {
        let doc = parse(PACK).unwrap();
        let p = parse_tagpack("pack.yaml", &doc, &ConfidenceTable::default());
        assert_eq!(p.tags.len(), 4, "{:#?}", p.tags);
        let t = &p.tags[0];
        assert_eq!(t.label, "Lazarus group");
        assert_eq!(t.asset, "BTC");
        assert_eq!(t.confidence, Some(60));
        assert_eq!(t.confidence_name.as_deref(), Some("authority_data"));
        assert_eq!(t.actor.as_deref(), Some("lazarusgroup"));
        assert_eq!(t.abuse.as_deref(), Some("sanction"));
        assert_eq!(t.reference.as_deref(), Some("https://example.org/ofac"));
        assert_eq!(t.pack.as_deref(), Some("Test pack"));
        assert_eq!(t.line, Some(10));
        assert!(t.validated);
        // Tag fields override the header.
        let e = &p.tags[1];
        assert_eq!(
            (
                e.asset.as_str(),
                e.label.as_str(),
                e.confidence,
                e.confidence_name.as_deref()
            ),
            ("ETH", "override", Some(75), None)
        );
        assert_eq!(e.address, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
        // Unknown confidence name: warned, level unset, name kept.
        let b = &p.tags[2];
        assert_eq!(
            (b.confidence, b.confidence_name.as_deref()),
            (None, Some("very_sure"))
        );
        assert!(p
            .warnings
            .iter()
            .any(|w| w.starts_with("line 17: unknown confidence")));
        // Unvalidatable asset kept, marked.
        assert!(!p.tags[3].validated);
        // The bad checksum is reported with its line.
        assert_eq!(p.invalid.len(), 1);
        assert_eq!(p.invalid[0].line, Some(11));
        assert!(
            p.invalid[0].reason.contains("checksum"),
            "{:?}",
            p.invalid[0]
        );
        // Exact duplicate and tx tag are warned about.
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("duplicate of the tag at line 10")));
        assert!(p.warnings.iter().any(|w| w.contains("1 transaction tag")));
    }

    #[test]
    fn actorpack() {
        let doc = parse(
            "title: a\nactors:\n- id: lazarusgroup\n  label: Lazarus Group\n  jurisdictions: ['KP']\n  aliases: [hidden cobra]\n  context:\n    aliases: [zinc]\n- id: x\n  label: X\n- label: no id\n",
        )
        .unwrap();
        let p = parse_actorpack("a.yaml", &doc);
        assert_eq!(p.actors.len(), 2);
        assert_eq!(p.actors[0].country.as_deref(), Some("KP"));
        assert_eq!(p.actors[0].synonyms, ["hidden cobra", "zinc"]);
        assert_eq!(p.actors[0].line, Some(3));
        assert_eq!(p.warnings.len(), 1);
    }
}
