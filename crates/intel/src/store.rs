//! The tag store: one normalized JSON file per imported source under `<data>/tags/`.
//!
//! A source's file is named after the SHA-256 of its canonical path, so importing the
//! same path again replaces exactly that file: re-imports are idempotent by
//! construction. The file also records the SHA-256 of the source's bytes; when they are
//! unchanged the import does nothing and reports `unchanged: true`. Files are written to
//! a temporary name and renamed, so a crash leaves the old or the new version.

use crate::confidence::{ConfidenceTable, Level};
use crate::detect::{detect, Detected};
use crate::validate::lookup_key;
use crate::yaml;
use crate::{misp, ofac, tagpack};
use crate::{Actor, ImportReport, IntelError, Parsed, Result, SourceKind, Tag};
use chainwatch_types::Chain;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Version of the store file layout; files of another version are re-imported.
const FORMAT: u32 = 1;

/// A source as kept in memory.
struct Source {
    format: u32,
    report: ImportReport,
    tags: Vec<Tag>,
    actors: Vec<Actor>,
    confidence: Vec<Level>,
}

/// A source as written to its store file. Tags are rows of a string table (labels,
/// sources, categories… repeat across a source's tags), which keeps files small and
/// loading fast; `source` and `source_kind` are the report's.
#[derive(Serialize, Deserialize)]
struct StoredFile {
    format: u32,
    report: ImportReport,
    #[serde(default)]
    strings: Vec<String>,
    #[serde(default)]
    tags: Vec<Row>,
    #[serde(default)]
    actors: Vec<Actor>,
    #[serde(default)]
    confidence: Vec<Level>,
}

/// One tag: address, then string-table indexes and small values in [`Tag`] field order.
#[derive(Serialize, Deserialize)]
struct Row(
    String,        // address
    u32,           // asset
    u32,           // network
    Option<Chain>, // chain
    u32,           // label
    Option<u32>,   // category
    Option<u32>,   // abuse
    Option<u32>,   // actor
    Option<u8>,    // confidence
    Option<u32>,   // confidence_name
    Option<u32>,   // pack
    Option<u32>,   // reference
    Option<u32>,   // entity
    Option<u32>,   // program
    Option<usize>, // line
    bool,          // validated
    Option<bool>,  // is_cluster_definer
    Option<u32>,   // lastmod
    Option<u32>,   // context
);

#[derive(Default)]
struct Interner<'a> {
    strings: Vec<String>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.index.insert(s, i);
        i
    }

    fn opt(&mut self, s: &'a Option<String>) -> Option<u32> {
        s.as_deref().map(|s| self.id(s))
    }
}

impl Source {
    fn to_file(&self) -> StoredFile {
        let mut int = Interner::default();
        let tags = self
            .tags
            .iter()
            .map(|t| {
                Row(
                    t.address.clone(),
                    int.id(&t.asset),
                    int.id(&t.network),
                    t.chain,
                    int.id(&t.label),
                    int.opt(&t.category),
                    int.opt(&t.abuse),
                    int.opt(&t.actor),
                    t.confidence,
                    int.opt(&t.confidence_name),
                    int.opt(&t.pack),
                    int.opt(&t.reference),
                    int.opt(&t.entity),
                    int.opt(&t.program),
                    t.line,
                    t.validated,
                    t.is_cluster_definer,
                    int.opt(&t.lastmod),
                    int.opt(&t.context),
                )
            })
            .collect();
        StoredFile {
            format: self.format,
            report: self.report.clone(),
            strings: int.strings,
            tags,
            actors: self.actors.clone(),
            confidence: self.confidence.clone(),
        }
    }

