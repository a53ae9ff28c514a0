//! Attribution tags for chainwatch: imports GraphSense TagPacks and ActorPacks, the OFAC
//! SDN list (`SDN.CSV`) and its per-asset address lists, and MISP galaxy threat actors
//! into one normalized, idempotent tag store that the tracing code and the server query.
//!
//! * [`TagStore`] keeps one normalized JSON file per imported source under
//!   `<data>/tags/`, named after the source's canonical path and holding the SHA-256 of
//!   its bytes: importing the same file again replaces that one file (or, if the bytes
//!   are the same, leaves it alone and reports `unchanged`).
//! * Every address is checked for its chain ([`validate`]); malformed addresses are
//!   reported with file and line and skipped; addresses of assets that cannot be checked
//!   (e.g. an unknown token) are kept with `validated: false`.
//! * [`detect`] tells a tag source from files that are not (READMEs, licences, schema
//!   files); the TagPack tool's `confidence.csv` becomes the confidence table.

pub mod audit;
pub mod canonical;
pub mod confidence;
pub mod detect;
mod misp;
mod ofac;
pub mod policy;
pub mod raw;
pub mod report;
pub mod signing;
pub mod stix;
pub mod store;
mod tagpack;
pub mod taxii;
pub mod tlp;
pub mod validate;
pub mod yaml;

pub use confidence::ConfidenceTable;
pub use detect::{detect, Detected};
pub use store::{ImportSummary, Skipped, TagStore};

use chainwatch_types::Chain;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Kind of source a tag or actor came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A GraphSense TagPack (YAML).
    TagPack,
    /// A GraphSense ActorPack (YAML).
    ActorPack,
    /// The OFAC SDN list as `SDN.CSV`.
    OfacSdn,
    /// A per-asset list of OFAC-sanctioned addresses (`sanctioned_addresses_<ASSET>.txt|json`).
    OfacList,
    /// A MISP galaxy cluster file of actors (`threat-actor.json`, `mitre-intrusion-set.json`).
    MispGalaxy,
    /// A confidence table (the TagPack tool's `confidence.csv`).
    ConfidenceTable,
}

impl SourceKind {
    /// Short name used in reports (`tagpack`, `ofac-sdn`, …).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::TagPack => "tagpack",
            SourceKind::ActorPack => "actorpack",
            SourceKind::OfacSdn => "ofac-sdn",
            SourceKind::OfacList => "ofac-list",
            SourceKind::MispGalaxy => "misp-galaxy",
            SourceKind::ConfidenceTable => "confidence-table",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One attribution: an address of an asset, what it is, who controls it, and where the
/// claim comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// Canonical address: EVM, bech32 and CashAddr lower-case, base58 forms as written.
    pub address: String,
    /// Asset or currency (`BTC`, `ETH`, `USDT`, …; OFAC's `XBT` becomes `BTC`).
    pub asset: String,
    /// Network the address was checked on (`BTC`, `ETH`, `TRX`, …): differs from the asset
    /// for tokens (USDT on `ETH`, `TRX` or Omni on `BTC`).
    pub network: String,
    /// The chainwatch chain, for Bitcoin/Litecoin-family addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
    /// Label (a TagPack label, an SDN entity name, …).
    pub label: String,
    /// Category (GraphSense concept such as `exchange`, `mixing_service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Abuse (GraphSense concept such as `sanction`, `service_hack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse: Option<String>,
    /// Actor the tag points to (an ActorPack id, a MISP actor name or synonym…);
    /// resolve it with [`TagStore::actor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Confidence level 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// Confidence name from the confidence table (`authority_data`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_name: Option<String>,
    /// The file the tag was imported from (canonical path).
    pub source: String,
    /// Kind of that file.
    pub source_kind: SourceKind,
    /// Title of the TagPack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    /// Where the claim comes from according to the source (a TagPack tag's `source` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Sanctioned entity (OFAC SDN name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Sanctions program(s) (OFAC SDN, e.g. `DPRK3, CYBER2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Line in the source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Whether the address's format and checksum were verified for its network.
    pub validated: bool,
    /// TagPack `is_cluster_definer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_cluster_definer: Option<bool>,
    /// Last modification date as the source gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastmod: Option<String>,
    /// Extra context as JSON text (TagPack `context`, SDN entry number and type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A real-world actor (a threat group, an exchange, a mixer) tags can point to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Identifier: the ActorPack id (`lazarusgroup`) or the MISP cluster UUID.
    pub id: String,
    /// Name (ActorPack label, MISP value without MITRE's ` - G0032` suffix).
    pub name: String,
    /// Other names (ActorPack aliases, MISP synonyms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synonyms: Vec<String>,
    /// Country (MISP `country`, or the single ActorPack jurisdiction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// ActorPack jurisdictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jurisdictions: Vec<String>,
    /// ActorPack categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Web address (ActorPack `uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// External id (MITRE ATT&CK group id such as `G0032`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Suspected state sponsor (MISP `cfr-suspected-state-sponsor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_sponsor: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MISP galaxy type (`threat-actor`, `mitre-intrusion-set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub galaxy: Option<String>,
    /// The file the actor was imported from (canonical path).
    pub source: String,
    /// Kind of that file.
    pub source_kind: SourceKind,
    /// Line in the source file (YAML sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// An address that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalid {
    /// Source file.
    pub file: String,
    /// Line in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The address as written (possibly cut off).
    pub address: String,
    /// Asset it was given for.
    pub asset: String,
    /// Why it was rejected.
    pub reason: String,
}

