//! OFAC: the SDN list as `SDN.CSV`, and the per-asset address lists
//! (`sanctioned_addresses_<ASSET>.txt` / `.json`) derived from it.
//!
//! `SDN.CSV` quirks: no header row; Latin-1 text; CRLF line ends; a trailing 0x1A (DOS
//! end-of-file); `-0-` (often with a trailing space) for empty fields; several programs
//! joined as `DPRK3] [CYBER2`; addresses only inside the free-text Remarks column, as
//! `Digital Currency Address - XBT <addr>;` (also `alt. Digital Currency Address - …`);
//! and Remarks cut at 1,000 characters, so an entry at the limit may have lost
//! addresses, and its last one may be cut in the middle.

use crate::confidence::ConfidenceTable;
use crate::validate::{check, normalize_asset};
use crate::{IntelError, Invalid, LineCounter, Parsed, Result, SourceKind, Tag, Truncated};
use std::path::Path;

/// Remarks longer than this are treated as at the 1,000-character limit.
const REMARKS_LIMIT: usize = 1000;
/// Remarks of at least this many characters may have been cut.
const NEAR_LIMIT: usize = 990;
const MARKER: &str = "Digital Currency Address - ";

/// The text of `SDN.CSV`: trailing 0x1A removed, UTF-8 if it is valid UTF-8, else Latin-1.
pub(crate) fn decode_sdn(bytes: &[u8]) -> String {
    let end = bytes.iter().rposition(|b| *b != 0x1a).map_or(0, |p| p + 1);
    let bytes = &bytes[..end];
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

fn field(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t != "-0-").then(|| t.to_string())
}

/// `DPRK3] [CYBER2` (and `[DPRK3] [CYBER2]`) → `DPRK3, CYBER2`.
fn programs(s: &str) -> Option<String> {
    let p = field(s)?;
    let list: Vec<&str> = p
        .split("] [")
        .map(|x| x.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace()))
        .filter(|x| !x.is_empty())
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

/// One `Digital Currency Address` mention in a Remarks field.
#[derive(Debug, PartialEq)]
struct Mention<'a> {
    asset: &'a str,
    address: &'a str,
    /// Runs to the end of the Remarks without a terminator.
    at_end: bool,
}

fn mentions(remarks: &str) -> Vec<Mention<'_>> {
    let mut out = Vec::new();
    let mut rest = remarks;
    while let Some(p) = rest.find(MARKER) {
        let after = &rest[p + MARKER.len()..];
        let Some(sp) = after.find(' ') else {
            out.push(Mention {
                asset: after.trim(),
                address: "",
                at_end: true,
            });
            break;
        };
        let asset = &after[..sp];
        let tail = &after[sp + 1..];
        let end = tail
            .find(|c: char| c == ';' || c.is_whitespace())
            .unwrap_or(tail.len());
        let token = &tail[..end];
        let address = token.trim_end_matches('.');
        out.push(Mention {
            asset,
            address,
            at_end: end == tail.len() && address.len() == token.len(),
        });
        rest = &tail[end..];
    }
    out
}

