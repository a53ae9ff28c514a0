//! Confidence levels: names such as `authority_data` and their 0–100 levels.
//!
//! The built-in table is the TagPack tool's `confidence.csv` (tagpack-tool 25.8.1);
//! importing a `confidence.csv` (`id,label,description,level`) overrides or extends it.

use crate::{IntelError, LineCounter, Parsed, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One named confidence level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Name used in TagPacks (`authority_data`).
    pub id: String,
    /// Human label (`Authority data`).
    pub label: String,
    /// Level 0–100.
    pub level: u8,
}

/// The built-in levels: tagpack-tool 25.8.1 `confidence.csv`.
const BUILTIN: &[(&str, &str, u8)] = &[
    ("override", "Manual cluster tag", 100),
    ("ownership", "Proven address ownership", 100),
    (
        "ledger_immanent",
        "Data directly read from the transaction ledger",
        100,
    ),
    ("manual_transaction", "Trusted transaction", 90),
    ("service_api", "Service API", 70),
    ("forensic_investigation", "Forensic Investigation", 70),
    ("authority_data", "Authority data", 60),
    ("trusted_provider", "Trusted data providers", 50),
    ("service_data", "Service data", 50),
    ("forensic", "Forensic reports", 50),
    ("untrusted_transaction", "Untrusted transaction", 40),
    ("web_crawl", "Web crawls", 20),
    ("heuristic", "Any Source", 10),
    ("unknown", "Unknown", 5),
];

/// Confidence names and their levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfidenceTable {
    levels: BTreeMap<String, Level>,
}

impl Default for ConfidenceTable {
    fn default() -> Self {
        let levels = BUILTIN
            .iter()
            .map(|(id, label, level)| {
                (
                    id.to_string(),
                    Level {
                        id: id.to_string(),
                        label: label.to_string(),
                        level: *level,
                    },
                )
            })
            .collect();
        ConfidenceTable { levels }
    }
}

impl ConfidenceTable {
    /// Adds or replaces levels.
    pub fn extend(&mut self, levels: impl IntoIterator<Item = Level>) {
        for l in levels {
            self.levels.insert(l.id.to_ascii_lowercase(), l);
        }
    }

    /// The level of a name (case-insensitive).
    pub fn level(&self, name: &str) -> Option<u8> {
        self.levels
            .get(&name.trim().to_ascii_lowercase())
            .map(|l| l.level)
    }

    /// All levels, by name.
    pub fn levels(&self) -> impl Iterator<Item = &Level> {
        self.levels.values()
    }

    /// Interprets a TagPack `confidence` value: a name from the table, an integer level
    /// 0–100, or a fraction `0.0`–`1.0` (scaled to 0–100). Returns the level and the
    /// name (names only; a bare number has none).
    pub fn resolve(&self, raw: &str) -> Result<(u8, Option<String>), String> {
        let s = raw.trim();
        if let Some(l) = self.levels.get(&s.to_ascii_lowercase()) {
            return Ok((l.level, Some(l.id.clone())));
        }
        if let Ok(n) = s.parse::<u32>() {
            return u8::try_from(n)
                .ok()
                .filter(|n| *n <= 100)
                .map(|n| (n, None))
                .ok_or_else(|| format!("confidence {n} is outside 0–100"));
        }
        if s.contains('.') {
            if let Ok(f) = s.parse::<f64>() {
                if (0.0..=1.0).contains(&f) {
                    return Ok(((f * 100.0).round() as u8, None));
                }
                return Err(format!(
                    "confidence {s} is neither a level 0–100 nor a fraction 0–1"
                ));
            }
        }
        Err(format!(
            "unknown confidence '{s}' (not in the confidence table)"
        ))
    }
}

/// Reads a confidence table CSV (`id,label,description,level`).
pub(crate) fn parse_csv(path: &Path, text: &str) -> Result<Parsed> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| IntelError::parse(path, Some(1), e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| IntelError::parse(path, Some(1), format!("no '{name}' column")))
    };
    let (id, label, level) = (col("id")?, col("label")?, col("level")?);
    let mut parsed = Parsed::default();
    let mut lines = LineCounter::new(text.as_bytes());
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = lines.line(e.position());
            IntelError::parse(path, Some(line), e.to_string())
        })?;
        let line = Some(lines.line(rec.position()));
        let get = |i: usize| rec.get(i).unwrap_or_default();
        let value: u8 = get(level)
            .parse()
            .ok()
            .filter(|v| *v <= 100)
            .ok_or_else(|| {
                IntelError::parse(path, line, format!("level '{}' is not 0–100", get(level)))
            })?;
        if get(id).is_empty() {
            return Err(IntelError::parse(path, line, "empty confidence id"));
        }
        parsed.confidence.push(Level {
            id: get(id).to_string(),
            label: get(label).to_string(),
            level: value,
        });
    }
    if parsed.confidence.is_empty() {
        return Err(IntelError::parse(
            path,
            None,
            "confidence table without levels",
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_names_and_numbers() {
        let t = ConfidenceTable::default();
        assert_eq!(
            t.resolve("authority_data").unwrap(),
            (60, Some("authority_data".to_string()))
        );
        assert_eq!(t.resolve(" Web_Crawl ").unwrap().0, 20);
        assert_eq!(t.resolve("75").unwrap(), (75, None));
        assert_eq!(t.resolve("0.5").unwrap(), (50, None));
        assert!(t.resolve("101").is_err());
        assert!(t.resolve("1.5").is_err());
        assert!(t.resolve("very_sure").is_err());
    }

    #[test]
    fn csv_with_trailing_space() {
        let csv = "id,label,description,level\nunknown,Unknown,Use with care, 5\nmine,Mine,x,33\n";
        let p = parse_csv(Path::new("c.csv"), csv).unwrap();
        assert_eq!(p.confidence.len(), 2);
        assert_eq!(p.confidence[0].level, 5);
        let mut t = ConfidenceTable::default();
        t.extend(p.confidence);
        assert_eq!(t.level("mine"), Some(33));
        let bad = "id,label,description,level\r\nok,OK,y,1\r\nx,X,y,high\r\n";
        let e = parse_csv(Path::new("c.csv"), bad).unwrap_err().to_string();
        assert!(e.contains("c.csv:3"), "{e}");
    }
}
