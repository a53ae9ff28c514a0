//! `tags import` and `tags list`: attribution tags (GraphSense TagPacks and ActorPacks,
//! OFAC SDN.CSV and per-asset lists, MISP galaxy actors) kept in `<data>/tags`.

use crate::BadInput;
use anyhow::Context;
use chainwatch_intel::{Actor, ImportReport, ImportSummary, Tag, TagStore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn open(data: &Path) -> anyhow::Result<TagStore> {
    let dir = data.join("tags");
    TagStore::open(&dir).with_context(|| format!("cannot open the tag store {}", dir.display()))
}

/// Runs `f` on locked stdout; a closed pipe (`… | head`) ends the output quietly.
fn with_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}

/// Totals over one `tags import` run.
#[derive(Serialize, Default)]
struct Totals {
    files_imported: usize,
    files_unchanged: usize,
    files_skipped: usize,
    files_failed: usize,
    tags: usize,
    actors: usize,
    invalid: usize,
    unvalidated: usize,
}

#[derive(Serialize)]
struct ImportOutput<'a> {
    #[serde(flatten)]
    summary: &'a ImportSummary,
    totals: Totals,
    store_tags: usize,
    store_actors: usize,
    unresolved_actors: BTreeMap<String, usize>,
    seconds: f64,
}

/// `chainwatch tags import FILE…`: imports files and directories (walked) into the tag store.
///
/// Files that are not tag sources are listed as skipped; files that fail (unreadable,
/// malformed) are listed and make the command fail with exit code 2 after the others
/// are imported. Invalid addresses are reported and skipped, not fatal.
pub fn import(data: &Path, files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    if files.is_empty() {
        return Err(BadInput("tags import: give files or directories to import".into()).into());
    }
    for f in files {
        if !f.exists() {
            return Err(BadInput(format!("{}: no such file or directory", f.display())).into());
        }
    }
    let start = Instant::now();
    let mut store = open(data)?;
    let summary = store.import_paths(files);
    let seconds = start.elapsed().as_secs_f64();
    let mut totals = Totals {
        files_imported: summary.imported.len(),
        files_skipped: summary.skipped.len(),
        files_failed: summary.failed.len(),
        ..Totals::default()
    };
    for r in &summary.imported {
        totals.files_unchanged += usize::from(r.unchanged);
        totals.tags += r.tags;
        totals.actors += r.actors;
        totals.invalid += r.invalid.len();
        totals.unvalidated += r.unvalidated;
    }
    let result = ImportOutput {
        summary: &summary,
        totals,
        store_tags: store.tag_count(),
        store_actors: store.actors().count(),
        unresolved_actors: store.unresolved_actors(),
        seconds,
    };
    with_stdout(|out| {
        if json {
            serde_json::to_writer_pretty(&mut *out, &result)?;
            writeln!(out)
        } else {
            print_import(out, &result, &store)
        }
    })?;
    if !summary.failed.is_empty() {
        return Err(BadInput(format!(
            "{} of {} file(s) could not be imported (listed above)",
            summary.failed.len(),
            summary.failed.len() + summary.imported.len() + summary.skipped.len()
        ))
        .into());
    }
    Ok(())
}

fn print_report(out: &mut dyn Write, r: &ImportReport) -> io::Result<()> {
    writeln!(
        out,
        "imported  {:<16} {:>6} tags {:>6} actors {:>4} unvalidated {:>4} invalid  {}{}",
        r.kind.name(),
        r.tags,
        r.actors,
        r.unvalidated,
        r.invalid.len(),
        r.source,
        if r.unchanged { "  (unchanged)" } else { "" }
    )?;
    for i in &r.invalid {
        let line = i.line.map_or(String::new(), |l| format!(":{l}"));
        writeln!(
            out,
            "  invalid   {}{line}  {} '{}': {}",
            i.file, i.asset, i.address, i.reason
        )?;
    }
    for t in &r.truncated {
        writeln!(
            out,
            "  truncated {}:{}  SDN entry {} '{}'{}: Remarks of {} characters, {} address(es) left",
            r.source,
            t.line,
            t.ent_num,
            t.entity,
            t.program
                .as_deref()
                .map_or(String::new(), |p| format!(" [{p}]")),
            t.remarks_chars,
            t.addresses_found
        )?;
    }
    for w in &r.warnings {
        writeln!(out, "  warning   {}: {w}", r.source)?;
    }
    Ok(())
}

