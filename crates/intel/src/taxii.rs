//! TAXII 2.1 logic without I/O: media types, query filters (`added_after`, `limit`,
//! `next`, `match[id|type|version|spec_version]`), the envelope, and the stateless
//! signed `next` token.
//!
//! A `next` token is `base64url(JSON) "." base64url(HMAC-SHA256)` over the collection,
//! the endpoint, the caller, a digest of the filters and the position after the last
//! object served (its `date_added` and storage sequence number), with an expiry. The
//! server keeps no page state: it checks the MAC, that the token was issued to the same
//! caller for the same collection, endpoint and filters, and then runs the query again
//! with the caller's *current* rights from that position — revoked rights take effect
//! on the next page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The TAXII 2.1 media type, exact.
pub const MEDIA_TYPE_TAXII: &str = "application/taxii+json;version=2.1";

/// The STIX 2.1 media type (manifest entries, collection media types).
pub const MEDIA_TYPE_STIX: &str = "application/stix+json;version=2.1";

/// How long a `next` token stays valid, seconds.
pub const NEXT_TTL_SECS: i64 = 3600;

/// A request the server must refuse with 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaxiiError {
    /// A query parameter is malformed or not supported.
    #[error("{0}")]
    BadParameter(String),
    /// The `next` token is malformed, forged, expired or not the caller's.
    #[error("invalid 'next' token: {0}")]
    BadNext(String),
}

fn normalize_media(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether an `Accept` header admits TAXII 2.1 responses (`application/taxii+json` with
/// `version=2.1` or without a version, in any item of the list).
pub fn accepts_taxii(accept: Option<&str>) -> bool {
    let Some(a) = accept else { return false };
    a.split(',').any(|item| {
        let item = normalize_media(item);
        let mut parts = item.split(';');
        if parts.next() != Some("application/taxii+json") {
            return false;
        }
        let params: Vec<&str> = parts.filter(|p| !p.starts_with("q=")).collect();
        params.is_empty() || params == ["version=2.1"]
    })
}

/// Whether a request `Content-Type` is exactly TAXII 2.1.
pub fn is_taxii_content_type(ct: Option<&str>) -> bool {
    ct.is_some_and(|c| normalize_media(c) == MEDIA_TYPE_TAXII)
}

/// `match[version]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMatch {
    /// `first`.
    pub first: bool,
    /// `last` (the default when no `match[version]` is given).
    pub last: bool,
    /// `all`.
    pub all: bool,
    /// Exact versions (microseconds).
    pub at: Vec<i64>,
}

/// The filters and paging of a TAXII request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// `added_after` (microseconds since the epoch, exclusive).
    pub added_after: Option<i64>,
    /// `match[id]`.
    pub ids: Vec<String>,
    /// `match[type]`.
    pub types: Vec<String>,
    /// `match[version]`.
    pub versions: VersionMatch,
    /// `match[spec_version]` (only `2.1` is stored here, so any other value matches nothing).
    pub spec_versions: Vec<String>,
    /// Page size (bounded by the server's maximum).
    pub limit: usize,
    /// `next` as given.
    #[serde(skip)]
    pub next: Option<String>,
}

impl Filter {
    /// A digest of everything but `limit` and `next`, bound into `next` tokens.
    pub fn digest(&self) -> String {
        let mut f = self.clone();
        f.limit = 0;
        f.next = None;
        let s = serde_json::to_string(&f).unwrap_or_default();
        hex::encode(&Sha256::digest(s.as_bytes())[..16])
    }

