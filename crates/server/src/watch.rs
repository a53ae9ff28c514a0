//! Joining the halves: every submitted report with stolen outputs on the ingested chain is
//! traced in the background, its findings kept, and every organisation whose registered
//! addresses (or their clusters) the stolen value reached is alerted — in its inbox, on the
//! live stream and through its signed webhooks. Screening reads the same findings.
//!
//! # Tracing
//! One worker takes reports in submission order and traces them with FIFO taint (the
//! method is recorded in the findings) using the same code as `chainwatch trace`
//! (`chainwatch_forensics::{sources, labels, taint}`). A poller watches the chain store's
//! commit record (`COMMIT`, written by `ingest` and `follow`); when it changes the store,
//! clusters and tags are reopened and every report is traced again. A full re-trace is
//! used rather than an incremental one because a trace of a 100k-tx chain takes
//! milliseconds; alerts are only re-sent when their content changed.
//!
//! # Matching
//! An organisation is reached when a trace endpoint's arrival (a deposit output the
//! service would freeze) pays one of its registered addresses, an address in the cluster of
//! one, or when the endpoint is one of those clusters (deposits swept into the org's
//! cluster count as the org's); and, beyond endpoints, when any hop of the taint paid such
//! an address (`hops`).
//!
//! # The TLP rule of alerts
//! * An organisation cleared for the report (TLP 2.0 policy, `chainwatch_intel::policy`)
//!   gets the full alert: report id and title, victim, actor, TLP, the service label, the
//!   path of txids to its first arrival, its arrivals and hops.
//! * An organisation not cleared for a CLEAR/GREEN/AMBER/AMBER+STRICT report gets only facts
//!   about its own addresses: the chain, its arrivals (deposit outputs, amounts, arrival
//!   txs and heights) and hops, and the report id as a reference it cannot resolve (404).
//!   No title, victim, actor, TLP, path or other services. Its own deposits are facts it
//!   can already see on its own books; the reference lets it ask the node operator or the
//!   author for clearance. Withholding even that would leave stolen funds unfrozen.
//! * A RED report alerts only organisations cleared for it (author and named recipients);
//!   everybody else learns nothing, not even that a report exists.
//! * The reporting organisation sees which organisations were reached
//!   (`GET /api/reports/{id}/trace`, `reached`); other readers do not.

use crate::store::{AlertRecord, DeliveryRecord, IntelStore, Org, ReportRecord};
use chainwatch_chain::store::{store_dir, Commit, Store};
use chainwatch_forensics::cluster::{cluster_dir, ClusterStore};
use chainwatch_forensics::explain::AddrOutputs;
use chainwatch_forensics::labels::Labels;
use chainwatch_forensics::screen::ExposureIndex;
use chainwatch_forensics::screening::{Findings, ScreenItem, Screener};
use chainwatch_forensics::sources::{incident_refs, resolve_sources};
use chainwatch_forensics::taint::{self, Service, TraceOptions, TraceResult};
use chainwatch_intel::policy::{can_read, ObjectAccess, Reader};
use chainwatch_intel::report::THEFT_EXTENSION_ID;
use chainwatch_intel::tlp::Tlp;
use chainwatch_intel::TagStore;
use chainwatch_types::{AddrKey, Chain};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Settings of the watcher.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Chain to trace on (`None`: the only chain under `DATA/chains/`).
    pub chain: Option<Chain>,
    /// How often the chain store's commit record is checked.
    pub poll: Duration,
    /// Webhook attempts per alert.
    pub webhook_attempts: u32,
    /// First back-off between webhook attempts (doubles each time).
    pub webhook_backoff: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            chain: None,
            poll: Duration::from_secs(1),
            webhook_attempts: 5,
            webhook_backoff: Duration::from_millis(500),
        }
    }
}

/// The chain as traces and screening read it.
pub struct View {
    /// The store (read-only).
    pub store: Store,
    /// Its clustering, when `chainwatch cluster` ran.
    pub clusters: Option<ClusterStore>,
    /// Service clusters.
    pub services: HashMap<u32, Service>,
    /// Tags (sanctions, services).
    pub tags: Option<TagStore>,
    /// Outputs by address.
    pub outputs: AddrOutputs,
    commit: Commit,
}

