//! The persistence interface of the server: one async trait, [`IntelStore`], with the
//! records it speaks in. [`crate::sqlite::SqliteStore`] implements it today; a PostgreSQL
//! implementation comes next, so nothing here assumes SQLite (ids are `i64`, times are
//! microseconds or STIX strings, visibility is decided by the store from a
//! [`Reader`] so it can be pushed into the query of either database).

use async_trait::async_trait;
use chainwatch_intel::audit::{AuditEntry, AuditEvent, AuditHead, PreparedEvent};
use chainwatch_intel::policy::Reader;
use chainwatch_intel::stix::ObjectInfo;
use chainwatch_intel::taxii::{Cursor, Filter};
use chainwatch_intel::tlp::Tlp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Errors of a store.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// A name or id that must be unique is taken.
    #[error("{0} already exists")]
    Exists(String),
    /// A referenced record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(String),
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A store call already under way (see [`IntelStore::add_objects_fed`]).
pub type StoreFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<T>> + Send + 'static>>;

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, writes, deletes any object in writable collections.
    Admin,
    /// Reads and writes; deletes its organisation's objects.
    Analyst,
    /// Reads only.
    Reader,
}

impl Role {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Reader => "reader",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "analyst" => Some(Role::Analyst),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

/// A community of organisations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Community {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// An organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Org {
    /// Database id.
    pub id: i64,
    /// Name (unique).
    pub name: String,
    /// `exchange`, `agency`, `fiu`, `vendor`.
    pub kind: String,
    /// STIX identity id.
    pub identity_id: String,
    /// Organisation this one is a client of (TLP:AMBER reaches clients of recipients).
    pub client_of: Option<i64>,
    /// Communities it belongs to.
    pub communities: Vec<Community>,
    /// Creation time.
    pub created: String,
}

/// A new organisation.
#[derive(Clone, Debug)]
pub struct NewOrg {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// STIX identity id.
    pub identity_id: String,
    /// Client of.
    pub client_of: Option<i64>,
    /// Communities (ids).
    pub communities: Vec<i64>,
}

/// A user (without secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Database id.
    pub id: i64,
    /// Name (unique on the node).
    pub name: String,
    /// Organisation id.
    pub org_id: i64,
    /// Organisation name.
    pub org: String,
    /// Role.
    pub role: Role,
    /// Disabled users cannot authenticate.
    pub disabled: bool,
    /// Creation time.
    pub created: String,
}

/// An API token record (the token itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRecord {
    /// Database id (for revocation).
    pub id: i64,
    /// Owner.
    pub user: String,
    /// Label.
    pub label: Option<String>,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    /// Creation time.
    pub created: String,
    /// Revoked.
    pub revoked: bool,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: i64,
    /// Organisation name.
    pub org: String,
    /// Organisation identity id.
    pub org_identity: String,
    /// Client of.
    pub client_of: Option<i64>,
    /// Communities of the organisation.
    pub communities: Vec<i64>,
}

impl Principal {
    /// The policy's view of the caller.
    pub fn reader(&self) -> Reader {
        Reader {
            org: self.org_id,
            client_of: self.client_of,
            communities: self.communities.clone(),
        }
    }
}

/// A collection grant to one organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// Organisation id.
    pub org_id: i64,
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
}

/// A TAXII collection and who may use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Collection {
    /// TAXII id (UUID).
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Members of this community read and write it.
    pub community_id: Option<i64>,
    /// Anyone may read it (objects stay subject to TLP: anonymous callers see CLEAR only).
    pub public_read: bool,
    /// Per-organisation grants.
    pub grants: Vec<Grant>,
    /// Creation time.
    pub created: String,
}

impl Collection {
    /// Whether `p` may read the collection.
    pub fn can_read(&self, p: Option<&Principal>) -> bool {
        if self.public_read {
            return true;
        }
        let Some(p) = p else { return false };
        self.community_id
            .is_some_and(|c| p.communities.contains(&c))
            || self.grants.iter().any(|g| g.org_id == p.org_id && g.read)
    }

    /// Whether `p` may write to the collection.
    pub fn can_write(&self, p: Option<&Principal>) -> bool {
        let Some(p) = p else { return false };
        if p.role == Role::Reader {
            return false;
        }
        self.community_id
            .is_some_and(|c| p.communities.contains(&c))
            || self.grants.iter().any(|g| g.org_id == p.org_id && g.write)
    }
}