    /// Whether the filter can match anything given the spec versions this server stores.
    pub fn spec_version_matches(&self) -> bool {
        self.spec_versions.is_empty() || self.spec_versions.iter().any(|s| s == "2.1")
    }
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Parses the query pairs of a TAXII request (already percent-decoded).
///
/// `limit` defaults to `default_limit` and is capped at `max_limit`; `limit=0`, a
/// non-number or a negative one is an error, as are unknown `match[…]` fields and bad
/// timestamps. Unknown parameters are ignored, as TAXII allows.
pub fn parse_filter(
    pairs: &[(String, String)],
    default_limit: usize,
    max_limit: usize,
) -> Result<Filter, TaxiiError> {
    let mut f = Filter {
        limit: default_limit.min(max_limit),
        ..Filter::default()
    };
    let bad = |m: String| TaxiiError::BadParameter(m);
    for (k, v) in pairs {
        match k.as_str() {
            "added_after" => {
                let t = crate::stix::parse_timestamp(v.trim())
                    .ok_or_else(|| bad(format!("added_after is not a timestamp: {v:?}")))?;
                f.added_after = Some(t);
            }
            "limit" => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("limit must be a positive integer: {v:?}")))?;
                if n == 0 {
                    return Err(bad("limit must be at least 1".into()));
                }
                f.limit = n.min(max_limit);
            }
            "next" => f.next = Some(v.clone()),
            "match[id]" => f.ids.extend(split_list(v).map(str::to_string)),
            "match[type]" => f.types.extend(split_list(v).map(str::to_string)),
            "match[spec_version]" => f.spec_versions.extend(split_list(v).map(str::to_string)),
            "match[version]" => {
                for item in split_list(v) {
                    match item {
                        "first" => f.versions.first = true,
                        "last" => f.versions.last = true,
                        "all" => f.versions.all = true,
                        t => f.versions.at.push(crate::stix::parse_timestamp(t).ok_or_else(
                            || bad(format!("match[version] value is not first, last, all or a timestamp: {t:?}")),
                        )?),
                    }
                }
            }
            k if k.starts_with("match[") => {
                return Err(bad(format!(
                    "unsupported filter {k} (supported: match[id], match[type], match[version], match[spec_version])"
                )))
            }
            _ => {}
        }
    }
    if f.versions == VersionMatch::default() {
        f.versions.last = true;
    }
    f.ids.sort();
    f.ids.dedup();
    f.types.sort();
    f.types.dedup();
    f.versions.at.sort_unstable();
    f.spec_versions.sort();
    Ok(f)
}

/// A position in a collection's order of addition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    /// `date_added` of the last object served, microseconds.
    pub date_added: i64,
    /// Its storage sequence number (ties on `date_added`).
    pub seq: i64,
}

/// What a `next` token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextToken {
    /// Collection id.
    #[serde(rename = "c")]
    pub collection: String,
    /// Endpoint (`objects`, `manifest`, `versions:<id>`, `object:<id>`).
    #[serde(rename = "e")]
    pub endpoint: String,
    /// The caller it was issued to (user id, or `anonymous`).
    #[serde(rename = "p")]
    pub principal: String,
    /// [`Filter::digest`] of the request.
    #[serde(rename = "f")]
    pub filter: String,
    /// Continue after this position.
    #[serde(rename = "a")]
    pub after: Cursor,
    /// Expiry, seconds since the epoch.
    #[serde(rename = "x")]
    pub expires: i64,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], payload: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        <HmacSha256 as Mac>::new_from_slice(&[0u8; 32]).expect("fixed key length")
    });
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

impl NextToken {
    /// Encodes and signs the token.
    pub fn encode(&self, key: &[u8]) -> String {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "{}.{}",
            B64URL.encode(&payload),
            B64URL.encode(mac(key, &payload))
        )
    }

    /// Decodes a token, checking its MAC and expiry (`now`: seconds since the epoch).
    pub fn decode(key: &[u8], token: &str, now: i64) -> Result<NextToken, TaxiiError> {
        let bad = |m: &str| TaxiiError::BadNext(m.to_string());
        if token.len() > 2048 {
            return Err(bad("too long"));
        }
        let (p, s) = token.split_once('.').ok_or_else(|| bad("malformed"))?;
        let payload = B64URL.decode(p).map_err(|_| bad("malformed"))?;
        let sig = B64URL.decode(s).map_err(|_| bad("malformed"))?;
        let mut m = <HmacSha256 as Mac>::new_from_slice(key).map_err(|_| bad("server key"))?;
        m.update(&payload);
        m.verify_slice(&sig)
            .map_err(|_| bad("signature does not verify"))?;
        let t: NextToken = serde_json::from_slice(&payload).map_err(|_| bad("malformed"))?;
        if t.expires < now {
            return Err(bad("expired"));
        }
        Ok(t)
    }

    /// Checks that the token belongs to this request.
    pub fn check(
        &self,
        collection: &str,
        endpoint: &str,
        principal: &str,
        filter: &Filter,
    ) -> Result<Cursor, TaxiiError> {
        if self.collection != collection || self.endpoint != endpoint {
            return Err(TaxiiError::BadNext(
                "issued for another collection or endpoint".into(),
            ));
        }
        if self.principal != principal {
            return Err(TaxiiError::BadNext("issued to another caller".into()));
        }
        if self.filter != filter.digest() {
            return Err(TaxiiError::BadNext(
                "the filters differ from the request that issued it".into(),
            ));
        }
        Ok(self.after)
    }
}

