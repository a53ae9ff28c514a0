//! The hash-chained audit log: entry hashing and chain verification.
//!
//! Entry `n` stores `hash_n = SHA-256(canonical JSON of {seq, time, actor, org, action,
//! target, detail, prev})` with `prev = hash_{n-1}` (64 zeros before the first entry).
//! Editing any field of a row breaks its hash; deleting a row breaks the `prev` link (and
//! the sequence) of the next one; deleting rows at the end is caught by the head record
//! (last `seq` and `hash`) the server keeps, signed, beside the log.

use crate::canonical::{write_number, write_string, write_value};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit log row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number, 1, 2, 3… without gaps.
    pub seq: i64,
    /// When (STIX timestamp).
    pub time: String,
    /// Who: a user name, `anonymous`, or `admin` for the command line.
    pub actor: String,
    /// The actor's organisation.
    pub org: Option<String>,
    /// What (`taxii.add`, `taxii.read`, `report.submit`, `admin.user.create`, …).
    pub action: String,
    /// On what (a collection id, a report id, a user name…).
    pub target: String,
    /// Details (object ids, counts, levels).
    pub detail: Value,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The fields of an entry before it is chained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who.
    pub actor: String,
    /// The actor's organisation.
    pub org: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details.
    pub detail: Value,
}

impl AuditEvent {
    /// Chains the event after `prev` as entry `seq` at `time`.
    pub fn chain(self, seq: i64, time: String, prev_hash: &str) -> AuditEntry {
        let hash = entry_hash(
            seq,
            &time,
            &self.actor,
            self.org.as_deref(),
            &self.action,
            &self.target,
            &self.detail,
            prev_hash,
        );
        AuditEntry {
            seq,
            time,
            actor: self.actor,
            org: self.org,
            action: self.action,
            target: self.target,
            detail: self.detail,
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }
}

/// The hash of an entry's fields: SHA-256 of the canonical JSON (RFC 8785) of
/// `{seq, time, actor, org, action, target, detail, prev}`.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    time: &str,
    actor: &str,
    org: Option<&str>,
    action: &str,
    target: &str,
    detail: &Value,
    prev_hash: &str,
) -> String {
    let mut canonical = String::new();
    write_value(&mut canonical, detail);
    Fields {
        seq,
        time,
        actor,
        org,
        action,
        target,
        prev_hash,
    }
    .hash(&canonical)
}

/// The fields of an entry besides its detail.
struct Fields<'a> {
    seq: i64,
    time: &'a str,
    actor: &'a str,
    org: Option<&'a str>,
    action: &'a str,
    target: &'a str,
    prev_hash: &'a str,
}

impl Fields<'_> {
    /// [`entry_hash`] with the detail already in canonical form. The document is hashed
    /// piece by piece, members in canonical order (action, actor, detail, org, prev, seq,
    /// target, time), never assembled: the detail of a write lists every id it stored.
    fn hash(&self, detail_canonical: &str) -> String {
        let mut h = Sha256::new();
        let mut piece = String::with_capacity(160);
        piece.push_str("{\"action\":");
        write_string(&mut piece, self.action);
        piece.push_str(",\"actor\":");
        write_string(&mut piece, self.actor);
        piece.push_str(",\"detail\":");
        h.update(piece.as_bytes());
        h.update(detail_canonical.as_bytes());
        piece.clear();
        piece.push_str(",\"org\":");
        match self.org {
            Some(o) => write_string(&mut piece, o),
            None => piece.push_str("null"),
        }
        piece.push_str(",\"prev\":");
        write_string(&mut piece, self.prev_hash);
        piece.push_str(",\"seq\":");
        write_number(&mut piece, &self.seq.into());
        piece.push_str(",\"target\":");
        write_string(&mut piece, self.target);
        piece.push_str(",\"time\":");
        write_string(&mut piece, self.time);
        piece.push('}');
        h.update(piece.as_bytes());
        hex::encode(h.finalize())
    }
}

/// An event with its detail already written out in canonical JSON (RFC 8785), the text
/// that is hashed and, being JSON of the same value, stored: the request's thread does
/// this for the big details (a TAXII write lists every id), leaving the store's single
/// writer only the hash.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    /// The event; its detail is `detail_canonical` (the `detail` here is `Null`).
    pub event: AuditEvent,
    /// Its detail in canonical JSON (RFC 8785).
    pub detail_canonical: String,
}