    fn from_file(file: StoredFile, path: &Path) -> Result<Source> {
        let strings = &file.strings;
        let bad = || IntelError::Store {
            path: path.to_path_buf(),
            message: "string index out of range".to_string(),
        };
        let get = |i: u32| strings.get(i as usize).cloned().ok_or_else(bad);
        let opt = |i: Option<u32>| i.map(get).transpose();
        let source = &file.report.source;
        let kind = file.report.kind;
        let mut tags = Vec::with_capacity(file.tags.len());
        for r in file.tags {
            tags.push(Tag {
                address: r.0,
                asset: get(r.1)?,
                network: get(r.2)?,
                chain: r.3,
                label: get(r.4)?,
                category: opt(r.5)?,
                abuse: opt(r.6)?,
                actor: opt(r.7)?,
                confidence: r.8,
                confidence_name: opt(r.9)?,
                source: source.clone(),
                source_kind: kind,
                pack: opt(r.10)?,
                reference: opt(r.11)?,
                entity: opt(r.12)?,
                program: opt(r.13)?,
                line: r.14,
                validated: r.15,
                is_cluster_definer: r.16,
                lastmod: opt(r.17)?,
                context: opt(r.18)?,
            });
        }
        Ok(Source {
            format: file.format,
            report: file.report,
            tags,
            actors: file.actors,
            confidence: file.confidence,
        })
    }
}

/// A file that was not imported because it is not a tag source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// A file whose import failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    /// The file (or the path given).
    pub path: String,
    /// The error, with file and line.
    pub error: String,
}

/// What importing a set of files and directories did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// One report per imported source, in import order.
    pub imported: Vec<ImportReport>,
    /// Files that are not tag sources.
    pub skipped: Vec<Skipped>,
    /// Files that could not be imported.
    pub failed: Vec<Failed>,
}

/// Attribution tags and actors of every imported source, indexed for look-ups.
pub struct TagStore {
    dir: PathBuf,
    /// Sorted by source path.
    sources: Vec<Source>,
    confidence: ConfidenceTable,
    /// (hash of the look-up key, source, tag), sorted.
    by_address: Vec<(u64, u32, u32)>,
    /// Lower-case id/name/synonym → (match rank, preference, source, index).
    by_actor: HashMap<String, Vec<(u8, u8, u32, u32)>>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Name of the store file of a source: readable file name plus a hash of its path.
fn store_file_name(source: &str) -> String {
    let base = Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let readable: String = base
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{readable}-{}.json", &sha256_hex(source.as_bytes())[..16])
}

fn utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        IntelError::parse(path, Some(line), format!("not UTF-8 text ({e})"))
    })
}

/// Hash of an address look-up key (fixed keys: the same in every run).
fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

fn actor_preference(a: &Actor) -> u8 {
    match (a.source_kind, a.galaxy.as_deref()) {
        (SourceKind::ActorPack, _) => 0,
        (_, Some("threat-actor")) => 1,
        _ => 2,
    }
}

impl TagStore {
    /// Opens the store in `dir` (usually `<data>/tags`); a missing directory is an empty
    /// store, created on the first import.
    pub fn open(dir: impl AsRef<Path>) -> Result<TagStore> {
        let dir = dir.as_ref().to_path_buf();
        let mut sources: Vec<Source> = Vec::new();
        if dir.is_dir() {
            let rd = std::fs::read_dir(&dir).map_err(|e| IntelError::io(&dir, e))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "json")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            files.sort();
            for f in files {
                let bytes = std::fs::read(&f).map_err(|e| IntelError::io(&f, e))?;
                let stored: StoredFile =
                    serde_json::from_slice(&bytes).map_err(|e| IntelError::Store {
                        path: f.clone(),
                        message: format!(
                            "line {}: {e} (delete the file and import its source again)",
                            e.line()
                        ),
                    })?;
                if stored.format > FORMAT {
                    return Err(IntelError::Store {
                        path: f,
                        message: format!(
                            "written by a newer chainwatch (format {}, this one reads {FORMAT})",
                            stored.format
                        ),
                    });
                }
                // A file that no longer carries its source's name (renamed by hand) loses
                // to the one that does.
                if f.file_name().and_then(|n| n.to_str())
                    != Some(store_file_name(&stored.report.source).as_str())
                {
                    continue;
                }
                sources.push(Source::from_file(stored, &f)?);
            }
        }
        sources.sort_by(|a, b| a.report.source.cmp(&b.report.source));
        let mut store = TagStore {
            dir,
            sources,
            confidence: ConfidenceTable::default(),
            by_address: Vec::new(),
            by_actor: HashMap::new(),
        };
        store.refresh_confidence();
        store.reindex();
        Ok(store)
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rebuilds the confidence table: built-in levels, then imported tables by path.
    fn refresh_confidence(&mut self) {
        let mut table = ConfidenceTable::default();
        for s in &self.sources {
            table.extend(s.confidence.iter().cloned());
        }
        self.confidence = table;
    }