/// Writes a TAXII envelope from already-serialized objects.
pub fn envelope_json<'a>(
    more: bool,
    next: Option<&str>,
    objects: impl Iterator<Item = &'a str>,
) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("{\"more\":");
    out.push_str(if more { "true" } else { "false" });
    if let Some(n) = next {
        out.push_str(",\"next\":");
        out.push_str(&serde_json::Value::String(n.to_string()).to_string());
    }
    let mut first = true;
    for o in objects {
        if first {
            out.push_str(",\"objects\":[");
            first = false;
        } else {
            out.push(',');
        }
        out.push_str(o);
    }
    if !first {
        out.push(']');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn media_types() {
        assert!(accepts_taxii(Some("application/taxii+json;version=2.1")));
        assert!(accepts_taxii(Some("application/taxii+json; version=2.1")));
        assert!(accepts_taxii(Some("text/html, application/taxii+json")));
        assert!(!accepts_taxii(Some("application/taxii+json;version=2.0")));
        assert!(!accepts_taxii(Some("application/json")));
        assert!(!accepts_taxii(None));
        assert!(is_taxii_content_type(Some(
            "application/taxii+json;version=2.1"
        )));
        assert!(!is_taxii_content_type(Some("application/json")));
        assert!(!is_taxii_content_type(Some("application/taxii+json")));
    }

    #[test]
    fn filters() {
        let f = parse_filter(
            &pairs(&[
                ("match[type]", "indicator,malware"),
                ("match[version]", "all"),
                ("limit", "5000"),
                ("added_after", "2020-01-01T00:00:00Z"),
            ]),
            100,
            1000,
        )
        .unwrap();
        assert_eq!(f.types, ["indicator", "malware"]);
        assert!(f.versions.all && !f.versions.last);
        assert_eq!(f.limit, 1000);
        assert!(f.added_after.is_some());
        let d = parse_filter(&[], 100, 1000).unwrap();
        assert!(d.versions.last);
        for bad in [
            ("limit", "0"),
            ("limit", "-1"),
            ("added_after", "yesterday"),
            ("match[version]", "newest"),
            ("match[color]", "red"),
        ] {
            assert!(parse_filter(&pairs(&[bad]), 100, 1000).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn next_tokens() {
        let f = parse_filter(&[], 10, 10).unwrap();
        let t = NextToken {
            collection: "c".into(),
            endpoint: "objects".into(),
            principal: "7".into(),
            filter: f.digest(),
            after: Cursor {
                date_added: 5,
                seq: 9,
            },
            expires: 1000,
        };
        let s = t.encode(b"key");
        let back = NextToken::decode(b"key", &s, 10).unwrap();
        assert_eq!(back.check("c", "objects", "7", &f), Ok(t.after));
        assert!(back.check("c", "objects", "8", &f).is_err());
        assert!(back.check("d", "objects", "7", &f).is_err());
        let other = parse_filter(&pairs(&[("match[type]", "x")]), 10, 10).unwrap();
        assert!(back.check("c", "objects", "7", &other).is_err());
        assert!(NextToken::decode(b"other key", &s, 10).is_err());
        assert!(NextToken::decode(b"key", &s, 2000).is_err());
        assert!(NextToken::decode(b"key", "garbage", 10).is_err());
        // A changed payload with the old MAC fails.
        let (p, m) = s.split_once('.').unwrap();
        let mut tampered = String::from_utf8(B64URL.decode(p).unwrap()).unwrap();
        tampered = tampered.replace("\"p\":\"7\"", "\"p\":\"8\"");
        let forged = format!("{}.{m}", B64URL.encode(tampered));
        assert!(NextToken::decode(b"key", &forged, 10).is_err());
    }

    #[test]
    fn envelope() {
        assert_eq!(
            envelope_json(false, None, std::iter::empty()),
            "{\"more\":false}"
        );
        let e = envelope_json(true, Some("n"), ["{\"a\":1}", "{}"].into_iter());
        let v: serde_json::Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["objects"].as_array().unwrap().len(), 2);
        assert_eq!(v["next"], "n");
    }
}
