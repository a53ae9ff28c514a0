//! TAXII 2.1 endpoints under `/taxii2/` with one API root, `/taxii2/root/`.
//!
//! Every answer is `application/taxii+json;version=2.1`; requests must accept it (406)
//! and POSTs must send it (415). A collection the caller may not read is unknown (404),
//! and so is every object the caller is not cleared for: lists leave it out, and the
//! object, versions, status and delete endpoints answer 404 exactly as for an id that
//! was never stored.

use crate::api::{caller, event, ApiError, Shared};
use crate::store::{
    Collection, Feed, NewObject, NewStatus, ObjectQuery, Principal, Role, StoreError, StoredObject,
};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chainwatch_intel::audit::{AuditEvent, IdListing, PreparedEvent};
use chainwatch_intel::policy::read_is_audited;
use chainwatch_intel::raw::{read_envelope, EnvelopeError, NotAnObject, Posted};
use chainwatch_intel::report::RECIPIENTS_PROPERTY;
use chainwatch_intel::stix::{self, format_timestamp_us};
use chainwatch_intel::taxii::{
    accepts_taxii, envelope_json, is_taxii_content_type, parse_filter, Filter, NextToken,
    MEDIA_TYPE_STIX, MEDIA_TYPE_TAXII, NEXT_TTL_SECS,
};
use chainwatch_intel::tlp::{effective_level, effective_level_of};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

type Q = Query<Vec<(String, String)>>;

const API_ROOT: &str = "/taxii2/root/";

/// TAXII routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route(API_ROOT, get(api_root))
        .route("/taxii2/root/status/{status_id}/", get(status))
        .route("/taxii2/root/collections/", get(collections))
        .route("/taxii2/root/collections/{cid}/", get(collection))
        .route("/taxii2/root/collections/{cid}/manifest/", get(manifest))
        .route(
            "/taxii2/root/collections/{cid}/objects/",
            get(get_objects).post(add_objects),
        )
        .route(
            "/taxii2/root/collections/{cid}/objects/{oid}/",
            get(get_object).delete(delete_object),
        )
        .route(
            "/taxii2/root/collections/{cid}/objects/{oid}/versions/",
            get(versions),
        )
}

fn taxii_response(status: StatusCode, body: String, extra: &[(&'static str, String)]) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MEDIA_TYPE_TAXII),
    );
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    r
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let a = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if accepts_taxii(a) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            format!("the Accept header must admit {MEDIA_TYPE_TAXII}"),
        )
        .taxii())
    }
}

/// Common start of a TAXII handler: Accept, then the caller.
async fn begin(st: &Shared, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    check_accept(headers)?;
    caller(st, headers).await.map_err(ApiError::taxii)
}

/// `http(s)://HOST` as the client addressed this server (empty without a sane Host).
fn base_url(headers: &HeaderMap, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map(|h| format!("{scheme}://{h}"))
        .unwrap_or_default()
}

/// TAXII discovery.
#[utoipa::path(get, path = "/taxii2/", tag = "taxii", responses((status = 200, description = "Discovery resource")))]
pub async fn discovery(State(st): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    begin(&st, &headers).await?;
    let root = format!("{}{API_ROOT}", base_url(&headers, st.config.https));
    let body = json!({
        "title": "chainwatch",
        "description": "chainwatch exchange of theft reports (STIX 2.1, TLP 2.0)",
        "default": root,
        "api_roots": [root],
    });
    Ok(taxii_response(StatusCode::OK, body.to_string(), &[]))
}

/// The API root.
#[utoipa::path(get, path = "/taxii2/root/", tag = "taxii", responses((status = 200, description = "API root resource")))]
pub async fn api_root(State(st): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    begin(&st, &headers).await?;
    let body = json!({
        "title": "chainwatch",
        "description": "Theft reports and chain forensics about DPRK crypto heists",
        "versions": [MEDIA_TYPE_TAXII],
        "max_content_length": st.config.max_body,
    });
    Ok(taxii_response(StatusCode::OK, body.to_string(), &[]))
}

