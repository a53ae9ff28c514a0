//! `bench taxii`: objects per second for TAXII POST and paged GET on loopback, for this
//! server and for medallion (the OASIS reference TAXII server, memory backend) loaded
//! with the same objects in the same run, plus this process's resident memory over the
//! run (the server runs in-process, so it is the server's memory plus the bench client's).

use crate::store::Role;
use crate::{Node, ServerConfig};
use axum::body::Bytes;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Bench parameters.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Objects to load.
    pub objects: usize,
    /// Objects per POST.
    pub batch: usize,
    /// Objects per GET page.
    pub page: usize,
    /// Times chainwatch is measured, each time with a fresh store loaded with the same
    /// objects (the figures are the medians; one run before them is not counted);
    /// medallion's POST [`MEDALLION_POST_RUNS`] times, its paged GET (a minute) once.
    pub runs: usize,
    /// Whether to time the paged GET too (medallion's takes a minute for 5,000 objects
    /// and grows with the square of the count).
    pub get: bool,
    /// Python interpreter with medallion installed (`None`: skip medallion).
    pub python: Option<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            objects: 5000,
            batch: 500,
            page: 1000,
            runs: 21,
            get: true,
            python: Some("python3".into()),
        }
    }
}

/// One server's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rates {
    /// POST objects per second, from the first request until every object is committed,
    /// the requests asking to be answered before the commit (`Prefer: respond-async`:
    /// chainwatch validates, answers `pending` and commits while the client sends the
    /// next envelope; medallion ignores the preference and answers after the commit).
    pub post_objects_per_s: f64,
    /// POST objects per second, each request answered after its commit (no preference).
    /// For medallion the figure of the same run as `post_objects_per_s`: it answers
    /// after the commit either way.
    pub post_sync_objects_per_s: f64,
    /// Paged GET objects per second.
    pub get_objects_per_s: f64,
    /// Objects the paged GET returned.
    pub get_objects: usize,
    /// Pages.
    pub pages: usize,
}

/// The bench's result.
#[derive(Clone, Debug, Serialize)]
pub struct BenchFigures {
    /// Objects loaded.
    pub objects: usize,
    /// Objects per POST.
    pub batch: usize,
    /// Page size.
    pub page: usize,
    /// Runs of chainwatch.
    pub runs: usize,
    /// chainwatch: the medians over the runs.
    pub chainwatch: Rates,
    /// chainwatch's POST objects/s in each run (answered early, see [`Rates`]).
    pub chainwatch_post_runs: Vec<f64>,
    /// chainwatch's POST objects/s in each run, answered after each commit.
    pub chainwatch_post_sync_runs: Vec<f64>,
    /// chainwatch's paged GET objects/s in each run.
    pub chainwatch_get_runs: Vec<f64>,
    /// medallion (memory backend), when it ran: its POST rate is the median of
    /// `medallion_post_runs`.
    pub medallion: Option<Rates>,
    /// medallion's POST objects/s in each run (see [`MEDALLION_POST_RUNS`]).
    pub medallion_post_runs: Vec<f64>,
    /// chainwatch ÷ medallion, POST (answered early where the server can).
    pub post_ratio: Option<f64>,
    /// chainwatch ÷ medallion, POST answered after each commit.
    pub post_sync_ratio: Option<f64>,
    /// chainwatch ÷ medallion, GET.
    pub get_ratio: Option<f64>,
    /// Resident memory of this process (server + bench client), MB, in the first run:
    /// before loading, after POST, and (unless GET is skipped) after GET and after a second
    /// full GET pass.
    pub rss_mb: Vec<f64>,
    /// Resident memory at the end of each run, MB.
    pub rss_mb_after_runs: Vec<f64>,
    /// Why medallion did not run, if it did not.
    pub medallion_error: Option<String>,
}

/// Errors of the bench.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up the node failed.
    #[error(transparent)]
    Node(#[from] crate::NodeError),
    /// I/O.
    #[error("{0}")]
    Io(String),
    /// An HTTP exchange failed.
    #[error("{0}")]
    Http(String),
}

/// Resident set size of this process, bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The bench's objects: `n` indicators of attacker wallets, each with its own id, all
/// TLP:GREEN (the same for every server, and for the examples that time one part of the
/// POST path).
pub fn objects(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
                "name": format!("attacker wallet {i}"),
                "description": "Address that received stolen funds in a simulated heist",
                "pattern": format!("[cryptocurrency-wallet:value = 'bc1qbench{i:08}']"),
                "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z",
                "labels": ["malicious-activity"],
                "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
            })
        })
        .collect()
}

