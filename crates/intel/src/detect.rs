//! Telling tag sources from other files by name and content.

use crate::SourceKind;
use std::path::Path;

/// What a file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detected {
    /// A source this crate imports.
    Source(SourceKind),
    /// Not a tag source, and why.
    Skip(String),
}

fn skip(reason: &str) -> Detected {
    Detected::Skip(reason.to_string())
}

/// Top-level keys of a block-style YAML document (lines starting with `key:`).
fn yaml_top_keys(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-', '%']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim_matches(['\'', '"'])))
        .filter(|k| !k.is_empty() && !k.contains(' '))
        .collect()
}

/// Classifies a file from its path and bytes.
pub fn detect(path: &Path, bytes: &[u8]) -> Detected {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let stem = name.split('.').next().unwrap_or_default();
    if name.starts_with('.') {
        return skip("hidden file");
    }
    if [
        "readme",
        "license",
        "licence",
        "copying",
        "notice",
        "changelog",
        "authors",
    ]
    .contains(&stem)
    {
        return skip("documentation or licence file");
    }
    if name == "citation.cff" {
        return skip("citation metadata");
    }
    if crate::ofac::list_asset(path).is_some() {
        return Detected::Source(SourceKind::OfacList);
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let text = text.trim_start_matches('\u{feff}');
    match ext.as_str() {
        "csv" => {
            let first = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let cols: Vec<&str> = first.split(',').map(str::trim).collect();
            if cols == ["id", "label", "description", "level"] {
                return Detected::Source(SourceKind::ConfidenceTable);
            }
            if cols == ["label", "id", "description"] {
                return skip("TagPack tool tag-type taxonomy (tag_types.csv), not tags");
            }
            let numbered = first.split(',').next().is_some_and(|f| {
                f == "ent_num" || (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
            });
            if numbered && (text.contains("-0-") || stem == "sdn") {
                return Detected::Source(SourceKind::OfacSdn);
            }
            skip("CSV of unknown layout (expected OFAC SDN.CSV or a confidence table)")
        }
        "yaml" | "yml" => {
            let keys = yaml_top_keys(text);
            let has = |k: &str| keys.contains(&k);
            if has("tags") {
                Detected::Source(SourceKind::TagPack)
            } else if has("actors") {
                Detected::Source(SourceKind::ActorPack)
            } else if has("header") && (has("tag") || has("actor")) {
                skip("TagPack/ActorPack schema definition, not tags")
            } else if has("scheme") || has("concept") {
                skip("taxonomy (concepts), not tags")
            } else {
                skip("YAML without tags or actors")
            }
        }
        "json" => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
                return skip("not valid JSON");
            };
            if let Some(values) = v.get("values") {
                if !values.is_array() {
                    return skip("JSON 'values' is not a list");
                }
                let category = v.get("category").and_then(|c| c.as_str()).unwrap_or("");
                let kind = v.get("type").and_then(|c| c.as_str()).unwrap_or("");
                if category == "actor" || kind == "threat-actor" || kind == "mitre-intrusion-set" {
                    return Detected::Source(SourceKind::MispGalaxy);
                }
                return Detected::Skip(format!(
                    "MISP cluster of category '{category}' (type '{kind}'), not actors"
                ));
            }
            if v.get("namespace").is_some() && v.get("uuid").is_some() {
                return skip("MISP galaxy descriptor (no clusters)");
            }
            if v.is_array() {
                return skip(
                    "JSON list of unknown asset (per-asset lists are named sanctioned_addresses_<ASSET>.json)",
                );
            }
            skip("JSON of unknown layout")
        }
        "md" | "txt" | "cff" | "html" | "pdf" => skip("documentation file"),
        _ => Detected::Skip(format!("not a recognised tag source (extension '{ext}')")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let d = |name: &str, body: &str| detect(Path::new(name), body.as_bytes());
        assert_eq!(
            d("x/README.md", "# hi"),
            skip("documentation or licence file")
        );
        assert_eq!(d("LICENSE", "MIT"), skip("documentation or licence file"));
        assert_eq!(
            d("sanctioned_addresses_XBT.txt", "1abc\n"),
            Detected::Source(SourceKind::OfacList)
        );
        assert_eq!(
            d("p.yaml", "title: t\ntags:\n- address: x\n"),
            Detected::Source(SourceKind::TagPack)
        );
        assert_eq!(
            d("a.yaml", "%YAML 1.1\n---\ntitle: t\nactors:\n- id: x\n"),
            Detected::Source(SourceKind::ActorPack)
        );
        assert!(matches!(
            d("s.yaml", "header:\n  title: x\ntag:\n  label: y\n"),
            Detected::Skip(_)
        ));
        assert_eq!(
            d("c.csv", "id,label,description,level\n"),
            Detected::Source(SourceKind::ConfidenceTable)
        );
        assert_eq!(
            d("sdn.csv", "36,\"AEROCARIBBEAN AIRLINES\",-0- ,\"CUBA\"\r\n"),
            Detected::Source(SourceKind::OfacSdn)
        );
        assert_eq!(
            d(
                "t.json",
                r#"{"category": "actor", "type": "threat-actor", "values": []}"#
            ),
            Detected::Source(SourceKind::MispGalaxy)
        );
        assert_eq!(
            d(
                "g.json",
                r#"{"namespace": "misp", "uuid": "x", "type": "threat-actor"}"#
            ),
            skip("MISP galaxy descriptor (no clusters)")
        );
    }
}