    /// Applies the confidence table to the tags and rebuilds the indexes.
    fn reindex(&mut self) {
        let table = &self.confidence;
        self.by_address.clear();
        self.by_actor.clear();
        for (si, s) in self.sources.iter_mut().enumerate() {
            for (ti, t) in s.tags.iter_mut().enumerate() {
                // Levels follow the current table (a later confidence.csv applies too).
                if let Some(level) = t.confidence_name.as_deref().and_then(|n| table.level(n)) {
                    t.confidence = Some(level);
                }
                self.by_address
                    .push((key_hash(&lookup_key(&t.address)), si as u32, ti as u32));
            }
            for (ai, a) in s.actors.iter().enumerate() {
                let pref = actor_preference(a);
                let mut add = |key: &str, rank: u8| {
                    let k = key.trim().to_lowercase();
                    if !k.is_empty() {
                        self.by_actor
                            .entry(k)
                            .or_default()
                            .push((rank, pref, si as u32, ai as u32));
                    }
                };
                add(&a.id, 0);
                add(&a.name, 1);
                for syn in &a.synonyms {
                    add(syn, 2);
                }
            }
        }
        self.by_address.sort_unstable();
        for v in self.by_actor.values_mut() {
            v.sort_unstable();
        }
    }

    /// Every tag, by source path then file order.
    pub fn tags(&self) -> impl Iterator<Item = &Tag> {
        self.sources.iter().flat_map(|s| s.tags.iter())
    }

    /// Number of tags.
    pub fn tag_count(&self) -> usize {
        self.sources.iter().map(|s| s.tags.len()).sum()
    }

    /// The tags of an address (EVM, bech32 and CashAddr compared case-insensitively).
    pub fn tags_for(&self, address: &str) -> Vec<&Tag> {
        let key = lookup_key(address);
        let h = key_hash(&key);
        let start = self.by_address.partition_point(|e| e.0 < h);
        self.by_address[start..]
            .iter()
            .take_while(|e| e.0 == h)
            .map(|&(_, s, t)| &self.sources[s as usize].tags[t as usize])
            .filter(|t| lookup_key(&t.address) == key)
            .collect()
    }