/// A status resource (only the posting organisation sees it).
#[utoipa::path(get, path = "/taxii2/root/status/{status_id}/", tag = "taxii", params(("status_id" = String, Path),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: for a write still queued, answer once it has settled (at most N seconds, N ≤ 60)")),
    responses((status = 200, description = "Status resource"), (status = 404, description = "Unknown status")))]
pub async fn status(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    // `Prefer: wait=N` on a queued write of the caller's: answer once it has settled (or
    // after N seconds, at most a minute) rather than have the client poll.
    if let (Some(wait), Some(p)) = (preferred_wait(&headers), &p) {
        if st.pending.queued_for(&id) == Some(p.org_id) {
            st.pending.settled(&id, wait).await;
        }
    }
    // Queued writes first: a write that commits between the two look-ups is then found
    // in the store (its status leaves the queue only after the commit).
    if let Some((org_id, body)) = st.pending.get(&id) {
        return match p {
            Some(p) if p.org_id == org_id => Ok(taxii_response(StatusCode::OK, body, &[])),
            _ => Err(ApiError::not_found("status").taxii()),
        };
    }
    let s = st
        .node
        .store
        .status(&id)
        .await
        .map_err(|e| ApiError::from(e).taxii())?;
    match (s, p) {
        (Some(s), Some(p)) if s.org_id == p.org_id => {
            Ok(taxii_response(StatusCode::OK, s.body.to_string(), &[]))
        }
        _ => Err(ApiError::not_found("status").taxii()),
    }
}

fn collection_json(c: &Collection, p: Option<&Principal>) -> Value {
    let mut v = json!({
        "id": c.id, "title": c.title,
        "can_read": c.can_read(p), "can_write": c.can_write(p),
        "media_types": [MEDIA_TYPE_STIX],
    });
    if let Some(d) = &c.description {
        v["description"] = json!(d);
    }
    v
}

/// Collections the caller may read.
#[utoipa::path(get, path = "/taxii2/root/collections/", tag = "taxii", responses((status = 200, description = "Collections resource")))]
pub async fn collections(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    let cols: Vec<Value> = st
        .node
        .store
        .collections()
        .await
        .map_err(|e| ApiError::from(e).taxii())?
        .iter()
        .filter(|c| c.can_read(p.as_ref()))
        .map(|c| collection_json(c, p.as_ref()))
        .collect();
    let body = if cols.is_empty() {
        json!({})
    } else {
        json!({ "collections": cols })
    };
    Ok(taxii_response(StatusCode::OK, body.to_string(), &[]))
}

async fn readable(st: &Shared, id: &str, p: Option<&Principal>) -> Result<Collection, ApiError> {
    match st
        .node
        .store
        .collection(id)
        .await
        .map_err(|e| ApiError::from(e).taxii())?
    {
        Some(c) if c.can_read(p) => Ok(c),
        _ => Err(ApiError::not_found("collection").taxii()),
    }
}

/// One collection.
#[utoipa::path(get, path = "/taxii2/root/collections/{cid}/", tag = "taxii", params(("cid" = String, Path)),
    responses((status = 200, description = "Collection resource"), (status = 404, description = "Unknown collection")))]
pub async fn collection(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(cid): Path<String>,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    let c = readable(&st, &cid, p.as_ref()).await?;
    Ok(taxii_response(
        StatusCode::OK,
        collection_json(&c, p.as_ref()).to_string(),
        &[],
    ))
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "Bad Request", e.to_string()).taxii()
}