fn print_import(out: &mut dyn Write, res: &ImportOutput<'_>, store: &TagStore) -> io::Result<()> {
    for r in &res.summary.imported {
        print_report(out, r)?;
    }
    for s in &res.summary.skipped {
        writeln!(out, "skipped   {}: {}", s.path, s.reason)?;
    }
    for f in &res.summary.failed {
        writeln!(out, "FAILED    {}: {}", f.path, f.error)?;
    }
    let t = &res.totals;
    writeln!(
        out,
        "{} file(s) imported ({} unchanged), {} skipped, {} failed: {} tags ({} unvalidated), {} actors, {} invalid addresses skipped, in {:.2} s",
        t.files_imported,
        t.files_unchanged,
        t.files_skipped,
        t.files_failed,
        t.tags,
        t.unvalidated,
        t.actors,
        t.invalid,
        res.seconds
    )?;
    writeln!(
        out,
        "store {}: {} tags, {} actors",
        store.dir().display(),
        res.store_tags,
        res.store_actors
    )?;
    if !res.unresolved_actors.is_empty() {
        let list: Vec<String> = res
            .unresolved_actors
            .iter()
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        writeln!(
            out,
            "actors referenced by tags but not in the store: {}",
            list.join(", ")
        )?;
    }
    Ok(())
}

/// A tag with the actor it points to, for `--json`.
#[derive(Serialize)]
struct TagView<'a> {
    #[serde(flatten)]
    tag: &'a Tag,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_info: Option<ActorView<'a>>,
}

#[derive(Serialize)]
struct ActorView<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    source: &'a str,
}

fn actor_view(a: &Actor) -> ActorView<'_> {
    ActorView {
        id: &a.id,
        name: &a.name,
        country: a.country.as_deref(),
        source: &a.source,
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `chainwatch tags list [--address A] [--json]`: the tags of an address, or all tags.
pub fn list(data: &Path, address: Option<&str>, json: bool) -> anyhow::Result<()> {
    if address.is_some_and(|a| a.trim().is_empty()) {
        return Err(BadInput("--address is empty".into()).into());
    }
    let store = open(data)?;
    let tags: Vec<&Tag> = match address {
        Some(a) => store.tags_for(a),
        None => store.tags().collect(),
    };
    let views: Vec<TagView<'_>> = tags
        .iter()
        .map(|t| TagView {
            tag: t,
            actor_info: t
                .actor
                .as_deref()
                .and_then(|a| store.actor(a))
                .map(actor_view),
        })
        .collect();
    with_stdout(|out| {
        if json {
            serde_json::to_writer_pretty(&mut *out, &views)?;
            return writeln!(out);
        }
        print_list(out, &store, &views, address)
    })
}

fn print_list(
    out: &mut dyn Write,
    store: &TagStore,
    views: &[TagView<'_>],
    address: Option<&str>,
) -> io::Result<()> {
    if views.is_empty() {
        return match address {
            Some(a) => writeln!(out, "no tags for {a}"),
            None => writeln!(
                out,
                "no tags in {} (run `chainwatch tags import FILE…`)",
                store.dir().display()
            ),
        };
    }
    writeln!(
        out,
        "{:<44} {:<5} {:<32} {:<22} {:>4} {:<10} SOURCE",
        "ADDRESS", "ASSET", "LABEL", "ACTOR / ENTITY", "CONF", "KIND"
    )?;
    for v in views {
        let t = v.tag;
        let who = match (&v.actor_info, &t.actor, &t.entity) {
            (Some(a), _, _) => a.name.to_string(),
            (None, Some(a), _) => format!("{a}?"),
            (None, None, Some(e)) => e.clone(),
            _ => String::new(),
        };
        let file = Path::new(&t.source)
            .file_name()
            .map_or(t.source.clone(), |n| n.to_string_lossy().into_owned());
        writeln!(
            out,
            "{:<44} {:<5} {:<32} {:<22} {:>4} {:<10} {}{}{}",
            t.address,
            t.asset,
            short(&t.label, 32),
            short(&who, 22),
            t.confidence.map_or("-".to_string(), |c| c.to_string()),
            t.source_kind.name(),
            file,
            t.line.map_or(String::new(), |l| format!(":{l}")),
            if t.validated { "" } else { "  (unvalidated)" }
        )?;
    }
    if address.is_none() {
        return writeln!(out, "{} tags", views.len());
    }
    // For one address: who the actors are, and the sanctioned entities.
    let mut shown = std::collections::BTreeSet::new();
    for v in views {
        if let Some(a) = v.tag.actor.as_deref().and_then(|a| store.actor(a)) {
            if shown.insert((a.source.as_str(), a.id.as_str())) {
                writeln!(
                    out,
                    "actor {}: {}{}{}",
                    a.id,
                    a.name,
                    a.country
                        .as_deref()
                        .map_or(String::new(), |c| format!(", country {c}")),
                    if a.synonyms.is_empty() {
                        String::new()
                    } else {
                        format!(", a.k.a. {}", short(&a.synonyms.join(", "), 100))
                    }
                )?;
            }
        }
        if let (Some(p), Some(e)) = (&v.tag.program, &v.tag.entity) {
            if shown.insert((e.as_str(), p.as_str())) {
                writeln!(out, "sanctioned: {e} ({p})")?;
            }
        }
    }
    Ok(())
}