const TAXII: &str = "application/taxii+json;version=2.1";

/// The POST bodies: envelopes of `batch` objects, serialized once, before any timing, and
/// sent byte for byte the same to both servers.
fn envelopes(objs: &[Value], batch: usize) -> Vec<Bytes> {
    objs.chunks(batch.max(1))
        .map(|chunk| Bytes::from(json!({ "objects": chunk }).to_string()))
        .collect()
}

/// Opens the client's connection to a server (outside the timings, for both servers
/// alike) with a GET of the collection resource.
async fn warm_up(http: &reqwest::Client, objects_url: &str, auth: &str) -> Result<(), BenchError> {
    let url = objects_url.trim_end_matches("objects/");
    http.get(url)
        .header("Authorization", auth)
        .header("Accept", TAXII)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| BenchError::Http(format!("GET {url}: {e}")))?;
    Ok(())
}

/// How the POSTs ask to be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// After the commit (a plain TAXII POST).
    Committed,
    /// As soon as the objects are validated (`Prefer: respond-async`); servers that do not
    /// know the preference answer after the commit anyway.
    Early,
}

/// Reads the status resource at `url` until it is `complete`; fails if any object failed.
async fn wait_complete(http: &reqwest::Client, url: &str, auth: &str) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Answered once the write settles (servers without `Prefer: wait` answer at once).
        let v: Value = http
            .get(url)
            .header("Authorization", auth)
            .header("Accept", TAXII)
            .header("Prefer", "wait=60")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| BenchError::Http(format!("GET {url}: {e}")))?
            .json()
            .await
            .map_err(|e| BenchError::Http(format!("GET {url}: {e}")))?;
        if v["status"] == "complete" {
            return match v["failure_count"].as_u64() {
                Some(0) => Ok(()),
                _ => Err(BenchError::Http(format!("{url}: objects failed: {v}"))),
            };
        }
        if Instant::now() > deadline {
            return Err(BenchError::Http(format!(
                "{url}: still {} after 120 s",
                v["status"]
            )));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// POSTs every envelope in turn, reading each answer, then (for answers given before the
/// commit) waits until every status reads complete; returns the seconds taken, from the
/// first request until every object is committed.
async fn post_all(
    http: &reqwest::Client,
    objects_url: &str,
    auth: &str,
    bodies: &[Bytes],
    answer: Answer,
) -> Result<f64, BenchError> {
    let t = Instant::now();
    let mut pending = Vec::new();
    for body in bodies {
        let mut req = http
            .post(objects_url)
            .header("Authorization", auth)
            .header("Accept", TAXII)
            .header("Content-Type", TAXII);
        if answer == Answer::Early {
            req = req.header("Prefer", "respond-async");
        }
        let r = req
            .body(body.clone())
            .send()
            .await
            .map_err(|e| BenchError::Http(e.to_string()))?;
        let s = r.status();
        // A status answered before the commit says where it lives (`Location`).
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| r.url().join(l).ok());
        let text = r
            .bytes()
            .await
            .map_err(|e| BenchError::Http(e.to_string()))?;
        if !s.is_success() {
            return Err(BenchError::Http(format!(
                "POST {objects_url}: {s}: {}",
                String::from_utf8_lossy(&text)
            )));
        }
        if answer == Answer::Early {
            let status: Value = serde_json::from_slice(&text)
                .map_err(|e| BenchError::Http(format!("POST {objects_url}: status: {e}")))?;
            if status["status"] != "complete" {
                let url = location.ok_or_else(|| {
                    BenchError::Http(format!(
                        "POST {objects_url}: a pending status without Location"
                    ))
                })?;
                pending.push(url.to_string());
            }
        }
    }
    // Writes commit in the order they came: once the last is complete, every object is
    // committed (the clock stops); then each of the others is checked.
    if let Some(last) = pending.last() {
        wait_complete(http, last, auth).await?;
    }
    let secs = t.elapsed().as_secs_f64();
    for url in pending.iter().rev().skip(1) {
        wait_complete(http, url, auth).await?;
    }
    Ok(secs)
}