/// Runs a paged query for an endpoint; returns the rows of the page, `more` and `next`.
async fn page(
    st: &Shared,
    p: Option<&Principal>,
    cid: &str,
    endpoint: &str,
    filter: Filter,
    all_versions: bool,
    without_body: bool,
) -> Result<(Vec<StoredObject>, bool, Option<String>), ApiError> {
    let principal = p.map_or_else(|| "anonymous".to_string(), |p| p.user_id.to_string());
    let now = chrono::Utc::now().timestamp();
    let after = match &filter.next {
        Some(t) => Some(
            NextToken::decode(&st.node.next_key, t, now)
                .and_then(|tok| tok.check(cid, endpoint, &principal, &filter))
                .map_err(bad)?,
        ),
        None => None,
    };
    let limit = filter.limit;
    let digest = filter.digest();
    let mut rows = st
        .node
        .store
        .query_objects(ObjectQuery {
            collection: cid.to_string(),
            reader: p.map(Principal::reader),
            filter,
            after,
            all_versions,
            without_body,
        })
        .await
        .map_err(|e| ApiError::from(e).taxii())?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = match (more, rows.last()) {
        (true, Some(last)) => Some(
            NextToken {
                collection: cid.to_string(),
                endpoint: endpoint.to_string(),
                principal,
                filter: digest,
                after: last.cursor(),
                expires: now + NEXT_TTL_SECS,
            }
            .encode(&st.node.next_key),
        ),
        _ => None,
    };
    audit_reads(st, p, cid, endpoint, &rows).await?;
    metrics::counter!("chainwatch_taxii_objects_served_total").increment(rows.len() as u64);
    Ok((rows, more, next))
}

/// A compact list of ids for audit entries: every id up to 100, then a digest.
fn id_list<'a>(ids: impl Iterator<Item = &'a str>) -> Value {
    let ids: Vec<&str> = ids.collect();
    if ids.len() <= 100 {
        json!({"count": ids.len(), "ids": ids})
    } else {
        let mut h = Sha256::new();
        for i in &ids {
            h.update(i.as_bytes());
            h.update(b"\n");
        }
        json!({"count": ids.len(), "ids_sha256": hex::encode(h.finalize()), "first_ids": &ids[..100]})
    }
}

async fn audit_reads(
    st: &Shared,
    p: Option<&Principal>,
    cid: &str,
    endpoint: &str,
    rows: &[StoredObject],
) -> Result<(), ApiError> {
    let sensitive: Vec<&StoredObject> = rows.iter().filter(|r| read_is_audited(r.tlp)).collect();
    if sensitive.is_empty() {
        return Ok(());
    }
    let mut detail = id_list(sensitive.iter().map(|r| r.stix_id.as_str()));
    detail["endpoint"] = json!(endpoint);
    detail["levels"] = json!(sensitive
        .iter()
        .map(|r| r.tlp.label())
        .collect::<std::collections::BTreeSet<_>>());
    st.node
        .store
        .audit(event(p, "taxii.read", cid, detail))
        .await
        .map_err(|e| ApiError::from(e).taxii())
}

fn date_headers(rows: &[StoredObject]) -> Vec<(&'static str, String)> {
    match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => vec![
            (
                "X-TAXII-Date-Added-First",
                format_timestamp_us(f.date_added),
            ),
            ("X-TAXII-Date-Added-Last", format_timestamp_us(l.date_added)),
        ],
        _ => Vec::new(),
    }
}

fn filter_of(st: &Shared, q: &[(String, String)]) -> Result<Filter, ApiError> {
    parse_filter(q, st.config.default_page, st.config.max_page).map_err(bad)
}

/// The manifest of a collection.
#[utoipa::path(get, path = "/taxii2/root/collections/{cid}/manifest/", tag = "taxii", params(("cid" = String, Path)),
    responses((status = 200, description = "Manifest resource")))]
pub async fn manifest(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(cid): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    readable(&st, &cid, p.as_ref()).await?;
    let f = filter_of(&st, &q)?;
    let (rows, more, next) = page(&st, p.as_ref(), &cid, "manifest", f, false, true).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"id": r.stix_id, "date_added": format_timestamp_us(r.date_added),
                   "version": r.version, "media_type": MEDIA_TYPE_STIX})
        })
        .collect();
    let mut body = json!({"more": more});
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    if !items.is_empty() {
        body["objects"] = json!(items);
    }
    Ok(taxii_response(
        StatusCode::OK,
        body.to_string(),
        &date_headers(&rows),
    ))
}