/// Imports `SDN.CSV`.
pub(crate) fn parse_sdn(
    path: &Path,
    source: &str,
    bytes: &[u8],
    table: &ConfidenceTable,
) -> Result<Parsed> {
    let text = decode_sdn(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut out = Parsed::default();
    let confidence = table.level("authority_data");
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(text.as_bytes());
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = lines.line(e.position());
                return Err(IntelError::parse(path, Some(line), format!("SDN.CSV: {e}")));
            }
        }
        let line = lines.line(record.position());
        if record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != 12 {
            return Err(IntelError::parse(
                path,
                Some(line),
                format!("SDN.CSV record of {} fields (expected 12)", record.len()),
            ));
        }
        let get = |i: usize| record.get(i).unwrap_or_default();
        if get(0).trim().eq_ignore_ascii_case("ent_num") {
            continue; // a header row, as some copies add
        }
        let ent_num = get(0).trim();
        let name = field(get(1)).unwrap_or_else(|| format!("SDN entry {ent_num}"));
        let sdn_type = field(get(2));
        let program = programs(get(3));
        let remarks = get(11);
        let remarks_len = remarks.chars().count();
        let near_limit = remarks_len >= NEAR_LIMIT;
        let found = mentions(remarks);
        if near_limit {
            out.truncated.push(Truncated {
                line,
                ent_num: ent_num.to_string(),
                entity: name.clone(),
                program: program.clone(),
                remarks_chars: remarks_len,
                addresses_found: found.iter().filter(|m| !m.address.is_empty()).count(),
            });
        }
        let mut context = serde_json::Map::new();
        context.insert("ent_num".into(), ent_num.into());
        if let Some(t) = &sdn_type {
            context.insert("sdn_type".into(), t.as_str().into());
        }
        let context = serde_json::Value::Object(context).to_string();
        for m in found {
            let asset = normalize_asset(m.asset);
            let cut = m.at_end && near_limit;
            let checked = if m.address.is_empty() {
                Err("no address after the asset".to_string())
            } else {
                check(&asset, None, m.address)
            };
            match checked {
                Ok(c) => {
                    if cut {
                        out.warnings.push(format!(
                            "line {line}: {} address {} ends the {remarks_len}-character Remarks of '{name}' without a terminator and may be cut off, though it passes its checks",
                            asset, m.address
                        ));
                    }
                    let tag = Tag {
                        address: c.address,
                        asset,
                        network: c.network,
                        chain: c.chain,
                        label: name.clone(),
                        category: None,
                        abuse: Some("sanction".to_string()),
                        actor: None,
                        confidence,
                        confidence_name: Some("authority_data".to_string()),
                        source: source.to_string(),
                        source_kind: SourceKind::OfacSdn,
                        pack: None,
                        reference: None,
                        entity: Some(name.clone()),
                        program: program.clone(),
                        line: Some(line),
                        validated: c.validated,
                        is_cluster_definer: None,
                        lastmod: None,
                        context: Some(context.clone()),
                    };
                    if out.tags.iter().rev().take(64).any(|t| t == &tag) {
                        out.warnings.push(format!(
                            "line {line}: '{name}' lists {} {} twice; kept once",
                            tag.asset, tag.address
                        ));
                    } else {
                        out.tags.push(tag);
                    }
                }
                Err(reason) => {
                    let reason = if cut {
                        format!(
                            "cut off by the {REMARKS_LIMIT}-character Remarks limit of SDN.CSV ({reason})"
                        )
                    } else {
                        reason
                    };
                    out.invalid.push(Invalid {
                        file: source.to_string(),
                        line: Some(line),
                        address: m.address.to_string(),
                        asset,
                        reason,
                    });
                }
            }
        }
    }
    if !out.truncated.is_empty() {
        out.warnings.push(format!(
            "{} SDN entries have Remarks at the {REMARKS_LIMIT}-character limit of SDN.CSV and may miss addresses (see `truncated`; the full text is in SDN_COMMENTS.CSV or the XML list)",
            out.truncated.len()
        ));
    }
    Ok(out)
}

/// Asset code of a `sanctioned_addresses_<ASSET>.txt|json` file name.
pub(crate) fn list_asset(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".txt")
        .or_else(|| name.strip_suffix(".json"))?;
    let asset = stem.strip_prefix("sanctioned_addresses_")?;
    (!asset.is_empty() && asset.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| asset.to_string())
}