    /// Every actor, by source path then file order.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> {
        self.sources.iter().flat_map(|s| s.actors.iter())
    }

    /// The best actor for an id, name or synonym (case-insensitive): an id match before
    /// a name match before a synonym match; among equals, ActorPack actors before MISP
    /// threat actors before other galaxies (MITRE), then source order.
    pub fn actor(&self, key: &str) -> Option<&Actor> {
        self.actors_matching(key).into_iter().next()
    }

    /// Every actor whose id, name or synonym is `key` (case-insensitive), best first.
    pub fn actors_matching(&self, key: &str) -> Vec<&Actor> {
        let mut seen = std::collections::HashSet::new();
        self.by_actor
            .get(&key.trim().to_lowercase())
            .map(|v| {
                v.iter()
                    .filter(|(_, _, s, a)| seen.insert((*s, *a)))
                    .map(|&(_, _, s, a)| &self.sources[s as usize].actors[a as usize])
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Actor references of tags that match no actor in the store, with their tag counts.
    pub fn unresolved_actors(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for t in self.tags() {
            if let Some(a) = &t.actor {
                if !self.by_actor.contains_key(&a.trim().to_lowercase()) {
                    *out.entry(a.clone()).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// The report of every stored source (as of its last import), by source path.
    pub fn sources(&self) -> impl Iterator<Item = &ImportReport> {
        self.sources.iter().map(|s| &s.report)
    }

    /// The confidence table in force (built-in plus imported tables).
    pub fn confidence_table(&self) -> &ConfidenceTable {
        &self.confidence
    }

    /// Removes a source (its path as given or as stored) and its tags; false if unknown.
    pub fn remove(&mut self, source: &Path) -> Result<bool> {
        let key = std::fs::canonicalize(source).map_or_else(
            |_| source.display().to_string(),
            |p| p.display().to_string(),
        );
        let Some(i) = self.sources.iter().position(|s| s.report.source == key) else {
            return Ok(false);
        };
        let file = self.dir.join(store_file_name(&key));
        std::fs::remove_file(&file).map_err(|e| IntelError::io(&file, e))?;
        self.sources.remove(i);
        self.refresh_confidence();
        self.reindex();
        Ok(true)
    }

    /// Imports one file. Files that are not tag sources give [`IntelError::NotASource`].
    pub fn import(&mut self, path: impl AsRef<Path>) -> Result<ImportReport> {
        let path = path.as_ref();
        let canon = std::fs::canonicalize(path).map_err(|e| IntelError::io(path, e))?;
        let bytes = std::fs::read(&canon).map_err(|e| IntelError::io(&canon, e))?;
        match detect(&canon, &bytes) {
            Detected::Source(kind) => {
                let report = self.import_bytes(&canon, &bytes, kind)?;
                if !report.unchanged {
                    self.reindex();
                }
                Ok(report)
            }
            Detected::Skip(reason) => Err(IntelError::NotASource {
                path: canon,
                reason,
            }),
        }
    }

    /// Imports files and directories (walked recursively, hidden entries ignored).
    /// Confidence tables are imported first, so TagPacks beside them use them.
    pub fn import_paths(&mut self, paths: &[PathBuf]) -> ImportSummary {
        let mut summary = ImportSummary::default();
        let mut files = Vec::new();
        for p in paths {
            if let Err(e) = collect_files(p, &mut files) {
                summary.failed.push(Failed {
                    path: p.display().to_string(),
                    error: e.to_string(),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<(PathBuf, Vec<u8>, SourceKind)> = Vec::new();
        for f in files {
            let canon = match std::fs::canonicalize(&f) {
                Ok(c) => c,
                Err(e) => {
                    summary.failed.push(Failed {
                        path: f.display().to_string(),
                        error: IntelError::io(&f, e).to_string(),
                    });
                    continue;
                }
            };
            if !seen.insert(canon.clone()) {
                continue;
            }
            let bytes = match std::fs::read(&canon) {
                Ok(b) => b,
                Err(e) => {
                    summary.failed.push(Failed {
                        path: canon.display().to_string(),
                        error: IntelError::io(&canon, e).to_string(),
                    });
                    continue;
                }
            };
            match detect(&canon, &bytes) {
                Detected::Source(kind) => todo.push((canon, bytes, kind)),
                Detected::Skip(reason) => summary.skipped.push(Skipped {
                    path: canon.display().to_string(),
                    reason,
                }),
            }
        }
        // Stable: confidence tables first, otherwise the order given.
        todo.sort_by_key(|(_, _, k)| *k != SourceKind::ConfidenceTable);
        let mut changed = false;
        for (canon, bytes, kind) in todo {
            match self.import_bytes(&canon, &bytes, kind) {
                Ok(r) => {
                    changed |= !r.unchanged;
                    summary.imported.push(r)
                }
                Err(e) => summary.failed.push(Failed {
                    path: canon.display().to_string(),
                    error: e.to_string(),
                }),
            }
        }
        if changed {
            self.reindex();
        }
        summary
    }

    fn import_bytes(
        &mut self,
        canon: &Path,
        bytes: &[u8],
        kind: SourceKind,
    ) -> Result<ImportReport> {
        let source = canon.display().to_string();
        let sha256 = sha256_hex(bytes);
        if let Some(s) = self.sources.iter().find(|s| s.report.source == source) {
            if s.format == FORMAT && s.report.sha256 == sha256 && s.report.kind == kind {
                let mut r = s.report.clone();
                r.unchanged = true;
                return Ok(r);
            }
        }
        let parsed: Parsed = match kind {
            SourceKind::TagPack | SourceKind::ActorPack => {
                let text = utf8(canon, bytes)?;
                let doc = yaml::parse(text).map_err(|e| {
                    IntelError::parse(
                        canon,
                        Some(e.line),
                        format!("YAML: {} (column {})", e.message, e.col),
                    )
                })?;
                if kind == SourceKind::TagPack {
                    tagpack::parse_tagpack(&source, &doc, &self.confidence)
                } else {
                    tagpack::parse_actorpack(&source, &doc)
                }
            }
            SourceKind::OfacSdn => ofac::parse_sdn(canon, &source, bytes, &self.confidence)?,
            SourceKind::OfacList => {
                ofac::parse_list(canon, &source, utf8(canon, bytes)?, &self.confidence)?
            }
            SourceKind::MispGalaxy => misp::parse_cluster(canon, &source, utf8(canon, bytes)?)?,
            SourceKind::ConfidenceTable => {
                crate::confidence::parse_csv(canon, utf8(canon, bytes)?)?
            }
        };
        let mut per_asset = BTreeMap::new();
        for t in &parsed.tags {
            *per_asset.entry(t.asset.clone()).or_insert(0) += 1;
        }
        let report = ImportReport {
            source: source.clone(),
            kind,
            sha256,
            tags: parsed.tags.len(),
            actors: parsed.actors.len(),
            unvalidated: parsed.tags.iter().filter(|t| !t.validated).count(),
            per_asset,
            invalid: parsed.invalid,
            warnings: parsed.warnings,
            truncated: parsed.truncated,
            unchanged: false,
        };
        let stored = Source {
            format: FORMAT,
            report: report.clone(),
            tags: parsed.tags,
            actors: parsed.actors,
            confidence: parsed.confidence,
        };
        self.write(&stored)?;
        match self
            .sources
            .binary_search_by(|s| s.report.source.as_str().cmp(&source))
        {
            Ok(i) => self.sources[i] = stored,
            Err(i) => self.sources.insert(i, stored),
        }
        if kind == SourceKind::ConfidenceTable {
            self.refresh_confidence();
        }
        Ok(report)
    }

    fn write(&self, stored: &Source) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| IntelError::io(&self.dir, e))?;
        let name = store_file_name(&stored.report.source);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let json = serde_json::to_vec(&stored.to_file()).map_err(|e| IntelError::Store {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            IntelError::io(&path, e)
        })
    }
}

/// Files under `path` (itself if a file), sorted, hidden entries skipped.
fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| IntelError::io(path, e))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let rd = std::fs::read_dir(path).map_err(|e| IntelError::io(path, e))?;
    let mut entries: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        // Symlinked directories are not followed (no cycles).
        .filter(|e| !(e.file_type().is_ok_and(|t| t.is_symlink()) && e.path().is_dir()))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        collect_files(&e, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_stable_and_distinct() {
        let a = store_file_name("/x/packs/hacks.yaml");
        assert!(a.starts_with("hacks_yaml-") && a.ends_with(".json"), "{a}");
        assert_eq!(a, store_file_name("/x/packs/hacks.yaml"));
        assert_ne!(a, store_file_name("/y/packs/hacks.yaml"));
    }
}