/// Objects of a collection, paged.
#[utoipa::path(get, path = "/taxii2/root/collections/{cid}/objects/", tag = "taxii", params(("cid" = String, Path)),
    responses((status = 200, description = "Envelope"), (status = 400, description = "Bad filter or next token"), (status = 404, description = "Unknown collection")))]
pub async fn get_objects(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(cid): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    readable(&st, &cid, p.as_ref()).await?;
    let f = filter_of(&st, &q)?;
    let (rows, more, next) = page(&st, p.as_ref(), &cid, "objects", f, false, false).await?;
    let body = envelope_json(more, next.as_deref(), rows.iter().map(|r| r.body.as_str()));
    Ok(taxii_response(StatusCode::OK, body, &date_headers(&rows)))
}

/// One object (its versions per `match[version]`, default the latest).
#[utoipa::path(get, path = "/taxii2/root/collections/{cid}/objects/{oid}/", tag = "taxii", params(("cid" = String, Path), ("oid" = String, Path)),
    responses((status = 200, description = "Envelope"), (status = 404, description = "Unknown object")))]
pub async fn get_object(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path((cid, oid)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    readable(&st, &cid, p.as_ref()).await?;
    let mut f = filter_of(&st, &q)?;
    f.ids = vec![oid.clone()];
    let paging = f.next.is_some();
    let (rows, more, next) = page(
        &st,
        p.as_ref(),
        &cid,
        &format!("object:{oid}"),
        f,
        false,
        false,
    )
    .await?;
    if rows.is_empty() && !paging {
        return Err(ApiError::not_found("object").taxii());
    }
    let body = envelope_json(more, next.as_deref(), rows.iter().map(|r| r.body.as_str()));
    Ok(taxii_response(StatusCode::OK, body, &date_headers(&rows)))
}

/// The versions of an object.
#[utoipa::path(get, path = "/taxii2/root/collections/{cid}/objects/{oid}/versions/", tag = "taxii", params(("cid" = String, Path), ("oid" = String, Path)),
    responses((status = 200, description = "Versions resource"), (status = 404, description = "Unknown object")))]
pub async fn versions(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path((cid, oid)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    readable(&st, &cid, p.as_ref()).await?;
    let mut f = filter_of(&st, &q)?;
    f.ids = vec![oid.clone()];
    let paging = f.next.is_some();
    let (rows, more, next) = page(
        &st,
        p.as_ref(),
        &cid,
        &format!("versions:{oid}"),
        f,
        true,
        true,
    )
    .await?;
    if rows.is_empty() && !paging {
        return Err(ApiError::not_found("object").taxii());
    }
    let mut body =
        json!({"more": more, "versions": rows.iter().map(|r| &r.version).collect::<Vec<_>>()});
    if let Some(n) = next {
        body["next"] = json!(n);
    }
    Ok(taxii_response(
        StatusCode::OK,
        body.to_string(),
        &date_headers(&rows),
    ))
}

/// Deletes an object's visible versions (all, or those `match[version]` selects).
#[utoipa::path(delete, path = "/taxii2/root/collections/{cid}/objects/{oid}/", tag = "taxii", params(("cid" = String, Path), ("oid" = String, Path)),
    responses((status = 200, description = "Deleted"), (status = 403, description = "Not allowed to delete"), (status = 404, description = "Unknown object")))]