/// A new collection.
#[derive(Clone, Debug)]
pub struct NewCollection {
    /// TAXII id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Community.
    pub community_id: Option<i64>,
    /// Public read.
    pub public_read: bool,
    /// Grants.
    pub grants: Vec<Grant>,
}

/// An object to store.
#[derive(Clone, Debug)]
pub struct NewObject {
    /// What validation found.
    pub info: ObjectInfo,
    /// The key of `info.id` ([`crate::sqlite::id_key`]), computed where the object is
    /// validated, off the store's single writer.
    pub id_key: i64,
    /// Effective TLP level.
    pub tlp: Tlp,
    /// Recipient organisations.
    pub recipients: Vec<i64>,
    /// Recipients still to resolve, as `x_chainwatch_recipients` names them (identity ids
    /// or organisation names): the store adds the organisations they name; names this
    /// node does not know are ignored (they may be another node's members).
    pub recipient_refs: Vec<String>,
    /// The object's JSON text.
    pub body: String,
}

/// One message to [`IntelStore::add_objects_fed`].
#[derive(Debug)]
pub enum Feed {
    /// More objects, in order.
    Objects(Vec<NewObject>),
    /// Every object was sent: commit, with this audit entry.
    End(PreparedEvent),
}

/// An object as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// Storage sequence number.
    pub seq: i64,
    /// `date_added`, microseconds.
    pub date_added: i64,
    /// STIX id.
    pub stix_id: String,
    /// STIX type.
    pub stix_type: String,
    /// Version as written (or the `date_added` for objects without one).
    pub version: String,
    /// Version, microseconds.
    pub version_us: i64,
    /// `spec_version`.
    pub spec_version: String,
    /// Level.
    pub tlp: Tlp,
    /// Author organisation.
    pub author_org: i64,
    /// JSON text.
    pub body: String,
}

impl StoredObject {
    /// The position after this object.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            date_added: self.date_added,
            seq: self.seq,
        }
    }
}

/// A query of one collection's objects, run with the reader's visibility.
#[derive(Clone, Debug)]
pub struct ObjectQuery {
    /// Collection id.
    pub collection: String,
    /// The caller (`None`: anonymous).
    pub reader: Option<Reader>,
    /// Filters (`limit` is taken from here).
    pub filter: Filter,
    /// Continue after this position.
    pub after: Option<Cursor>,
    /// Ignore `match[version]` and return every visible version (versions endpoint).
    pub all_versions: bool,
    /// Return only ids/versions/dates (manifest, versions): the body may be left empty.
    pub without_body: bool,
}

/// What storing one object did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored as a new row.
    Added {
        /// Row.
        seq: i64,
        /// Version as stored.
        version: String,
    },
    /// The same id and version (or identical content) was there already.
    Duplicate {
        /// The existing row.
        seq: i64,
        /// Version.
        version: String,
    },
}

impl AddOutcome {
    /// The row.
    pub fn seq(&self) -> i64 {
        match self {
            AddOutcome::Added { seq, .. } | AddOutcome::Duplicate { seq, .. } => *seq,
        }
    }

    /// The version.
    pub fn version(&self) -> &str {
        match self {
            AddOutcome::Added { version, .. } | AddOutcome::Duplicate { version, .. } => version,
        }
    }
}

/// A stored report (one submission through `/api/reports`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportRecord {
    /// Report id (the incident id, or the bundle id of a raw bundle).
    pub id: String,
    /// Collection.
    pub collection: String,
    /// Title.
    pub title: String,
    /// TLP.
    #[schema(value_type = String)]
    pub tlp: Tlp,
    /// Author organisation id.
    pub author_org: i64,
    /// Author organisation name.
    pub author: String,
    /// Recipient organisations.
    pub recipients: Vec<i64>,
    /// Actor name, when attributed.
    pub actor: Option<String>,
    /// Creation time.
    pub created: String,
    /// Short summary (JSON: chain, totals, addresses).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

/// A TAXII status resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// Status id.
    pub id: String,
    /// Organisation that may read it.
    pub org_id: i64,
    /// The status resource JSON.
    pub body: serde_json::Value,
}

/// The TAXII status resource of one add request, to be written with its objects.
#[derive(Clone, Debug)]
pub struct NewStatus {
    /// Status id.
    pub id: String,
    /// Organisation that may read it.
    pub org_id: i64,
    /// When the request came (STIX timestamp).
    pub request_timestamp: String,
}