/// An OFAC SDN entry whose Remarks are at (or near) the 1,000-character limit of
/// `SDN.CSV`: the file may have lost some of its addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    /// Line in the CSV.
    pub line: usize,
    /// SDN entry number.
    pub ent_num: String,
    /// SDN name.
    pub entity: String,
    /// Sanctions program(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Length of the Remarks in characters.
    pub remarks_chars: usize,
    /// Addresses (complete or not) found in what is left.
    pub addresses_found: usize,
}

/// What one import did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Source file (canonical path).
    pub source: String,
    /// Its kind.
    pub kind: SourceKind,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Tags the source now holds in the store.
    pub tags: usize,
    /// Actors the source now holds in the store.
    pub actors: usize,
    /// Of `tags`, how many could not be validated for their asset.
    pub unvalidated: usize,
    /// Entries per asset (after normalisation, e.g. `BTC`), imported tags only.
    pub per_asset: std::collections::BTreeMap<String, usize>,
    /// Addresses reported and skipped.
    pub invalid: Vec<Invalid>,
    /// Warnings (with line where there is one).
    pub warnings: Vec<String>,
    /// SDN entries whose Remarks may be cut off (OFAC SDN only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<Truncated>,
    /// True when the store already held this source with the same content (nothing changed).
    pub unchanged: bool,
}

/// Errors of the importers and the store; every one names the file, and the line where
/// there is one.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file could not be parsed or does not have the structure of its kind.
    #[error("{path}:{line}: {message}", line = line.map_or("-".to_string(), |l| l.to_string()))]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line (1-based) where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The file is not a tag source (README, licence, schema file, unknown format).
    #[error("{path}: not a tag source: {reason}")]
    NotASource {
        /// The file.
        path: PathBuf,
        /// Why it is not one.
        reason: String,
    },
    /// A file in the tag store is damaged.
    #[error("tag store file {path}: {message}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl IntelError {
    pub(crate) fn parse(
        path: &std::path::Path,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        IntelError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        IntelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result of the importers.
pub type Result<T, E = IntelError> = std::result::Result<T, E>;

/// What an importer produced from one file, before it is stored.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub tags: Vec<Tag>,
    pub actors: Vec<Actor>,
    pub invalid: Vec<Invalid>,
    pub warnings: Vec<String>,
    pub truncated: Vec<Truncated>,
    /// Confidence levels by name (confidence tables only).
    pub confidence: Vec<confidence::Level>,
}

/// Line numbers of CSV records from their byte positions.
///
/// The `csv` crate's own line count lags behind with CRLF line ends (it counts a line
/// when it reads the LF that ends it, which it does at the start of the next record),
/// and its byte position points at that LF; this skips the line end and counts the LFs
/// before the record, incrementally (records come in order).
pub(crate) struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        LineCounter {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// Line (1-based) of the record whose position is `pos`.
    pub(crate) fn line(&mut self, pos: Option<&csv::Position>) -> usize {
        let Some(pos) = pos else { return self.line };
        let mut start = (pos.byte() as usize).min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        self.line += self.text[self.pos..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.pos = start;
        self.line
    }
}
