//! A theft's stolen outputs as trace sources: parsed from the simulator's `incident.json`, a
//! friendly report JSON (`stolen_outputs`), or `TXID[:VOUT]` strings, and resolved in the
//! chain store. Shared by `chainwatch trace --incident` and the server's report traces.

use crate::taint::Source;
use chainwatch_chain::from_hex;
use chainwatch_chain::store::Store;
use serde_json::Value;

/// Why stolen outputs could not be read or resolved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A reference is not `TXID` or `TXID:VOUT`.
    #[error("'{0}': not a txid (64 hex digits) or txid:vout")]
    BadRef(String),
    /// The output index is not a number.
    #[error("'{0}': output index is not a number")]
    BadVout(String),
    /// An item of `outputs`/`stolen_outputs` has the wrong JSON type.
    #[error("`{0}` items must be \"txid:vout\" or {{txid, vout}}")]
    BadItem(String),
    /// The document names no outputs.
    #[error("no `outputs`, `stolen_outputs` or `txids`")]
    Empty,
    /// The tx is not in the store (not ingested yet, or another chain).
    #[error("tx {0} is not in the store")]
    UnknownTx(String),
    /// The tx has fewer outputs.
    #[error("tx {0} has no output {1}")]
    UnknownOutput(String, u32),
}

/// A stolen output reference: txid (hex, RPC order) and an output index (`None`: all).
pub type OutRef = (String, Option<u32>);

/// Parses one `TXID` or `TXID:VOUT` reference.
pub fn parse_ref(s: &str) -> Result<OutRef, SourceError> {
    let (txid, vout) = match s.split_once(':') {
        Some((t, v)) => {
            let v = v
                .parse::<u32>()
                .map_err(|_| SourceError::BadVout(s.to_string()))?;
            (t, Some(v))
        }
        None => (s, None),
    };
    if txid.len() != 64 || from_hex(txid).is_none() {
        return Err(SourceError::BadRef(s.to_string()));
    }
    Ok((txid.to_string(), vout))
}

/// The stolen outputs of an incident document: the simulator's `incident.json`
/// (`{victim, txids, outputs}`), a friendly report (`stolen_outputs` as strings or
/// `{txid, vout}` objects), or the theft extension of a STIX incident (same keys).
pub fn incident_refs(v: &Value) -> Result<Vec<OutRef>, SourceError> {
    let mut refs = Vec::new();
    for key in ["outputs", "stolen_outputs"] {
        if let Some(list) = v.get(key).and_then(Value::as_array) {
            for item in list {
                match item {
                    Value::String(s) => refs.push(parse_ref(s)?),
                    Value::Object(o) => {
                        let txid = o.get("txid").and_then(Value::as_str).unwrap_or_default();
                        let vout = o
                            .get("vout")
                            .and_then(Value::as_u64)
                            .and_then(|v| u32::try_from(v).ok());
                        let (t, _) = parse_ref(txid)?;
                        refs.push((t, vout));
                    }
                    _ => return Err(SourceError::BadItem(key.to_string())),
                }
            }
        }
    }
    if refs.is_empty() {
        if let Some(list) = v.get("txids").and_then(Value::as_array) {
            for t in list {
                refs.push(parse_ref(t.as_str().unwrap_or_default())?);
            }
        }
    }
    if refs.is_empty() {
        return Err(SourceError::Empty);
    }
    Ok(refs)
}

/// Resolves references to source outputs in the store (sorted, deduplicated).
pub fn resolve_sources(store: &Store, refs: &[OutRef]) -> Result<Vec<Source>, SourceError> {
    let mut out = Vec::new();
    for (txid, vout) in refs {
        let hash = from_hex(txid).ok_or_else(|| SourceError::BadRef(txid.clone()))?;
        let t = store
            .tx_by_txid(&hash)
            .ok_or_else(|| SourceError::UnknownTx(txid.clone()))?;
        let outs = store.tx_outputs(t);
        match vout {
            Some(v) if *v < outs.end - outs.start => out.push(Source {
                out_num: outs.start + v,
            }),
            Some(v) => return Err(SourceError::UnknownOutput(txid.clone(), *v)),
            None => out.extend(outs.map(|o| Source { out_num: o })),
        }
    }
    out.sort_by_key(|s| s.out_num);
    out.dedup_by_key(|s| s.out_num);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_incident_shapes() {
        let t = "ab".repeat(32);
        let v = json!({"outputs": [format!("{t}:1")]});
        assert_eq!(incident_refs(&v).unwrap(), vec![(t.clone(), Some(1))]);
        let v = json!({"stolen_outputs": [{"txid": t, "vout": 2}]});
        assert_eq!(incident_refs(&v).unwrap(), vec![(t.clone(), Some(2))]);
        let v = json!({"txids": [t]});
        assert_eq!(incident_refs(&v).unwrap(), vec![(t.clone(), None)]);
        assert!(matches!(incident_refs(&json!({})), Err(SourceError::Empty)));
        assert!(matches!(parse_ref("xyz"), Err(SourceError::BadRef(_))));
        assert!(matches!(
            parse_ref(&format!("{t}:x")),
            Err(SourceError::BadVout(_))
        ));
    }
}