impl View {
    fn cluster_of(&self, a: u32) -> u32 {
        self.clusters.as_ref().map_or(a, |c| c.cluster_of(a))
    }
}

/// A report the watcher traces.
#[derive(Clone, Debug)]
pub struct Job {
    /// Report id.
    pub report: String,
    /// The theft extension (chain, stolen_outputs).
    pub theft: Value,
    /// Who may read the report.
    pub access: ObjectAccess,
    /// Title, victim, actor (for cleared organisations).
    pub meta: Value,
}

impl Job {
    /// The trace job of theft report `rep` (its incident's theft extension `theft`), whose
    /// author organisation belongs to `author_communities`.
    pub fn for_report(rep: &ReportRecord, theft: Value, author_communities: Vec<i64>) -> Job {
        Job {
            report: rep.id.clone(),
            theft,
            access: ObjectAccess {
                level: rep.tlp,
                author_org: rep.author_org,
                author_communities,
                recipients: rep.recipients.clone(),
            },
            meta: json!({"title": rep.title, "victim": rep.summary["victim"], "actor": rep.actor}),
        }
    }
}

/// A report's trace state.
#[derive(Clone, Debug, Serialize)]
pub struct TraceState {
    /// `queued`, `running`, `done`, `skipped` or `failed`.
    pub status: String,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Taint method.
    pub method: String,
    /// Chain height the findings are for.
    pub height: Option<u32>,
    /// Times traced.
    pub runs: u32,
    /// The trace (same JSON as `chainwatch trace --json`).
    pub trace: Option<Value>,
    /// Organisations reached (shown to the author only).
    #[serde(skip)]
    pub reached: Vec<Value>,
    #[serde(skip)]
    job: Option<Job>,
    #[serde(skip)]
    findings: Option<Findings>,
}

/// The watcher: background traces, alerts, screening.
pub struct Watch {
    data: PathBuf,
    cfg: WatchConfig,
    store: Arc<dyn IntelStore>,
    view: RwLock<Option<Arc<View>>>,
    reports: RwLock<HashMap<String, TraceState>>,
    index: RwLock<Arc<ExposureIndex>>,
    queue: mpsc::UnboundedSender<String>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    alerts: broadcast::Sender<AlertRecord>,
    http: reqwest::Client,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// The signature header value of a webhook body: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn webhook_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret.as_bytes(), body))
}

fn reader_of(o: &Org) -> Reader {
    Reader {
        org: o.id,
        client_of: o.client_of,
        communities: o.communities.iter().map(|c| c.id).collect(),
    }
}