impl NewStatus {
    /// A new status id for a request of organisation `org_id` received now.
    pub fn new(org_id: i64) -> NewStatus {
        NewStatus {
            id: uuid::Uuid::new_v4().to_string(),
            org_id,
            request_timestamp: chainwatch_intel::stix::now_timestamp(),
        }
    }

    /// The status resource JSON of `n` objects not committed yet (`status` `pending`),
    /// or, with `failed`, of `n` objects the store could not write (`complete`, every
    /// object a failure).
    pub fn render_unwritten(&self, n: usize, failed: bool) -> String {
        let (status, failures, pendings) = if failed {
            ("complete", n, 0)
        } else {
            ("pending", 0, n)
        };
        serde_json::json!({
            "id": self.id,
            "status": status,
            "request_timestamp": self.request_timestamp,
            "total_count": n,
            "success_count": 0,
            "failure_count": failures,
            "pending_count": pendings,
        })
        .to_string()
    }

    /// The status resource JSON once the objects `ids` were stored with `outcomes` (in the
    /// same order): every object a success, `already present` for duplicates.
    pub fn render<'a>(
        &self,
        ids: impl ExactSizeIterator<Item = &'a str>,
        outcomes: &[AddOutcome],
    ) -> String {
        fn push_str(out: &mut Vec<u8>, s: &str) {
            // Writing a str to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        }
        let n = ids.len();
        let mut out = Vec::with_capacity(160 + n * 96);
        out.extend_from_slice(b"{\"id\":");
        push_str(&mut out, &self.id);
        out.extend_from_slice(b",\"status\":\"complete\",\"request_timestamp\":");
        push_str(&mut out, &self.request_timestamp);
        out.extend_from_slice(
            format!(",\"total_count\":{n},\"success_count\":{n},\"successes\":[").as_bytes(),
        );
        for (i, (id, o)) in ids.zip(outcomes).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            push_str(&mut out, id);
            out.extend_from_slice(b",\"version\":");
            match o {
                AddOutcome::Added { version, .. } => push_str(&mut out, version),
                AddOutcome::Duplicate { version, .. } => {
                    push_str(&mut out, version);
                    out.extend_from_slice(b",\"message\":\"already present\"");
                }
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"failure_count\":0,\"pending_count\":0}");
        // Only str pieces went in.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// An alert to one organisation about one report (one row per organisation and report;
/// a re-trace updates it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertRecord {
    /// Alert id.
    pub id: i64,
    /// The organisation alerted.
    pub org_id: i64,
    /// `new`, `acknowledged` or `resolved`.
    pub state: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Last update (RFC 3339).
    pub updated: String,
    /// What the organisation is told (see `crate::watch` for the TLP rule).
    #[schema(value_type = Object)]
    pub alert: serde_json::Value,
}

/// A webhook of an organisation (the secret is never read back through the API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookRecord {
    /// Id.
    pub id: i64,
    /// Owner.
    pub org_id: i64,
    /// Target URL.
    pub url: String,
    /// Creation time (RFC 3339).
    pub created: String,
}

/// One webhook delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    /// Webhook.
    pub webhook_id: i64,
    /// Alert delivered.
    pub alert_id: i64,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// HTTP status answered, if any.
    pub status: Option<u16>,
    /// Transport error or non-2xx reason.
    pub error: Option<String>,
    /// Time (RFC 3339).
    pub at: String,
}