async fn drive(
    http: &reqwest::Client,
    objects_url: &str,
    auth: &str,
    objects: usize,
    bodies: &[Bytes],
    page: usize,
    get: bool,
) -> Result<Rates, BenchError> {
    warm_up(http, objects_url, auth).await?;
    let post = post_all(http, objects_url, auth, bodies, Answer::Early).await?;
    let (got, pages, secs) = if get {
        get_all(http, objects_url, auth, page).await?
    } else {
        (0, 0, 0.0)
    };
    Ok(Rates {
        post_objects_per_s: objects as f64 / post,
        post_sync_objects_per_s: objects as f64 / post,
        get_objects_per_s: if get { got as f64 / secs } else { 0.0 },
        get_objects: got,
        pages,
    })
}

async fn get_all(
    http: &reqwest::Client,
    objects_url: &str,
    auth: &str,
    page: usize,
) -> Result<(usize, usize, f64), BenchError> {
    let t = Instant::now();
    let mut got = 0;
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let mut q = vec![("limit".to_string(), page.to_string())];
        if let Some(n) = &next {
            q.push(("next".into(), n.clone()));
        }
        let r = http
            .get(objects_url)
            .query(&q)
            .header("Authorization", auth)
            .header("Accept", TAXII)
            .send()
            .await
            .map_err(|e| BenchError::Http(e.to_string()))?;
        let s = r.status();
        let body = r
            .bytes()
            .await
            .map_err(|e| BenchError::Http(e.to_string()))?;
        if !s.is_success() {
            return Err(BenchError::Http(format!(
                "GET {objects_url}: {s}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| BenchError::Http(e.to_string()))?;
        got += v["objects"].as_array().map_or(0, Vec::len);
        pages += 1;
        match (v["more"].as_bool(), v["next"].as_str()) {
            (Some(true), Some(n)) => next = Some(n.to_string()),
            _ => break,
        }
        if pages > 1_000_000 {
            break;
        }
    }
    Ok((got, pages, t.elapsed().as_secs_f64()))
}

struct Medallion {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_medallion(python: &str, dir: &Path, page: usize) -> Result<Medallion, BenchError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| BenchError::Io(e.to_string()))?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let data = json!({
        "/discovery": {"title": "medallion bench", "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
        "api1": {
            "information": {"title": "bench", "versions": [TAXII], "max_content_length": 1_000_000_000u64},
            "status": [],
            "collections": [{
                "id": "91a7b528-80eb-42ed-a74d-c6fbd5a26116", "title": "bench",
                "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [], "manifest": []
            }]
        }
    });
    let data_path = dir.join("medallion-data.json");
    let conf_path = dir.join("medallion.json");
    std::fs::write(&data_path, data.to_string()).map_err(|e| BenchError::Io(e.to_string()))?;
    let conf = json!({
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": data_path.to_string_lossy()},
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": page}
    });
    std::fs::write(&conf_path, conf.to_string()).map_err(|e| BenchError::Io(e.to_string()))?;
    let child = tokio::process::Command::new(python)
        .arg("-c")
        .arg("import sys; from medallion.scripts.run import main; sys.exit(main())")
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg("--log-level")
        .arg("ERROR")
        .arg(&conf_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Io(format!("cannot start medallion with {python}: {e}")))?;
    let m = Medallion { child, url: base };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = http
            .get(format!("{}/taxii2/", m.url))
            .header("Accept", TAXII)
            .basic_auth("bench", Some("bench"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(m);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Io(
                "medallion did not answer within 30 s (is it installed? pip install medallion)"
                    .into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the node in `dir` has closed its database: its last connection copies the
/// log into the database file (a few MB written and synced) and deletes it, which would
/// otherwise run during the next measurement. The node's server must be stopped and its
/// clients gone.
async fn closed(dir: &TempDir) -> Result<(), BenchError> {
    let wal = dir.path().join("intel.sqlite-wal");
    let deadline = Instant::now() + Duration::from_secs(30);
    while wal.exists() {
        if Instant::now() > deadline {
            return Err(BenchError::Io(format!(
                "{} still open after 30 s",
                wal.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// A fresh node serving on loopback for one bench run: its server, objects URL, bearer
/// credential, and data directory (removed with it).
async fn fresh_server(
    opts: &BenchOptions,
) -> Result<(crate::Running, String, String, TempDir), BenchError> {
    let dir = tempfile_dir()?;
    let node = Node::open(dir.path()).await?;
    let org = node.create_org("bench-org", "exchange", &[], None).await?;
    node.create_user(&org.name, "bench", Role::Analyst, Some("bench".into()))
        .await?;
    let (_, token) = node.create_token("bench", Some("bench")).await?;
    let coll = node.community_collection.clone();
    let config = ServerConfig {
        max_body: 64 << 20,
        max_page: opts.page.max(1),
        default_page: opts.page.max(1),
        ..Default::default()
    };
    let server = crate::spawn(node, config, "127.0.0.1:0".parse().expect("address"))
        .await
        .map_err(|e| BenchError::Io(e.to_string()))?;
    let url = format!("{}/taxii2/root/collections/{coll}/objects/", server.url());
    Ok((server, url, format!("Bearer {token}"), dir))
}

/// One run of chainwatch: a fresh node loaded with `bodies` by POSTs answered after each
/// commit; another fresh node loaded by POSTs answered early (see [`Rates`]), then read
/// back by two paged GETs. Returns the rates and the resident memory before loading the
/// second node, after its POSTs and after each GET.
async fn run_chainwatch(
    opts: &BenchOptions,
    bodies: &[Bytes],
) -> Result<(Rates, Vec<f64>), BenchError> {
    // A client of its own for each node: its kept-alive connection (and with it the
    // server's state) ends with the node.
    let (sync, dir) = {
        let http = reqwest::Client::new();
        let (server, url, bearer, dir) = fresh_server(opts).await?;
        warm_up(&http, &url, &bearer).await?;
        let secs = post_all(&http, &url, &bearer, bodies, Answer::Committed).await?;
        server.stop();
        (secs, dir)
    };
    closed(&dir).await?;
    let http = reqwest::Client::new();
    let (server, url, bearer, dir) = fresh_server(opts).await?;
    let mut rss = vec![rss_bytes() as f64 / 1e6];
    warm_up(&http, &url, &bearer).await?;
    let post = post_all(&http, &url, &bearer, bodies, Answer::Early).await?;
    rss.push(rss_bytes() as f64 / 1e6);
    let (got, pages, get) = if opts.get {
        let read = get_all(&http, &url, &bearer, opts.page).await?;
        rss.push(rss_bytes() as f64 / 1e6);
        let _ = get_all(&http, &url, &bearer, opts.page).await?;
        rss.push(rss_bytes() as f64 / 1e6);
        read
    } else {
        (0, 0, 0.0)
    };
    server.stop();
    drop(http);
    closed(&dir).await?;
    Ok((
        Rates {
            post_objects_per_s: opts.objects as f64 / post,
            post_sync_objects_per_s: opts.objects as f64 / sync,
            get_objects_per_s: if opts.get { got as f64 / get } else { 0.0 },
            get_objects: got,
            pages,
        },
        rss,
    ))
}

/// The median of `v` (the mean of the middle two for an even count; 0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Times medallion's POST is measured, each time on a fresh server (the first also times
/// its paged GET, which takes a minute): its figure is the median.
pub const MEDALLION_POST_RUNS: usize = 3;

/// One run of medallion (memory backend, started with `python`) loaded with `bodies`,
/// then read back by a paged GET if `get`.
async fn run_medallion(
    python: &str,
    opts: &BenchOptions,
    bodies: &[Bytes],
    get: bool,
) -> Result<Rates, BenchError> {
    let dir = tempfile_dir()?;
    let m = start_medallion(python, dir.path(), opts.page).await?;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bench:bench")
    );
    let url = format!(
        "{}/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/",
        m.url
    );
    let http = reqwest::Client::new();
    drive(&http, &url, &basic, opts.objects, bodies, opts.page, get).await
}

/// Runs the bench (on the current tokio runtime).
pub async fn run_taxii(opts: &BenchOptions) -> Result<BenchFigures, BenchError> {
    let bodies = envelopes(&objects(opts.objects), opts.batch);
    let mut runs = Vec::new();
    let mut rss = Vec::new();
    let mut rss_after_runs = Vec::new();
    // One run first, not counted: the process's first requests and writes find cold
    // caches (allocator, page cache of a new database file, CPU) that later runs do not.
    run_chainwatch(opts, &bodies).await?;
    for _ in 0..opts.runs.max(1) {
        let (rates, r) = run_chainwatch(opts, &bodies).await?;
        if rss.is_empty() {
            rss = r;
        }
        rss_after_runs.push(rss_bytes() as f64 / 1e6);
        runs.push(rates);
    }
    let post_runs: Vec<f64> = runs.iter().map(|r| r.post_objects_per_s).collect();
    let post_sync_runs: Vec<f64> = runs.iter().map(|r| r.post_sync_objects_per_s).collect();
    let get_runs: Vec<f64> = runs.iter().map(|r| r.get_objects_per_s).collect();
    let ours = Rates {
        post_objects_per_s: median(&post_runs),
        post_sync_objects_per_s: median(&post_sync_runs),
        get_objects_per_s: median(&get_runs),
        get_objects: runs.iter().map(|r| r.get_objects).min().unwrap_or(0),
        pages: runs.first().map_or(0, |r| r.pages),
    };

    let mut medallion_post_runs = Vec::new();
    let (medallion, medallion_error) = match &opts.python {
        None => (None, Some("skipped".to_string())),
        Some(py) => match run_medallion(py, opts, &bodies, opts.get).await {
            Ok(first) => {
                medallion_post_runs.push(first.post_objects_per_s);
                let mut error = None;
                while medallion_post_runs.len() < MEDALLION_POST_RUNS && error.is_none() {
                    match run_medallion(py, opts, &bodies, false).await {
                        Ok(r) => medallion_post_runs.push(r.post_objects_per_s),
                        Err(e) => error = Some(e.to_string()),
                    }
                }
                let post = median(&medallion_post_runs);
                let rates = Rates {
                    post_objects_per_s: post,
                    post_sync_objects_per_s: post,
                    ..first
                };
                (Some(rates), error)
            }
            Err(e) => (None, Some(e.to_string())),
        },
    };
    Ok(BenchFigures {
        objects: opts.objects,
        batch: opts.batch,
        page: opts.page,
        runs: runs.len(),
        chainwatch_post_runs: post_runs,
        chainwatch_post_sync_runs: post_sync_runs,
        post_sync_ratio: medallion
            .as_ref()
            .map(|m| ours.post_sync_objects_per_s / m.post_sync_objects_per_s),
        chainwatch_get_runs: get_runs,
        rss_mb_after_runs: rss_after_runs,
        post_ratio: medallion
            .as_ref()
            .map(|m| ours.post_objects_per_s / m.post_objects_per_s),
        get_ratio: medallion
            .as_ref()
            .filter(|_| opts.get)
            .map(|m| ours.get_objects_per_s / m.get_objects_per_s),
        chainwatch: ours,
        medallion,
        medallion_post_runs,
        rss_mb: rss,
        medallion_error,
    })
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TempDir, BenchError> {
    let p = std::env::temp_dir().join(format!("chainwatch-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&p).map_err(|e| BenchError::Io(e.to_string()))?;
    Ok(TempDir(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_bench_loads_both_ways_and_reads_back_every_object() {
        let opts = BenchOptions {
            objects: 700,
            batch: 200,
            page: 300,
            runs: 1,
            get: true,
            python: None,
        };
        let f = run_taxii(&opts).await.unwrap();
        // 4 envelopes (the last of 100), read back in 3 pages of at most 300.
        assert_eq!(f.chainwatch.get_objects, 700);
        assert_eq!(f.chainwatch.pages, 3);
        assert!(f.chainwatch.post_objects_per_s > 0.0);
        assert!(f.chainwatch.post_sync_objects_per_s > 0.0);
        assert_eq!(f.chainwatch_post_runs.len(), 1);
        assert_eq!(f.chainwatch_post_sync_runs.len(), 1);
        assert!(f.medallion.is_none() && f.post_ratio.is_none());
        assert!(f.medallion_post_runs.is_empty());
        assert_eq!(f.medallion_error.as_deref(), Some("skipped"));
    }

    /// With medallion installed (`.ci/run` installs it), its POST is measured
    /// [`MEDALLION_POST_RUNS`] times on fresh servers and the ratios are of the medians.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::print_stderr)] // says why it did not run
    async fn medallion_is_measured_beside_and_its_post_is_a_median() {
        let installed = std::process::Command::new("python3")
            .args(["-c", "import medallion"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("medallion is not installed (pip install medallion): not run");
            return;
        }
        let opts = BenchOptions {
            objects: 300,
            batch: 100,
            page: 100,
            runs: 1,
            get: false,
            python: Some("python3".into()),
        };
        let f = run_taxii(&opts).await.unwrap();
        assert_eq!(f.medallion_error, None);
        assert_eq!(f.medallion_post_runs.len(), MEDALLION_POST_RUNS);
        let m = f.medallion.as_ref().unwrap();
        assert_eq!(m.post_objects_per_s, median(&f.medallion_post_runs));
        assert!(m.post_objects_per_s > 0.0);
        let ratio = f.post_sync_ratio.unwrap();
        assert!(
            (ratio - f.chainwatch.post_sync_objects_per_s / m.post_objects_per_s).abs() < 1e-9,
            "{ratio}"
        );
    }
}
