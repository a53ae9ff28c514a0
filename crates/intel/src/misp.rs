//! MISP galaxy cluster files of actors (`threat-actor.json`, `mitre-intrusion-set.json`).
//!
//! A cluster file is `{"type": …, "category": "actor", "values": [{"uuid", "value",
//! "description", "meta": {"synonyms", "country", "cfr-suspected-state-sponsor",
//! "external_id", …}}]}`. MITRE's values carry their ATT&CK id (`Lazarus Group -
//! G0032`), which is split off into `external_id`; revoked MITRE entries are skipped.

use crate::{Actor, IntelError, Parsed, Result, SourceKind};
use serde_json::Value;
use std::path::Path;

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Imports the actors of a galaxy cluster file.
pub(crate) fn parse_cluster(path: &Path, source: &str, text_in: &str) -> Result<Parsed> {
    let doc: Value = serde_json::from_str(text_in)
        .map_err(|e| IntelError::parse(path, Some(e.line()), e.to_string()))?;
    let values = doc
        .get("values")
        .and_then(Value::as_array)
        .ok_or_else(|| IntelError::parse(path, None, "MISP cluster file without a values array"))?;
    let galaxy = text(doc.get("type"));
    let mut out = Parsed::default();
    let mut revoked = 0usize;
    let mut pos = 0usize;
    let mut line_at = 1usize;
    for (i, v) in values.iter().enumerate() {
        let uuid = text(v.get("uuid"));
        // Line of the entry: where its uuid is written (values are in file order).
        let line = uuid.as_deref().and_then(|u| {
            let needle = format!("\"{u}\"");
            text_in[pos..].find(&needle).map(|p| {
                line_at += text_in[pos..pos + p]
                    .bytes()
                    .filter(|b| *b == b'\n')
                    .count();
                pos += p + needle.len();
                line_at
            })
        });
        let (Some(id), Some(value)) = (uuid, text(v.get("value"))) else {
            out.warnings
                .push(format!("value #{i}: no uuid or no value; skipped"));
            continue;
        };
        if v.get("revoked").and_then(Value::as_bool) == Some(true) {
            revoked += 1;
            continue;
        }
        let meta = v.get("meta");
        let field = |k: &str| meta.and_then(|m| m.get(k));
        let external_id = text(field("external_id"));
        let name = match &external_id {
            Some(ext) => value
                .strip_suffix(&format!(" - {ext}"))
                .map_or(value.clone(), str::to_string),
            None => value.clone(),
        };
        let mut seen = std::collections::BTreeSet::new();
        seen.insert(name.to_lowercase());
        let synonyms: Vec<String> = string_list(field("synonyms"))
            .into_iter()
            .filter(|s| seen.insert(s.to_lowercase()))
            .collect();
        out.actors.push(Actor {
            id,
            name,
            synonyms,
            country: text(field("country")),
            jurisdictions: Vec::new(),
            categories: Vec::new(),
            uri: None,
            external_id,
            state_sponsor: text(field("cfr-suspected-state-sponsor")),
            description: text(v.get("description")),
            galaxy: galaxy.clone(),
            source: source.to_string(),
            source_kind: SourceKind::MispGalaxy,
            line,
        });
    }
    if revoked > 0 {
        out.warnings
            .push(format!("{revoked} revoked cluster(s) skipped"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster() {
        let j = r#"{"type": "mitre-intrusion-set", "category": "actor", "values": [
  {"uuid": "u1", "value": "Lazarus Group - G0032",
   "meta": {"external_id": "G0032", "synonyms": ["Lazarus Group", "HIDDEN COBRA"]}},
  {"uuid": "u2", "value": "Old - G0001", "revoked": true, "meta": {"external_id": "G0001"}},
  {"value": "no uuid"}
]}"#;
        let p = parse_cluster(Path::new("m.json"), "m.json", j).unwrap();
        assert_eq!(p.actors.len(), 1);
        let a = &p.actors[0];
        assert_eq!(a.name, "Lazarus Group");
        assert_eq!(a.synonyms, ["HIDDEN COBRA"]);
        assert_eq!(a.external_id.as_deref(), Some("G0032"));
        assert_eq!(a.line, Some(2));
        assert_eq!(p.warnings.len(), 2);
    }
}