/// The persistence interface.
#[async_trait]
pub trait IntelStore: Send + Sync + 'static {
    /// Creates a community.
    async fn create_community(&self, name: &str) -> StoreResult<Community>;
    /// A community by name.
    async fn community(&self, name: &str) -> StoreResult<Option<Community>>;
    /// Creates an organisation.
    async fn create_org(&self, new: NewOrg) -> StoreResult<Org>;
    /// An organisation by name or identity id.
    async fn org(&self, name_or_identity: &str) -> StoreResult<Option<Org>>;
    /// Every organisation.
    async fn orgs(&self) -> StoreResult<Vec<Org>>;
    /// Creates a user.
    async fn create_user(
        &self,
        org_id: i64,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> StoreResult<User>;
    /// A user and its password hash.
    async fn user(&self, name: &str) -> StoreResult<Option<(User, String)>>;
    /// Disables or enables a user (revokes its password and tokens).
    async fn set_user_disabled(&self, name: &str, disabled: bool) -> StoreResult<bool>;
    /// Records a token by its SHA-256.
    async fn create_token(
        &self,
        user_id: i64,
        sha256_hex: &str,
        prefix: &str,
        label: Option<&str>,
    ) -> StoreResult<TokenRecord>;
    /// Revokes a token by id.
    async fn revoke_token(&self, id: i64) -> StoreResult<bool>;
    /// The caller owning a token (active user, unrevoked token).
    async fn principal_by_token(&self, sha256_hex: &str) -> StoreResult<Option<Principal>>;
    /// The caller of an active user.
    async fn principal_by_user(&self, user_id: i64) -> StoreResult<Option<Principal>>;
    /// Creates a collection.
    async fn create_collection(&self, new: NewCollection) -> StoreResult<Collection>;
    /// Every collection.
    async fn collections(&self) -> StoreResult<Vec<Collection>>;
    /// A collection by id.
    async fn collection(&self, id: &str) -> StoreResult<Option<Collection>>;
    /// Stores objects in a collection atomically, with an audit entry (and links them to
    /// a report when `report` is given).
    async fn add_objects(
        &self,
        collection: &str,
        author_org: i64,
        objects: Vec<NewObject>,
        report: Option<ReportRecord>,
        audit: AuditEvent,
    ) -> StoreResult<Vec<AddOutcome>>;
    /// Objects of a collection visible to the reader, in `date_added` order, at most
    /// `filter.limit + 1` (the extra one tells whether there are more).
    async fn query_objects(&self, q: ObjectQuery) -> StoreResult<Vec<StoredObject>>;
    /// Deletes rows, with an audit entry.
    async fn delete_objects(&self, seqs: Vec<i64>, audit: AuditEvent) -> StoreResult<usize>;
    /// Stores objects while the caller is still validating them: they arrive on `feed` in
    /// chunks and are inserted as they come, but committed — atomically with the TAXII
    /// status resource of the request and the audit entry that [`Feed::End`] carries —
    /// only when `End` arrives. If the sender goes away before (an object was refused),
    /// nothing is stored and the answer is `Ok(None)`; otherwise the outcomes and the
    /// status JSON.
    ///
    /// Not an `async fn`: the work starts at once, before the caller begins feeding, and
    /// the returned future only waits for it.
    ///
    /// The default collects the whole feed, then runs [`IntelStore::add_objects`] and
    /// [`IntelStore::put_status`].
    fn add_objects_fed(
        self: Arc<Self>,
        collection: String,
        author_org: i64,
        feed: std::sync::mpsc::Receiver<Feed>,
        status: NewStatus,
    ) -> StoreFuture<Option<(Vec<AddOutcome>, String)>> {
        let received = tokio::task::spawn_blocking(move || {
            let mut objects = Vec::new();
            for item in feed {
                match item {
                    Feed::Objects(o) => objects.extend(o),
                    Feed::End(audit) => return Some((objects, audit.into_event())),
                }
            }
            None
        });
        Box::pin(async move {
            let received = received
                .await
                .map_err(|e| StoreError::Db(format!("task: {e}")))?;
            let Some((mut objects, audit)) = received else {
                return Ok(None);
            };
            if objects.iter().any(|o| !o.recipient_refs.is_empty()) {
                let orgs = self.orgs().await?;
                for o in &mut objects {
                    for r in std::mem::take(&mut o.recipient_refs) {
                        if let Some(g) = orgs.iter().find(|g| g.identity_id == r || g.name == r) {
                            o.recipients.push(g.id);
                        }
                    }
                }
            }
            let ids: Vec<String> = objects.iter().map(|o| o.info.id.clone()).collect();
            let outcomes = self
                .add_objects(&collection, author_org, objects, None, audit)
                .await?;
            let body = status.render(ids.iter().map(String::as_str), &outcomes);
            let value = serde_json::from_str(&body).map_err(|e| StoreError::Db(e.to_string()))?;
            self.put_status(StatusRecord {
                id: status.id,
                org_id: status.org_id,
                body: value,
            })
            .await?;
            Ok(Some((outcomes, body)))
        })
    }

    /// Stores objects already validated, atomically with the TAXII status resource of the
    /// request and its audit entry; answers the outcomes and the status JSON. A store may
    /// commit it together with other such writes that wait at the same time (one commit
    /// for several requests). The default hands the objects to
    /// [`IntelStore::add_objects_fed`] (whose own default stores the status after the
    /// objects, not atomically with them).
    ///
    /// Not an `async fn`: the write is queued at once; the future only waits for it.
    fn add_objects_complete(
        self: Arc<Self>,
        collection: String,
        author_org: i64,
        objects: Vec<NewObject>,
        audit: PreparedEvent,
        status: NewStatus,
    ) -> StoreFuture<(Vec<AddOutcome>, String)> {
        let (feed, fed) = std::sync::mpsc::channel();
        let _ = feed.send(Feed::Objects(objects));
        let _ = feed.send(Feed::End(audit));
        drop(feed);
        let writing = self.add_objects_fed(collection, author_org, fed, status);
        Box::pin(async move {
            writing
                .await?
                .ok_or_else(|| StoreError::Db("the objects were not stored".into()))
        })
    }
    /// Saves a status resource.
    async fn put_status(&self, status: StatusRecord) -> StoreResult<()>;
    /// A status resource.
    async fn status(&self, id: &str) -> StoreResult<Option<StatusRecord>>;
    /// Every organisation's theft reports (not raw bundles), oldest first, whoever may
    /// read them: for the watcher, which traces each under the report's own access. Never
    /// answer a request with it.
    async fn theft_reports_unfiltered(&self) -> StoreResult<Vec<ReportRecord>>;
    /// Reports visible to the reader, newest first, optionally matching text.
    async fn reports(
        &self,
        reader: Option<Reader>,
        text: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<ReportRecord>>;
    /// A report visible to the reader.
    async fn report(&self, id: &str, reader: Option<Reader>) -> StoreResult<Option<ReportRecord>>;
    /// The objects of a report visible to the reader.
    async fn report_objects(
        &self,
        id: &str,
        reader: Option<Reader>,
    ) -> StoreResult<Vec<StoredObject>>;
    /// Appends an audit entry.
    async fn audit(&self, event: AuditEvent) -> StoreResult<()>;
    /// The whole audit log in order, and its signed head (`None` before the first write).
    async fn audit_log(&self) -> StoreResult<(Vec<AuditEntry>, Option<(AuditHead, String)>)>;
    /// A node setting.
    async fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// The in-memory index of objects by id, if the store keeps one: rows indexed and
    /// bytes it holds (for `/metrics`).
    fn id_index_size(&self) -> Option<(usize, usize)> {
        None
    }
    /// Sets a node setting.
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Registers addresses an organisation owns (kept private to it and the operator);
    /// returns how many were new.
    async fn add_org_addresses(
        &self,
        org_id: i64,
        chain: &str,
        addresses: Vec<(String, Option<String>)>,
    ) -> StoreResult<usize>;
    /// Registered addresses as (org id, chain, address, label); one organisation's or all.
    async fn org_addresses(
        &self,
        org_id: Option<i64>,
    ) -> StoreResult<Vec<(i64, String, String, Option<String>)>>;
    /// Saves a report's findings (JSON).
    async fn put_findings(&self, report_id: &str, body: String) -> StoreResult<()>;
    /// A report's findings.
    async fn findings(&self, report_id: &str) -> StoreResult<Option<String>>;
    /// Creates or updates the alert of (org, report); returns it when it is new or its
    /// content changed (`None`: nothing new to tell).
    async fn upsert_alert(
        &self,
        org_id: i64,
        report_id: &str,
        alert: serde_json::Value,
    ) -> StoreResult<Option<AlertRecord>>;
    /// An organisation's alerts, newest first, optionally in one state.
    async fn alerts(
        &self,
        org_id: i64,
        state: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<AlertRecord>>;
    /// Sets an alert's state (only the organisation's own); false if there is no such alert.
    async fn set_alert_state(&self, org_id: i64, id: i64, state: &str) -> StoreResult<bool>;
    /// Creates a webhook.
    async fn create_webhook(
        &self,
        org_id: i64,
        url: &str,
        secret: &str,
    ) -> StoreResult<WebhookRecord>;
    /// An organisation's webhooks with their secrets (server side only).
    async fn webhooks(&self, org_id: i64) -> StoreResult<Vec<(WebhookRecord, String)>>;
    /// Records a delivery attempt.
    async fn add_delivery(&self, d: DeliveryRecord) -> StoreResult<()>;
    /// The delivery log of an organisation's webhooks, newest first.
    async fn deliveries(&self, org_id: i64, limit: usize) -> StoreResult<Vec<DeliveryRecord>>;
}
