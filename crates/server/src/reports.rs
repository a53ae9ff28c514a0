//! `/api/reports`: submit a theft report (friendly JSON or a STIX bundle), list and
//! search reports, read one, export it as a STIX bundle. Reports the node originates are
//! signed with its Ed25519 key; invisible reports are 404 like unknown ones.

use crate::api::{caller, event, ApiError, Shared};
use crate::store::{ReportRecord, Role};
use crate::taxii_api::prepare_objects;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chainwatch_intel::policy::read_is_audited;
use chainwatch_intel::report::{
    map_report, MapContext, OrgIdentity, TheftReport, RECIPIENTS_PROPERTY, THEFT_EXTENSION_ID,
};
use chainwatch_intel::stix;
use chainwatch_intel::tlp::{effective_level, Tlp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Report routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/reports", get(list).post(submit))
        .route("/api/reports/{id}", get(get_report))
        .route("/api/reports/{id}/bundle", get(get_bundle))
}

/// What a submission stored.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submitted {
    /// Report id (the incident id; the bundle id for raw bundles).
    pub id: String,
    /// Collection it went to.
    pub collection: String,
    /// Title.
    pub title: String,
    /// TLP label.
    pub tlp: String,
    /// Resolved actor name.
    pub actor: Option<String>,
    /// The actor's STIX type (`threat-actor`, `intrusion-set`).
    pub actor_type: Option<String>,
    /// Whether the actor was found in the MISP galaxy.
    pub actor_from_galaxy: bool,
    /// Objects stored (new or already present).
    pub objects: usize,
    /// Objects this node signed.
    pub signed: usize,
    /// The node's key id.
    pub key_id: String,
}

/// A list of reports.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportList {
    /// Reports, newest first.
    pub reports: Vec<ReportRecord>,
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid Report", msg)
}

fn org_identity(o: &crate::store::Org) -> OrgIdentity {
    OrgIdentity {
        id: o.identity_id.clone(),
        name: o.name.clone(),
        kind: o.kind.clone(),
    }
}

/// Submits a report.
#[utoipa::path(post, path = "/api/reports", tag = "reports",
    request_body(content = Object, content_type = "application/json",
        description = "Friendly theft report {victim, chain, time, stolen_outputs, attacker_addresses, ttps, attribution {actor, confidence}, tlp, recipients, collection} or a STIX 2.1 bundle"),
    responses((status = 201, description = "Stored", body = Submitted), (status = 400, description = "Malformed JSON"), (status = 401, description = "No credentials"),
              (status = 403, description = "Not allowed to write"), (status = 404, description = "Unknown collection"), (status = 413, description = "Body too large"),
              (status = 415, description = "Not JSON"), (status = 422, description = "Invalid report or STIX, with the reason")),
    security(("bearer" = []), ("basic" = [])))]