pub async fn delete_object(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path((cid, oid)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let p = begin(&st, &headers).await?;
    let c = readable(&st, &cid, p.as_ref()).await?;
    let mut f = filter_of(&st, &q)?;
    if !q.iter().any(|(k, _)| k == "match[version]") {
        f.versions.all = true;
    }
    f.ids = vec![oid.clone()];
    f.limit = 100_000;
    f.next = None;
    let rows = st
        .node
        .store
        .query_objects(ObjectQuery {
            collection: cid.clone(),
            reader: p.as_ref().map(Principal::reader),
            filter: f,
            after: None,
            all_versions: false,
            without_body: true,
        })
        .await
        .map_err(|e| ApiError::from(e).taxii())?;
    if rows.is_empty() {
        return Err(ApiError::not_found("object").taxii());
    }
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "not allowed to delete this object",
        )
        .taxii()
    };
    let Some(pr) = p.as_ref().filter(|_| c.can_write(p.as_ref())) else {
        return Err(forbidden());
    };
    if pr.role != Role::Admin && rows.iter().any(|r| r.author_org != pr.org_id) {
        return Err(forbidden());
    }
    let detail =
        json!({"id": oid, "versions": rows.iter().map(|r| &r.version).collect::<Vec<_>>()});
    st.node
        .store
        .delete_objects(
            rows.iter().map(|r| r.seq).collect(),
            event(p.as_ref(), "taxii.delete", &cid, detail),
        )
        .await
        .map_err(|e| ApiError::from(e).taxii())?;
    Ok(taxii_response(StatusCode::OK, String::new(), &[]))
}