/// Imports a per-asset list: one address a line (`.txt`) or a JSON array of strings.
pub(crate) fn parse_list(
    path: &Path,
    source: &str,
    text: &str,
    table: &ConfidenceTable,
) -> Result<Parsed> {
    let raw_asset = list_asset(path).ok_or_else(|| {
        IntelError::parse(
            path,
            None,
            "not named sanctioned_addresses_<ASSET>.txt|json",
        )
    })?;
    let asset = normalize_asset(&raw_asset);
    let entries: Vec<(String, Option<usize>)> = if path.extension().is_some_and(|e| e == "json") {
        let list: Vec<String> = serde_json::from_str(text).map_err(|e| {
            IntelError::parse(
                path,
                Some(e.line()),
                format!("expected a JSON array of strings: {e}"),
            )
        })?;
        // Lines: find each string literal in turn.
        let mut pos = 0;
        list.into_iter()
            .map(|a| {
                let quoted = serde_json::Value::String(a.clone()).to_string();
                let line = text[pos..].find(&quoted).map(|p| {
                    pos += p + quoted.len();
                    text[..pos].bytes().filter(|b| *b == b'\n').count() + 1
                });
                (a, line)
            })
            .collect()
    } else {
        text.lines()
            .enumerate()
            .map(|(i, l)| (l.trim().to_string(), Some(i + 1)))
            .filter(|(l, _)| !l.is_empty() && !l.starts_with('#'))
            .collect()
    };
    let mut out = Parsed::default();
    let mut seen = std::collections::HashSet::new();
    for (raw, line) in entries {
        match check(&asset, None, &raw) {
            Ok(c) => {
                if !seen.insert(c.address.clone()) {
                    out.warnings.push(format!(
                        "line {}: {} listed twice; kept once",
                        line.unwrap_or(0),
                        c.address
                    ));
                    continue;
                }
                out.tags.push(Tag {
                    address: c.address,
                    asset: asset.clone(),
                    network: c.network,
                    chain: c.chain,
                    label: "OFAC SDN sanctioned address".to_string(),
                    category: None,
                    abuse: Some("sanction".to_string()),
                    actor: None,
                    confidence: table.level("authority_data"),
                    confidence_name: Some("authority_data".to_string()),
                    source: source.to_string(),
                    source_kind: SourceKind::OfacList,
                    pack: None,
                    reference: None,
                    entity: None,
                    program: None,
                    line,
                    validated: c.validated,
                    is_cluster_definer: None,
                    lastmod: None,
                    context: None,
                });
            }
            Err(reason) => out.invalid.push(Invalid {
                file: source.to_string(),
                line,
                address: raw,
                asset: asset.clone(),
                reason,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remarks_mentions() {
        let r = "a.k.a. 'X'; Digital Currency Address - XBT 1abc; alt. Digital Currency Address - ETH 0xdef; Digital Currency Address - XMR 4xyz.";
        let m = mentions(r);
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].asset, m[0].address, m[0].at_end),
            ("XBT", "1abc", false)
        );
        assert_eq!((m[1].asset, m[1].address), ("ETH", "0xdef"));
        assert_eq!((m[2].address, m[2].at_end), ("4xyz", false));
        let cut = mentions("x; alt. Digital Currency Address - XBT 1Gq");
        assert_eq!((cut[0].address, cut[0].at_end), ("1Gq", true));
        let cut = mentions("x; alt. Digital Currency Address - XBT ");
        assert_eq!((cut[0].address, cut[0].at_end), ("", true));
        let cut = mentions("x; alt. Digital Currency Address - XB");
        assert_eq!((cut[0].asset, cut[0].address), ("XB", ""));
    }

    #[test]
    fn programs_split() {
        assert_eq!(programs("DPRK3] [CYBER2").as_deref(), Some("DPRK3, CYBER2"));
        assert_eq!(programs("CYBER2").as_deref(), Some("CYBER2"));
        assert_eq!(programs("-0- "), None);
    }

    #[test]
    fn sdn_latin1_and_truncation() {
        let pad = "x".repeat(REMARKS_LIMIT);
        let long = format!(
            "{}; Digital Currency Address - XBT 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa; alt. Digital Currency Address - XBT 1Gq",
            &pad[..REMARKS_LIMIT - 108]
        );
        assert_eq!(long.chars().count(), REMARKS_LIMIT);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"1,\"M\xdcLLER, Jos\xe9\",individual,\"DPRK3] [CYBER2\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Digital Currency Address - ETH 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed; alt. Digital Currency Address - XBT 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb.\"\r\n");
        bytes.extend_from_slice(
            format!("2,\"LONG\",-0- ,\"CYBER2\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"{long}\"\r\n")
                .as_bytes(),
        );
        bytes.push(0x1a);
        let p = parse_sdn(
            Path::new("sdn.csv"),
            "sdn.csv",
            &bytes,
            &ConfidenceTable::default(),
        )
        .unwrap();
        assert_eq!(p.tags.len(), 2);
        assert_eq!(p.tags[0].entity.as_deref(), Some("M\u{dc}LLER, Jos\u{e9}"));
        assert_eq!(p.tags[0].program.as_deref(), Some("DPRK3, CYBER2"));
        assert_eq!(
            p.tags[0].address,
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
        );
        assert_eq!(p.tags[0].line, Some(1));
        assert_eq!(p.tags[0].confidence, Some(60));
        assert_eq!(p.tags[1].line, Some(2));
        assert_eq!(p.invalid.len(), 2);
        assert_eq!(p.invalid[0].line, Some(1));
        assert!(p.invalid[0].reason.contains("checksum"));
        assert_eq!(
            (p.invalid[1].line, p.invalid[1].address.as_str()),
            (Some(2), "1Gq")
        );
        assert!(p.invalid[1].reason.starts_with("cut off"));
        assert_eq!(p.truncated.len(), 1);
        assert_eq!(p.truncated[0].entity, "LONG");
    }
}