impl From<AuditEvent> for PreparedEvent {
    fn from(mut event: AuditEvent) -> Self {
        let mut detail_canonical = String::new();
        write_value(&mut detail_canonical, &event.detail);
        event.detail = Value::Null;
        PreparedEvent {
            detail_canonical,
            event,
        }
    }
}

/// The detail of a write of objects, `{"count": N, "ids": [...]}`, written out in
/// canonical JSON as the ids come, without a `Value` of them (the same text as
/// [`PreparedEvent::from`] gives for that detail).
#[derive(Clone, Debug, Default)]
pub struct IdListing {
    ids: String,
    count: usize,
}

impl IdListing {
    /// An empty listing with room for `n` ids of STIX length.
    pub fn with_capacity(n: usize) -> IdListing {
        IdListing {
            ids: String::with_capacity(n * 52),
            count: 0,
        }
    }

    /// Adds `id`.
    pub fn push(&mut self, id: &str) {
        if self.count > 0 {
            self.ids.push(',');
        }
        write_string(&mut self.ids, id);
        self.count += 1;
    }

    /// Ids added.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no id was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `event` with this listing as its detail.
    pub fn into_event(self, mut event: AuditEvent) -> PreparedEvent {
        event.detail = Value::Null;
        PreparedEvent {
            detail_canonical: format!("{{\"count\":{},\"ids\":[{}]}}", self.count, self.ids),
            event,
        }
    }
}

impl PreparedEvent {
    /// The event with its detail (read back from the canonical text).
    pub fn into_event(self) -> AuditEvent {
        let mut event = self.event;
        event.detail = serde_json::from_str(&self.detail_canonical).unwrap_or(Value::Null);
        event
    }

    /// The hash of the event chained after `prev_hash` as entry `seq` at `time` (the
    /// same as [`entry_hash`] of the entry).
    pub fn hash(&self, seq: i64, time: &str, prev_hash: &str) -> String {
        let e = &self.event;
        Fields {
            seq,
            time,
            actor: &e.actor,
            org: e.org.as_deref(),
            action: &e.action,
            target: &e.target,
            prev_hash,
        }
        .hash(&self.detail_canonical)
    }
}

/// The last entry as the server records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Last sequence number (0 for an empty log).
    pub seq: i64,
    /// Its hash ([`GENESIS`] for an empty log).
    pub hash: String,
}

/// What is wrong with a log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A row's content does not match its hash.
    #[error("audit entry {seq} was edited (its hash does not match its content)")]
    Edited {
        /// The row.
        seq: i64,
    },
    /// Rows are missing before this one.
    #[error("audit entries are missing before entry {seq} (expected seq {expected})")]
    Missing {
        /// The row after the gap.
        seq: i64,
        /// The sequence number that should have come.
        expected: i64,
    },
    /// A row does not link to the one before it.
    #[error(
        "audit entry {seq} does not link to the entry before it (a row was deleted or replaced)"
    )]
    Broken {
        /// The row.
        seq: i64,
    },
    /// The log does not end where the head says.
    #[error("the audit log ends at entry {last} but its head record says {head} (rows deleted at the end, or the head was altered)")]
    Head {
        /// Last row found.
        last: i64,
        /// Head's seq.
        head: i64,
    },
}