/// Resolves `x_chainwatch_recipients` (identity ids or organisation names) to org ids;
/// names this node does not know are ignored (they may be another node's members).
pub async fn recipients_of(st: &Shared, objects: &[Value]) -> Result<Vec<Vec<i64>>, ApiError> {
    let any = objects.iter().any(|o| o.get(RECIPIENTS_PROPERTY).is_some());
    let orgs = if any {
        st.node.store.orgs().await?
    } else {
        Vec::new()
    };
    Ok(objects
        .iter()
        .map(|o| {
            o.get(RECIPIENTS_PROPERTY)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|r| orgs.iter().find(|g| g.identity_id == r || g.name == r))
                        .map(|g| g.id)
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}

/// Validates objects for storage: all or nothing, with every reason (422).
pub async fn prepare_objects(st: &Shared, objects: &[Value]) -> Result<Vec<NewObject>, ApiError> {
    let mut errors = Vec::new();
    let mut infos = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        match stix::validate_object(o) {
            Ok(info) => infos.push(info),
            Err(e) => {
                if errors.len() < 20 {
                    errors.push(format!("object {i}: {e}"));
                }
            }
        }
    }
    if let Some(r) = objects.iter().find(|o| {
        o.get(RECIPIENTS_PROPERTY)
            .is_some_and(|r| !r.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
    }) {
        errors.push(format!(
            "{}: {RECIPIENTS_PROPERTY} must be a list of identity ids or organisation names",
            stix::describe(r)
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid STIX",
            format!("nothing was stored: {}", errors.join("; ")),
        )
        .taxii());
    }
    let recipients = recipients_of(st, objects).await?;
    Ok(objects
        .iter()
        .zip(infos)
        .zip(recipients)
        .map(|((o, info), recipients)| NewObject {
            id_key: crate::sqlite::id_key(&info.id),
            info,
            tlp: effective_level(o),
            recipients,
            recipient_refs: Vec::new(),
            body: o.to_string(),
        })
        .collect())
}

/// Why a posted object is refused: its validation error, and the complaint about its
/// recipients (reported once per request, as before).
struct Refusal {
    error: Option<stix::StixError>,
    recipients: Option<String>,
}

/// Checks one posted object for storage without building a `Value` tree: its properties
/// are read from the posted text ([`chainwatch_intel::raw::RawObject`]) and the stored
/// text is the posted text made compact. Objects that cannot be read that way exactly (see
/// [`chainwatch_intel::raw`]) and objects without a version (stored once per content,
/// which needs one normal form of the text) are parsed as a `Value`, as before.
/// `Err`: the object's text is not JSON a `Value` accepts (400).
fn check_posted(posted: &Posted<'_>) -> Result<Result<NewObject, Refusal>, ApiError> {
    let o = match posted {
        Ok(o) if !o.needs_value() => return Ok(check_properties(o, || o.compact())),
        Ok(o) => o,
        Err(NotAnObject) => {
            return Ok(Err(Refusal {
                error: Some(stix::StixError {
                    id: None,
                    reason: "a STIX object must be a JSON object".into(),
                }),
                recipients: None,
            }))
        }
    };
    let v: Value =
        serde_json::from_str(&o.compact()).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let Some(m) = v.as_object() else {
        return Err(bad("malformed JSON: not an object"));
    };
    Ok(check_properties(m, || v.to_string()))
}

fn check_properties<P: stix::Properties>(
    o: &P,
    text: impl FnOnce() -> String,
) -> Result<NewObject, Refusal> {
    let valid = stix::validate_properties(o);
    let recipients = match o.prop(RECIPIENTS_PROPERTY) {
        None => Ok(Vec::new()),
        Some(r) => match r.as_array() {
            Some(a) if a.iter().all(Value::is_string) => Ok(a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()),
            _ => Err(format!(
                "{}: {RECIPIENTS_PROPERTY} must be a list of identity ids or organisation names",
                o.prop_str("id").flatten().unwrap_or("(object without id)")
            )),
        },
    };
    match (valid, recipients) {
        (Ok(info), Ok(recipient_refs)) => {
            let text = text();
            let body = if info.version.is_some() {
                text
            } else {
                // Stored once per content: one normal form of the text.
                serde_json::from_str::<Value>(&text).map_or(text, |v| v.to_string())
            };
            Ok(NewObject {
                tlp: effective_level_of(o),
                id_key: crate::sqlite::id_key(&info.id),
                info,
                recipients: Vec::new(),
                recipient_refs,
                body,
            })
        }
        (valid, recipients) => Err(Refusal {
            error: valid.err(),
            recipients: recipients.err(),
        }),
    }
}

/// Objects handed to the store at a time (after a first chunk of 16). The store inserts
/// them as fast as they are checked, so what is left for it once the last object is
/// checked, on the request's path, is at most one chunk: small chunks keep that short
/// (the writer polls for the next one rather than sleeping, see `sqlite::next_fed`).
/// Measured with `bench taxii`: 32 and 16 alike, 128 some 5% slower.
pub const FEED_CHUNK: usize = 32;

/// Reads a posted envelope and checks its objects, handing the valid ones to `chunk` in
/// chunks while it goes on; when every object passed it answers how many there were and
/// `audit` prepared with its detail (every id written, in order — the audit entry is the
/// record of the write). On any error it stops handing objects over (so a store fed by
/// `chunk` keeps nothing once its feed ends without the audit entry) and answers the error:
/// 400 for a body that is not an envelope, 422 with the reasons (at most 20) for refused
/// objects.
pub fn feed_objects(
    body: &[u8],
    audit: AuditEvent,
    mut chunk_out: impl FnMut(Vec<NewObject>),
) -> Result<(usize, PreparedEvent), ApiError> {
    let mut feeding = true;
    let mut unreadable = None;
    let mut errors = Vec::new();
    let mut bad_recipients: Option<String> = None;
    let mut ids = IdListing::with_capacity(64);
    let mut chunk = Vec::with_capacity(16);
    // Each object is checked as soon as it is read, so the store starts inserting while
    // the rest of the body is still being read.
    let mut i = 0;
    let read = read_envelope(body, |posted| {
        let at = i;
        i += 1;
        match check_posted(&posted) {
            Ok(Ok(o)) if feeding => {
                ids.push(&o.info.id);
                chunk.push(o);
                // A small first chunk gets the store going early.
                if chunk.len() >= if ids.len() <= 16 { 16 } else { FEED_CHUNK } {
                    chunk_out(std::mem::take(&mut chunk));
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(refusal)) => {
                feeding = false;
                chunk.clear();
                if let Some(r) = refusal.recipients {
                    bad_recipients.get_or_insert(r);
                }
                if let Some(e) = refusal.error.filter(|_| errors.len() < 20) {
                    errors.push(format!("object {at}: {e}"));
                }
            }
            Err(e) => {
                feeding = false;
                unreadable.get_or_insert(e);
            }
        }
    });
    let n = match read {
        Ok(n) => n,
        Err(EnvelopeError::Malformed(e)) => return Err(bad(format!("malformed JSON: {e}"))),
        Err(EnvelopeError::NotEnvelope) => {
            return Err(bad("the body must be an envelope with an 'objects' list"))
        }
        Err(EnvelopeError::RepeatedObjects) => {
            return Err(bad("the envelope names 'objects' more than once"))
        }
    };
    if let Some(e) = unreadable {
        return Err(e);
    }
    if n == 0 {
        return Err(bad("the envelope has no objects"));
    }
    if !feeding {
        errors.extend(bad_recipients);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid STIX",
            format!("nothing was stored: {}", errors.join("; ")),
        )
        .taxii());
    }
    if !chunk.is_empty() {
        chunk_out(chunk);
    }
    Ok((n, ids.into_event(audit)))
}

/// The preferences of a request (`Prefer`, RFC 7240): each token with its value, if any.
fn preferences(headers: &HeaderMap) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| {
            let first = p.split(';').next()?.trim();
            let (token, value) = match first.split_once('=') {
                Some((t, v)) => (t.trim(), Some(v.trim().trim_matches('"').to_string())),
                None => (first, None),
            };
            Some((token.to_ascii_lowercase(), value))
        })
}