pub async fn submit(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let p = caller(&st, &headers).await?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(media == "application/json" || media == "application/stix+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "Content-Type must be application/json",
        ));
    }
    let body = body.map_err(|r| ApiError::new(r.status(), "Bad Body", r.body_text()))?;
    let Some(pr) = p else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "submitting needs credentials",
        ));
    };
    if pr.role == Role::Reader {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "readers cannot submit reports",
        ));
    }
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            format!("malformed JSON: {e}"),
        )
    })?;
    let is_bundle = doc.get("type").and_then(Value::as_str) == Some("bundle");
    let wanted = q
        .iter()
        .find(|(k, _)| k == "collection")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            doc.get("collection")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| st.node.community_collection.clone());
    let col = match st.node.store.collection(&wanted).await? {
        Some(c) if c.can_read(Some(&pr)) => c,
        _ => return Err(ApiError::not_found("collection")),
    };
    if !col.can_write(Some(&pr)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "no write access to this collection",
        ));
    }
    let reporter_org = st
        .node
        .store
        .org(&pr.org)
        .await?
        .ok_or_else(|| ApiError::not_found("organisation"))?;
    let reporter = org_identity(&reporter_org);
    let now = stix::now_timestamp();

    let mut theft_ext = Value::Null;
    let (mut objects, own, record_base): (Vec<Value>, Vec<String>, ReportRecord) = if is_bundle {
        let objs = stix::bundle_objects(&doc).map_err(|e| unprocessable(e.to_string()))?;
        if objs.is_empty() {
            return Err(unprocessable("the bundle has no objects"));
        }
        let bundle_id = doc["id"].as_str().unwrap_or_default().to_string();
        let level = objs.iter().map(effective_level).max().unwrap_or(Tlp::Green);
        let title = objs
            .iter()
            .find(|o| matches!(o["type"].as_str(), Some("report" | "incident")))
            .and_then(|o| o["name"].as_str())
            .unwrap_or("STIX bundle")
            .to_string();
        let own: Vec<String> = objs
            .iter()
            .filter(|o| {
                o.get(chainwatch_intel::signing::SIGNATURE_PROPERTY)
                    .is_none()
            })
            .filter(|o| {
                !matches!(
                    o["type"].as_str(),
                    Some("marking-definition" | "extension-definition")
                )
            })
            .filter_map(|o| o["id"].as_str().map(str::to_string))
            .collect();
        let rec = ReportRecord {
            id: bundle_id,
            collection: col.id.clone(),
            title,
            tlp: level,
            author_org: pr.org_id,
            author: pr.org.clone(),
            recipients: Vec::new(),
            actor: None,
            created: now.clone(),
            summary: json!({"objects": objs.len(), "kind": "bundle"}),
        };
        (objs.clone(), own, rec)
    } else {
        let report: TheftReport = serde_json::from_value(doc)
            .map_err(|e| unprocessable(format!("not a theft report: {e}")))?;
        let mut recipients = Vec::new();
        for r in &report.recipients {
            match st.node.store.org(r).await? {
                Some(o) => recipients.push(org_identity(&o)),
                None => {
                    return Err(unprocessable(format!(
                        "unknown recipient organisation {r:?}"
                    )))
                }
            }
        }
        let victim_org = st
            .node
            .store
            .org(report.victim.name())
            .await?
            .map(|o| org_identity(&o));
        let mapped = map_report(
            &report,
            &MapContext {
                reporter: &reporter,
                recipients: &recipients,
                victim_org: victim_org.as_ref(),
                now: now.clone(),
                resolver: st.node.actors.as_ref(),
            },
        )
        .map_err(|e| unprocessable(e.to_string()))?;
        let inc = mapped.bundle["objects"]
            .as_array()
            .and_then(|a| a.iter().find(|o| o["type"] == "incident"))
            .map(|o| o["extensions"][THEFT_EXTENSION_ID].clone())
            .unwrap_or_default();
        theft_ext = inc.clone();
        let rec = ReportRecord {
            id: mapped.incident_id.clone(),
            collection: col.id.clone(),
            title: mapped.title.clone(),
            tlp: mapped.level,
            author_org: pr.org_id,
            author: pr.org.clone(),
            recipients: Vec::new(),
            actor: mapped.actor.as_ref().map(|a| a.name.clone()),
            created: now.clone(),
            summary: json!({
                "kind": "theft", "victim": report.victim.name(), "chain": inc["chain"],
                "occurred": inc["occurred"], "stolen_total_sats": inc["stolen_total_sats"],
                "stolen_outputs": inc["stolen_outputs"].as_array().map_or(0, Vec::len),
                "attacker_addresses": inc["attacker_addresses"],
                "actor": mapped.actor, "recipients": report.recipients,
            }),
        };
        let objs = mapped.bundle["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (objs, mapped.own, rec)
    };
    let mut signed = 0;
    for o in &mut objects {
        if o["id"]
            .as_str()
            .is_some_and(|id| own.iter().any(|x| x == id))
        {
            st.node.key.sign_object(o, &st.node.identity);
            signed += 1;
        }
    }
    let prepared = prepare_objects(&st, &objects).await.map_err(|mut e| {
        e.taxii = false;
        e
    })?;
    let mut record = record_base;
    // The report row is as restricted as its most restricted object, for the recipients
    // named on the objects at that level.
    let top = prepared.iter().map(|o| o.tlp).max().unwrap_or(record.tlp);
    record.tlp = top.max(record.tlp);
    let mut rec_ids: Vec<i64> = prepared
        .iter()
        .filter(|o| o.tlp == record.tlp)
        .flat_map(|o| o.recipients.iter().copied())
        .collect();
    rec_ids.sort_unstable();
    rec_ids.dedup();
    record.recipients = rec_ids;
    let n = prepared.len();
    let detail = json!({"objects": n, "tlp": record.tlp.label(), "collection": col.id,
                        "recipients": record.recipients, "signed": signed});
    let actor_info = if is_bundle {
        (None, None, false)
    } else {
        let a = objects
            .iter()
            .find(|o| matches!(o["type"].as_str(), Some("threat-actor" | "intrusion-set")));
        (
            record.actor.clone(),
            a.and_then(|a| a["type"].as_str().map(str::to_string)),
            a.is_some_and(|a| a.get("created_by_ref").is_none()),
        )
    };
    let id = record.id.clone();
    let title = record.title.clone();
    let tlp = record.tlp;
    let job = (!theft_ext.is_null())
        .then(|| crate::watch::Job::for_report(&record, theft_ext.clone(), pr.communities.clone()));
    st.node
        .store
        .add_objects(
            &col.id,
            pr.org_id,
            prepared,
            Some(record),
            event(Some(&pr), "report.submit", &id, detail),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Exists(m) => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", m)
            }
            o => o.into(),
        })?;
    if let Some(job) = job {
        st.watch.submit(job);
    }
    let out = Submitted {
        id,
        collection: col.id,
        title,
        tlp: tlp.label().to_string(),
        actor: actor_info.0,
        actor_type: actor_info.1,
        actor_from_galaxy: actor_info.2,
        objects: n,
        signed,
        key_id: st.node.key.key_id(),
    };
    let _ = RECIPIENTS_PROPERTY;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// List query.