/// Verifies a log read in `seq` order against its head: the number of entries on success.
pub fn verify_chain(entries: &[AuditEntry], head: Option<&AuditHead>) -> Result<usize, AuditError> {
    let mut prev = GENESIS.to_string();
    let mut expected = 1;
    for e in entries {
        if e.seq != expected {
            return Err(AuditError::Missing {
                seq: e.seq,
                expected,
            });
        }
        let h = entry_hash(
            e.seq,
            &e.time,
            &e.actor,
            e.org.as_deref(),
            &e.action,
            &e.target,
            &e.detail,
            &e.prev_hash,
        );
        if h != e.hash {
            return Err(AuditError::Edited { seq: e.seq });
        }
        if e.prev_hash != prev {
            return Err(AuditError::Broken { seq: e.seq });
        }
        prev = e.hash.clone();
        expected += 1;
    }
    if let Some(h) = head {
        let last = expected - 1;
        if h.seq != last || h.hash != prev {
            return Err(AuditError::Head { last, head: h.seq });
        }
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_listing_is_the_canonical_text_of_its_detail() {
        let ids = ["indicator--a", "tricky \"quote\" \u{1}", "ünïcode"];
        let event = |detail| AuditEvent {
            actor: "a".into(),
            org: Some("o".into()),
            action: "taxii.add".into(),
            target: "c".into(),
            detail,
        };
        let mut listing = IdListing::with_capacity(ids.len());
        ids.iter().for_each(|i| listing.push(i));
        assert_eq!(listing.len(), 3);
        let listed = listing.into_event(event(Value::Null));
        let from = PreparedEvent::from(event(json!({"ids": ids, "count": 3})));
        assert_eq!(listed.detail_canonical, from.detail_canonical);
        assert_eq!(listed.hash(7, "t", "p"), from.hash(7, "t", "p"));
        assert_eq!(listed.into_event().detail, json!({"count": 3, "ids": ids}));
        let empty = IdListing::default().into_event(event(Value::Null));
        assert_eq!(empty.detail_canonical, r#"{"count":0,"ids":[]}"#);
    }
    use serde_json::json;

    #[test]
    fn a_prepared_event_hashes_as_its_entry_does() {
        // Keys out of order, non-ASCII text, a float and an escape: the prepared detail
        // must be the canonical form, not serde's.
        let event = AuditEvent {
            actor: "ålice \"a\"".into(),
            org: None,
            action: "taxii.add".into(),
            target: "c1".into(),
            detail: json!({"z": 1.50, "ids": ["a\u{1}b", "é"], "a": {"y": null, "b": true}}),
        };
        let entry = event
            .clone()
            .chain(1, "2025-01-01T00:00:07.000Z".into(), GENESIS);
        let prepared = PreparedEvent::from(event);
        assert_eq!(
            prepared.hash(1, "2025-01-01T00:00:07.000Z", GENESIS),
            entry.hash
        );
        assert_ne!(
            prepared.hash(2, "2025-01-01T00:00:07.000Z", GENESIS),
            entry.hash
        );
        assert_eq!(
            serde_json::from_str::<Value>(&prepared.detail_canonical).unwrap(),
            entry.detail
        );
        assert_eq!(verify_chain(&[entry], None), Ok(1));
    }

    fn log(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let e = AuditEvent {
                    actor: "alice".into(),
                    org: Some("Org".into()),
                    action: "taxii.add".into(),
                    target: "c1".into(),
                    detail: json!({"n": seq}),
                }
                .chain(seq, format!("2025-01-01T00:00:{seq:02}.000Z"), &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn hash_is_sha256_of_the_canonical_document() {
        for (seq, org, detail) in [
            (
                1,
                Some("Org \"q\"\n"),
                json!({"count": 2, "ids": ["a--1", "b\u{1}"], "z": 1.5}),
            ),
            (9_007_199_254_740_993, None, json!(null)),
            (
                -3,
                Some("é"),
                json!({"b": [true, {"y": 1, "x": "\\"}], "a": -0.0}),
            ),
        ] {
            let doc = json!({
                "seq": seq, "time": "2025-01-01T00:00:00.000Z", "actor": "alice\t",
                "org": org, "action": "taxii.add", "target": "c1", "detail": detail,
                "prev": GENESIS,
            });
            let want = hex::encode(Sha256::digest(crate::canonical::to_canonical_bytes(&doc)));
            let got = entry_hash(
                seq,
                "2025-01-01T00:00:00.000Z",
                "alice\t",
                org,
                "taxii.add",
                "c1",
                &detail,
                GENESIS,
            );
            assert_eq!(got, want);
        }
    }

    #[test]
    fn detects_edits_and_deletions() {
        let l = log(5);
        let head = AuditHead {
            seq: 5,
            hash: l[4].hash.clone(),
        };
        assert_eq!(verify_chain(&l, Some(&head)), Ok(5));
        let mut edited = l.clone();
        edited[2].detail = json!({"n": 99});
        assert_eq!(
            verify_chain(&edited, Some(&head)),
            Err(AuditError::Edited { seq: 3 })
        );
        let mut deleted = l.clone();
        deleted.remove(1);
        assert!(matches!(
            verify_chain(&deleted, Some(&head)),
            Err(AuditError::Missing { seq: 3, .. })
        ));
        let truncated = &l[..4];
        assert!(matches!(
            verify_chain(truncated, Some(&head)),
            Err(AuditError::Head { .. })
        ));
        // Deleting a row and renumbering the rest breaks the link.
        let mut renumbered = l.clone();
        renumbered.remove(1);
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        assert!(verify_chain(&renumbered, None).is_err());
    }
}