/// Longest `Prefer: wait` honoured.
const MAX_PREFERRED_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long the request is willing to wait (`Prefer: wait=SECONDS`), at most a minute.
fn preferred_wait(headers: &HeaderMap) -> Option<std::time::Duration> {
    preferences(headers)
        .find(|(t, _)| t == "wait")
        .and_then(|(_, v)| v?.parse::<u64>().ok())
        .map(|s| std::time::Duration::from_secs(s).min(MAX_PREFERRED_WAIT))
}

/// Whether the request asks to be answered before its work is done (`Prefer:
/// respond-async`, RFC 7240; other preferences beside it are ignored).
fn prefers_async(headers: &HeaderMap) -> bool {
    preferences(headers).any(|(t, _)| t == "respond-async")
}

/// [`add_objects`] answered before the commit (see [`crate::pending`]): validates every
/// object (a refused one fails the request, nothing queued), queues the write, records
/// its pending status and answers it with `Preference-Applied: respond-async` and the
/// status resource's address in `Location` (RFC 7240). The write commits in request
/// order; its status then comes from the store.
async fn add_objects_async(
    st: Shared,
    pr: &Principal,
    cid: String,
    body: &[u8],
) -> Result<Response, ApiError> {
    let slot = st.pending.slot().await;
    let mut objects = Vec::new();
    let audit = event(Some(pr), "taxii.add", &cid, Value::Null);
    let (n, audit) = feed_objects(body, audit, |chunk| objects.extend(chunk))?;
    let status = NewStatus::new(pr.org_id);
    let pending = status.render_unwritten(n, false);
    let failed = status.render_unwritten(n, true);
    let id = status.id.clone();
    st.pending.insert(id.clone(), pr.org_id, pending.clone());
    let writing =
        st.node
            .store
            .clone()
            .add_objects_complete(cid.clone(), pr.org_id, objects, audit, status);
    let location = format!("/taxii2/root/status/{id}/");
    tokio::spawn(async move {
        let _slot = slot;
        match writing.await {
            Ok(_) => {
                metrics::counter!("chainwatch_taxii_objects_added_total").increment(n as u64);
                st.pending.finish(&id);
            }
            Err(e) => {
                tracing::error!(status = %id, collection = %cid, error = %e, "asynchronous TAXII write failed");
                st.pending.fail(&id, failed);
            }
        }
    });
    Ok(taxii_response(
        StatusCode::ACCEPTED,
        pending,
        &[
            ("preference-applied", "respond-async".to_string()),
            ("location", location),
        ],
    ))
}