#[derive(Deserialize)]
pub struct ListQuery {
    /// Text to search in titles, actors and summaries (addresses, victims, chains).
    q: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

async fn audit_report_read(
    st: &Shared,
    p: Option<&crate::store::Principal>,
    reps: &[&ReportRecord],
    action: &str,
) -> Result<(), ApiError> {
    let sensitive: Vec<&str> = reps
        .iter()
        .filter(|r| read_is_audited(r.tlp))
        .map(|r| r.id.as_str())
        .collect();
    if !sensitive.is_empty() {
        st.node
            .store
            .audit(event(p, action, "reports", json!({"reports": sensitive})))
            .await?;
    }
    Ok(())
}

/// Lists and searches reports the caller may see.
#[utoipa::path(get, path = "/api/reports", tag = "reports",
    params(("q" = Option<String>, Query, description = "search text"), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "Reports", body = ReportList)))]
pub async fn list(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<ReportList>, ApiError> {
    let p = caller(&st, &headers).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let reports = st
        .node
        .store
        .reports(p.as_ref().map(|p| p.reader()), q.q, limit)
        .await?;
    audit_report_read(
        &st,
        p.as_ref(),
        &reports.iter().collect::<Vec<_>>(),
        "report.list",
    )
    .await?;
    Ok(Json(ReportList { reports }))
}

async fn visible_report(
    st: &Shared,
    headers: &HeaderMap,
    id: &str,
) -> Result<(Option<crate::store::Principal>, ReportRecord, Value), ApiError> {
    let p = caller(st, headers).await?;
    let reader = p.as_ref().map(|p| p.reader());
    let rep = st
        .node
        .store
        .report(id, reader.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("report"))?;
    let objs = st.node.store.report_objects(id, reader).await?;
    let objects: Vec<Value> = objs
        .iter()
        .filter_map(|o| serde_json::from_str(&o.body).ok())
        .collect();
    let bundle = json!({"type": "bundle", "id": format!("bundle--{}", uuid::Uuid::new_v4()), "objects": objects});
    audit_report_read(st, p.as_ref(), &[&rep], "report.read").await?;
    Ok((p, rep, bundle))
}

/// One report with its bundle.
#[utoipa::path(get, path = "/api/reports/{id}", tag = "reports", params(("id" = String, Path)),
    responses((status = 200, description = "{report, bundle}"), (status = 404, description = "Unknown report")))]
pub async fn get_report(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, rep, bundle) = visible_report(&st, &headers, &id).await?;
    Ok(Json(json!({"report": rep, "bundle": bundle})))
}

/// A report as a STIX 2.1 bundle (the objects the caller may see).
#[utoipa::path(get, path = "/api/reports/{id}/bundle", tag = "reports", params(("id" = String, Path)),
    responses((status = 200, description = "STIX bundle", content_type = "application/stix+json;version=2.1"), (status = 404, description = "Unknown report")))]
pub async fn get_bundle(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, _, bundle) = visible_report(&st, &headers, &id).await?;
    let mut r = bundle.to_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/stix+json;version=2.1"),
    );
    Ok(r)
}