impl Watch {
    /// A watcher over data directory `data`.
    pub fn new(data: &Path, store: Arc<dyn IntelStore>, cfg: WatchConfig) -> Arc<Watch> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Watch {
            data: data.to_path_buf(),
            cfg,
            store,
            view: RwLock::new(None),
            reports: RwLock::new(HashMap::new()),
            index: RwLock::new(Arc::new(ExposureIndex::default())),
            queue: tx,
            rx: Mutex::new(Some(rx)),
            alerts: broadcast::channel(1024).0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts the trace worker and the chain poller on the current runtime (once).
    pub fn start(self: &Arc<Self>) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let w = self.clone();
        let worker = tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                w.clone().run(id).await;
            }
        });
        let w = self.clone();
        let poller = tokio::spawn(async move {
            // The chain view first, so that restored reports are traced at once.
            w.clone().refresh().await;
            w.restore().await;
            loop {
                tokio::time::sleep(w.cfg.poll).await;
                w.clone().refresh().await;
            }
        });
        if let Ok(mut t) = self.tasks.lock() {
            t.extend([worker, poller]);
        }
    }

    /// Stops the trace worker, the chain poller and webhook deliveries still retrying:
    /// they hold the watcher (and so the store) for as long as they run.
    pub fn stop(&self) {
        if let Ok(mut t) = self.tasks.lock() {
            for task in t.drain(..) {
                task.abort();
            }
        }
    }

    /// New alerts as they are stored.
    pub fn subscribe(&self) -> broadcast::Receiver<AlertRecord> {
        self.alerts.subscribe()
    }

    /// The current chain view, if a chain is ingested.
    pub fn view(&self) -> Option<Arc<View>> {
        self.view.read().ok().and_then(|v| v.clone())
    }

    /// The trace state of a report (the caller checks visibility).
    pub fn state(&self, report: &str) -> Option<TraceState> {
        self.reports.read().ok()?.get(report).cloned()
    }

    fn chain(&self) -> Option<Chain> {
        if let Some(c) = self.cfg.chain {
            return Some(c);
        }
        let mut found = std::fs::read_dir(self.data.join("chains"))
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<Chain>().ok());
        let c = found.next()?;
        found.next().is_none().then_some(c)
    }

    fn load_view(&self) -> Option<View> {
        let chain = self.chain()?;
        let store = Store::open(&store_dir(&self.data, chain), chain).ok()?;
        let clusters = ClusterStore::open(&cluster_dir(&self.data, chain), &store).ok();
        let tags = TagStore::open(self.data.join("tags")).ok();
        let services = match (&tags, &clusters) {
            (Some(t), Some(c)) => Labels::from_tags(t, &store).services(c),
            _ => HashMap::new(),
        };
        let outputs = AddrOutputs::build(&store);
        let commit = store.committed().clone();
        Some(View {
            store,
            clusters,
            services,
            tags,
            outputs,
            commit,
        })
    }

    /// Reopens the chain when its commit record changed, and re-traces every report.
    async fn refresh(self: Arc<Self>) {
        let Some(chain) = self.chain() else { return };
        let current = self.view().map(|v| v.commit.clone());
        let dir = store_dir(&self.data, chain);
        let changed = tokio::task::spawn_blocking(move || {
            let c = Store::open(&dir, chain).ok()?.committed().clone();
            (Some(&c) != current.as_ref()).then_some(())
        })
        .await
        .ok()
        .flatten();
        if changed.is_none() {
            return;
        }
        let w = self.clone();
        let view = tokio::task::spawn_blocking(move || w.load_view())
            .await
            .ok()
            .flatten();
        let Some(view) = view else { return };
        tracing::info!(blocks = view.store.block_count(), "chain view reloaded");
        if let Ok(mut v) = self.view.write() {
            *v = Some(Arc::new(view));
        }
        let ids: Vec<String> = self
            .reports
            .read()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            let _ = self.queue.send(id);
        }
    }

    /// Queues every stored theft report (not raw bundles) with its theft extension, as
    /// [`Watch::submit`] did when it was filed: the watcher keeps its trace states in memory,
    /// so after a restart it would otherwise neither show nor update the traces of earlier
    /// reports. Each report's objects are read as its author sees them (all of them).
    async fn restore(&self) {
        let (orgs, reports) =
            match tokio::try_join!(self.store.orgs(), self.store.theft_reports_unfiltered()) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(error = %e, "reading reports to restore their traces");
                    return;
                }
            };
        let orgs: HashMap<i64, Org> = orgs.into_iter().map(|o| (o.id, o)).collect();
        let mut restored = 0;
        for rep in reports {
            let Some(author) = orgs.get(&rep.author_org) else {
                continue;
            };
            if self.state(&rep.id).is_some() {
                continue; // filed since the start
            }
            let reader = reader_of(author);
            let objects = match self
                .store
                .report_objects(&rep.id, Some(reader.clone()))
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, report = %rep.id, "reading a report to restore its trace");
                    continue;
                }
            };
            let theft = objects
                .iter()
                .filter(|o| o.stix_type == "incident")
                .find_map(|o| {
                    let v: Value = serde_json::from_str(&o.body).ok()?;
                    let ext = v.get("extensions")?.get(THEFT_EXTENSION_ID)?;
                    Some(ext.clone())
                });
            let Some(theft) = theft else { continue };
            self.submit(Job::for_report(&rep, theft, reader.communities));
            restored += 1;
        }
        if restored > 0 {
            tracing::info!(reports = restored, "traces of stored reports queued");
        }
    }

    /// Queues a submitted report for tracing.
    pub fn submit(&self, job: Job) {
        let id = job.report.clone();
        if let Ok(mut r) = self.reports.write() {
            r.insert(
                id.clone(),
                TraceState {
                    status: "queued".into(),
                    reason: None,
                    method: "fifo".into(),
                    height: None,
                    runs: 0,
                    trace: None,
                    reached: Vec::new(),
                    job: Some(job),
                    findings: None,
                },
            );
        }
        let _ = self.queue.send(id);
    }

    fn set(&self, id: &str, f: impl FnOnce(&mut TraceState)) {
        if let Ok(mut r) = self.reports.write() {
            if let Some(s) = r.get_mut(id) {
                f(s);
            }
        }
    }

    async fn run(self: Arc<Self>, id: String) {
        let Some(job) = self.state(&id).and_then(|s| s.job) else {
            return;
        };
        let Some(view) = self.view() else {
            self.set(&id, |s| {
                s.status = "skipped".into();
                s.reason = Some("no chain ingested yet".into());
            });
            return;
        };
        let chain_name = view.store.chain().name();
        if job.theft["chain"]
            .as_str()
            .is_some_and(|c| !(c == chain_name || chain_name.starts_with(&format!("{c}-"))))
        {
            self.set(&id, |s| {
                s.status = "skipped".into();
                s.reason = Some(format!("report chain is not the ingested {chain_name}"));
            });
            return;
        }
        self.set(&id, |s| s.status = "running".into());
        let v = view.clone();
        let theft = job.theft.clone();
        let res = tokio::task::spawn_blocking(move || -> Result<TraceResult, String> {
            let refs = incident_refs(&theft).map_err(|e| e.to_string())?;
            let sources = resolve_sources(&v.store, &refs).map_err(|e| e.to_string())?;
            Ok(taint::trace(
                &v.store,
                &|a| v.cluster_of(a),
                &v.services,
                &sources,
                &TraceOptions::default(),
            ))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let r = match res {
            Ok(r) => r,
            Err(e) => {
                self.set(&id, |s| {
                    s.status = "failed".into();
                    s.reason = Some(e);
                });
                return;
            }
        };
        let findings = Findings::from_trace(&id, &view.store, &r);
        let height = view.store.block_count().saturating_sub(1);
        let body = json!({"findings": &findings, "method": "fifo", "height": height});
        if let Err(e) = self.store.put_findings(&id, body.to_string()).await {
            tracing::error!(error = %e, "storing findings");
        }
        let reached = match self.alert(&view, &job, &r).await {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "alerting");
                Vec::new()
            }
        };
        self.set(&id, |s| {
            s.status = "done".into();
            s.reason = None;
            s.height = Some(height);
            s.runs += 1;
            s.trace = Some(findings.trace.clone());
            s.findings = Some(findings);
            s.reached = reached;
        });
        self.rebuild_index(&view);
    }

    fn rebuild_index(&self, view: &View) {
        let mut index = ExposureIndex::default();
        if let Ok(r) = self.reports.read() {
            let mut ids: Vec<&String> = r.keys().collect();
            ids.sort();
            for id in ids {
                if let Some(f) = &r[id].findings {
                    index.add(id, &f.exposed_ids(&view.store), view.clusters.as_ref());
                }
            }
        }
        if let Ok(mut i) = self.index.write() {
            *i = Arc::new(index);
        }
    }

    /// Matches a trace against every organisation's registered addresses, stores and sends
    /// the alerts; returns who was reached (for the author).
    async fn alert(&self, view: &View, job: &Job, r: &TraceResult) -> Result<Vec<Value>, String> {
        let chain = view.store.chain();
        let regs = self
            .store
            .org_addresses(None)
            .await
            .map_err(|e| e.to_string())?;
        let orgs: HashMap<i64, Org> = self
            .store
            .orgs()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        let mut per_org: HashMap<i64, (HashSet<u32>, HashSet<u32>)> = HashMap::new();
        for (org, c, a, _) in regs {
            if c != chain.name() {
                continue;
            }
            let Some(id) = AddrKey::parse(&a, chain)
                .ok()
                .and_then(|k| view.store.addr_id(&k))
            else {
                continue;
            };
            let e = per_org.entry(org).or_default();
            e.0.insert(id);
            e.1.insert(view.cluster_of(id));
        }
        let addr_of = |s: &str| {
            AddrKey::parse(s, chain)
                .ok()
                .and_then(|k| view.store.addr_id(&k))
        };
        let mut reached = Vec::new();
        let mut orgs_sorted: Vec<_> = per_org.into_iter().collect();
        orgs_sorted.sort_by_key(|(o, _)| *o);
        for (org_id, (addrs, clusters)) in orgs_sorted {
            let Some(org) = orgs.get(&org_id) else {
                continue;
            };
            let cleared = can_read(Some(&reader_of(org)), &job.access);
            if !cleared && job.access.level == Tlp::Red {
                continue;
            }
            let mine = |a: u32| addrs.contains(&a) || clusters.contains(&view.cluster_of(a));
            let mut arrivals = Vec::new();
            let mut endpoints = Vec::new();
            let mut sats = 0u64;
            let mut arrival_addrs = HashSet::new();
            for e in &r.endpoints {
                let whole = clusters.contains(&e.cluster_id);
                let own: Vec<_> = e
                    .arrivals
                    .iter()
                    .filter(|a| whole || addr_of(&a.address).is_some_and(mine))
                    .collect();
                if own.is_empty() {
                    continue;
                }
                for a in &own {
                    sats += a.sats;
                    if let Some(id) = addr_of(&a.address) {
                        arrival_addrs.insert(id);
                    }
                    arrivals.push(json!({"txid": a.txid, "vout": a.vout, "address": a.address,
                        "sats": a.sats, "height": a.height, "via_deposit": a.via_deposit}));
                }
                endpoints.push(json!({"label": e.label, "category": e.category,
                    "sats": own.iter().map(|a| a.sats).sum::<u64>(), "path": e.path,
                    "min_hops": e.min_hops}));
            }
            let hops: Vec<Value> = r
                .exposed
                .iter()
                .filter(|(a, _, _)| mine(*a) && !arrival_addrs.contains(a))
                .map(|&(a, s, h)| {
                    json!({"address": view.store.addr_key(a).display(chain),
                           "sats": s.round() as u64, "hops": h})
                })
                .collect();
            if arrivals.is_empty() && hops.is_empty() {
                continue;
            }
            let mut alert = json!({
                "report": job.report, "chain": chain.name(), "cleared": cleared,
                "sats": sats, "arrivals": arrivals, "hops": hops,
            });
            if cleared {
                alert["title"] = job.meta["title"].clone();
                alert["victim"] = job.meta["victim"].clone();
                alert["actor"] = job.meta["actor"].clone();
                alert["tlp"] = json!(job.access.level.label());
                alert["endpoints"] = json!(endpoints);
            }
            reached.push(json!({"org": org.name, "sats": sats,
                "arrivals": alert["arrivals"].as_array().map_or(0, Vec::len),
                "hops": alert["hops"].as_array().map_or(0, Vec::len)}));
            match self.store.upsert_alert(org_id, &job.report, alert).await {
                Ok(Some(rec)) => {
                    let _ = self.alerts.send(rec.clone());
                    self.deliver(rec).await;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "storing alert"),
            }
        }
        Ok(reached)
    }

    /// Sends an alert to the organisation's webhooks in the background, with retries.
    async fn deliver(&self, rec: AlertRecord) {
        let hooks = match self.store.webhooks(rec.org_id).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "webhooks");
                return;
            }
        };
        for (hook, secret) in hooks {
            let store = self.store.clone();
            let http = self.http.clone();
            let cfg = self.cfg.clone();
            let rec = rec.clone();
            let sending = tokio::spawn(async move {
                let body = serde_json::to_vec(&rec).unwrap_or_default();
                let sig = webhook_signature(&secret, &body);
                let mut wait = cfg.webhook_backoff;
                for attempt in 1..=cfg.webhook_attempts.max(1) {
                    let res = http
                        .post(&hook.url)
                        .header("Content-Type", "application/json")
                        .header("X-Chainwatch-Signature", &sig)
                        .header("X-Chainwatch-Alert", rec.id.to_string())
                        .body(body.clone())
                        .send()
                        .await;
                    let (status, error) = match res {
                        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
                        Ok(r) => (
                            Some(r.status().as_u16()),
                            Some(format!("HTTP {}", r.status())),
                        ),
                        Err(e) => (None, Some(e.to_string())),
                    };
                    let ok = error.is_none();
                    let _ = store
                        .add_delivery(DeliveryRecord {
                            webhook_id: hook.id,
                            alert_id: rec.id,
                            attempt,
                            status,
                            error,
                            at: String::new(),
                        })
                        .await;
                    if ok {
                        return;
                    }
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            });
            // Kept with the worker and the poller, so that `stop` ends retries still waiting.
            if let Ok(mut t) = self.tasks.lock() {
                t.retain(|t| !t.is_finished());
                t.push(sending);
            }
        }
    }

    /// Screens addresses; `visible` says which report ids the caller may see. `None` when
    /// no chain is ingested.
    pub fn screen(
        &self,
        addresses: &[String],
        max_hops: u32,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Option<Vec<ScreenItem>> {
        let view = self.view()?;
        let index = self.index.read().ok()?.clone();
        let sc = Screener {
            store: &view.store,
            clusters: view.clusters.as_ref(),
            tags: view.tags.as_ref(),
            index: &index,
            outputs: &view.outputs,
        };
        // Large batches are split over the cores.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        if addresses.len() < 64 || threads < 2 {
            return Some(
                addresses
                    .iter()
                    .map(|a| sc.screen(a.trim(), max_hops, visible))
                    .collect(),
            );
        }
        let chunk = addresses.len().div_ceil(threads);
        let parts: Vec<Vec<ScreenItem>> = std::thread::scope(|s| {
            let handles: Vec<_> = addresses
                .chunks(chunk)
                .map(|part| {
                    let sc = &sc;
                    s.spawn(move || {
                        part.iter()
                            .map(|a| sc.screen(a.trim(), max_hops, visible))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        Some(parts.into_iter().flatten().collect())
    }

    /// Reports whose findings share addresses, txs or (non-service) clusters with `report`'s,
    /// among those `visible` says the caller may read; strongest first. `None` when `report`
    /// has no findings yet.
    pub fn related(&self, report: &str, visible: &dyn Fn(&str) -> bool) -> Option<Vec<Value>> {
        let view = self.view()?;
        let reports = self.reports.read().ok()?;
        let mine = reports.get(report)?.findings.clone()?;
        let cluster_of = |a: u32| view.cluster_of(a);
        let is_service = |c: u32| view.services.contains_key(&c);
        let mut out: Vec<(usize, Value)> = Vec::new();
        for (id, state) in reports.iter() {
            if id == report || !visible(id) {
                continue;
            }
            let Some(f) = &state.findings else { continue };
            let shared = mine.shared_with(f, &view.store, &cluster_of, &is_service);
            if shared.is_empty() {
                continue;
            }
            let strength = shared.addresses.len() + shared.txids.len() + shared.clusters.len();
            out.push((
                strength,
                serde_json::json!({
                    "report": id,
                    "shared_addresses": shared.addresses.len(),
                    "shared_txids": shared.txids.len(),
                    "shared_clusters": shared.clusters.len(),
                    "addresses": shared.addresses.iter().take(20).collect::<Vec<_>>(),
                    "txids": shared.txids.iter().take(20).collect::<Vec<_>>(),
                    "clusters": shared.clusters.iter().take(20).collect::<Vec<_>>(),
                }),
            ));
        }
        out.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(a.1["report"].as_str().cmp(&b.1["report"].as_str()))
        });
        Some(out.into_iter().map(|x| x.1).collect())
    }

    /// The traced reports `reader` may read (screening and correlation show only those).
    pub fn visible_reports(&self, reader: Option<&Reader>) -> HashSet<String> {
        self.reports
            .read()
            .map(|r| {
                r.iter()
                    .filter(|(_, v)| v.job.as_ref().is_some_and(|j| can_read(reader, &j.access)))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