/// Adds objects (an envelope, or a bundle) to a collection.
#[utoipa::path(post, path = "/taxii2/root/collections/{cid}/objects/", tag = "taxii", params(("cid" = String, Path),
        ("Prefer" = Option<String>, Header, description = "`respond-async`: answer with a pending status once every object is validated; the objects are committed in request order")),
    request_body(content = Object, content_type = "application/taxii+json;version=2.1", description = "Envelope {objects: [...]}"),
    responses((status = 202, description = "Status resource: complete, or pending when `Prefer: respond-async` was applied (headers `Preference-Applied`, and `Location` of the status)"), (status = 400, description = "Malformed JSON"), (status = 403, description = "Not allowed to write"),
              (status = 404, description = "Unknown collection"), (status = 413, description = "Body too large"), (status = 415, description = "Wrong Content-Type"),
              (status = 422, description = "Invalid STIX, with the reasons; nothing stored")))]
pub async fn add_objects(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(cid): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    check_accept(&headers)?;
    // The caller and the collection are looked up while the body comes in (within the
    // server's body limit, as the `Bytes` extractor reads it); the answers are checked in
    // the usual order (credentials, media type, body, collection, rights).
    let (p, col, body) = tokio::join!(
        caller(&st, &headers),
        st.node.store.collection(&cid),
        Bytes::from_request(request, &st)
    );
    let p = p.map_err(ApiError::taxii)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_taxii_content_type(ct) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            format!("Content-Type must be {MEDIA_TYPE_TAXII}"),
        )
        .taxii());
    }
    let body = body.map_err(|r| ApiError::new(r.status(), "Bad Body", r.body_text()).taxii())?;
    let c = match col.map_err(|e| ApiError::from(e).taxii())? {
        Some(c) if c.can_read(p.as_ref()) => c,
        _ => return Err(ApiError::not_found("collection").taxii()),
    };
    let Some(pr) = p.as_ref().filter(|_| c.can_write(p.as_ref())) else {
        return Err(if p.is_none() {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "writing needs credentials",
            )
            .taxii()
        } else {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "no write access to this collection",
            )
            .taxii()
        });
    };
    if prefers_async(&headers) {
        return add_objects_async(st.clone(), pr, cid, &body).await;
    }
    // The store inserts the objects on its own thread while this one validates them and
    // feeds it the valid ones; it commits (objects, status resource, audit entry) only
    // once all of them passed — all or nothing. Validation stays on this task (as a
    // `Value` parse did before), so the writer never waits for a thread of the blocking
    // pool it may be holding up.
    let (feed, fed) = std::sync::mpsc::channel();
    let status = NewStatus::new(pr.org_id);
    let writer = st
        .node
        .store
        .clone()
        .add_objects_fed(cid.clone(), pr.org_id, fed, status);
    let audit = event(p.as_ref(), "taxii.add", &cid, Value::Null);
    let checked = feed_objects(&body, audit, |chunk| {
        let _ = feed.send(Feed::Objects(chunk));
    })
    .map(|(n, audit)| {
        // Every object passed: the store may commit.
        let _ = feed.send(Feed::End(audit));
        n
    });
    drop(feed);
    let stored = writer.await;
    let n = checked?;
    let Some((_, status)) = stored.map_err(|e| ApiError::from(e).taxii())? else {
        return Err(ApiError::from(StoreError::Db("the objects were not stored".into())).taxii());
    };
    metrics::counter!("chainwatch_taxii_objects_added_total").increment(n as u64);
    Ok(taxii_response(StatusCode::ACCEPTED, status, &[]))
}
