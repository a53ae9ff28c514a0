//! Routes of the watcher: report traces, registered addresses, alerts (inbox, SSE stream),
//! webhooks and their delivery log, screening. See [`crate::watch`] for the TLP rule.

use crate::api::{caller, ApiError, Shared};
use crate::store::Principal;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chainwatch_types::AddrKey;
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;

/// Most addresses per `POST /api/screen` or registration call.
pub const MAX_BATCH: usize = 10_000;

/// Watcher routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/reports/{id}/trace", get(report_trace))
        .route("/api/reports/{id}/related", get(report_related))
        .route(
            "/api/orgs/{org}/addresses",
            get(list_addresses).post(add_addresses),
        )
        .route("/api/alerts", get(list_alerts))
        .route("/api/alerts/stream", get(stream))
        .route("/api/alerts/{id}", post(set_state))
        .route("/api/webhooks", get(list_webhooks).post(create_webhook))
        .route("/api/webhooks/deliveries", get(deliveries))
        .route("/api/screen", post(screen))
}

async fn who(st: &Shared, headers: &HeaderMap) -> Result<Principal, ApiError> {
    caller(st, headers).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "this needs credentials",
        )
    })
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid Request", msg)
}

/// A report's trace: status, method, height, the trace; `reached` for the author only.
#[utoipa::path(get, path = "/api/reports/{id}/trace", tag = "watch", params(("id" = String, Path)),
    responses((status = 200, description = "OK"), (status = 401, description = "Invalid credentials"), (status = 404, description = "Unknown, or not visible to the caller")))]
pub(crate) async fn report_trace(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = caller(&st, &headers).await?;
    let rep = st
        .node
        .store
        .report(&id, p.as_ref().map(|p| p.reader()))
        .await?
        .ok_or_else(|| ApiError::not_found("report"))?;
    let Some(s) = st.watch.state(&id) else {
        return Ok(Json(json!({"report": id, "status": "none"})));
    };
    let mut v = serde_json::to_value(&s).unwrap_or_default();
    v["report"] = json!(id);
    if p.as_ref().is_some_and(|p| p.org_id == rep.author_org) {
        v["reached"] = json!(s.reached);
    }
    Ok(Json(v))
}

/// Reports correlated with `id` (shared address, tx or non-service cluster), only among those
/// the caller may read; 404 when the caller may not read `id` itself.
#[utoipa::path(get, path = "/api/reports/{id}/related", tag = "watch", params(("id" = String, Path)),
    responses((status = 200, description = "OK"), (status = 401, description = "Invalid credentials"), (status = 404, description = "Unknown, or not visible to the caller")))]
pub(crate) async fn report_related(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = caller(&st, &headers).await?;
    let reader = p.as_ref().map(|p| p.reader());
    st.node
        .store
        .report(&id, reader.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("report"))?;
    let visible = st.watch.visible_reports(reader.as_ref());
    let w = st.watch.clone();
    let related = tokio::task::spawn_blocking(move || w.related(&id, &|r| visible.contains(r)))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Error",
                e.to_string(),
            )
        })?;
    Ok(Json(
        json!({ "status": if related.is_some() { "done" } else { "pending" }, "related": related.unwrap_or_default() }),
    ))
}

/// Addresses to register: `{chain?, addresses: ["…" | {address, label}]}`.
#[derive(Deserialize)]
pub(crate) struct Register {
    chain: Option<String>,
    addresses: Vec<Value>,
}

async fn own_org(st: &Shared, headers: &HeaderMap, org: &str) -> Result<Principal, ApiError> {
    let p = who(st, headers).await?;
    if p.org != org && p.org_identity != org {
        return Err(ApiError::not_found("organisation"));
    }
    Ok(p)
}

/// Registers addresses of the caller's own organisation (up to 10,000 per call): alerts
/// go to the organisation whose addresses stolen funds reach.
#[utoipa::path(post, path = "/api/orgs/{org}/addresses", tag = "watch", params(("org" = String, Path)),
    request_body(content = Object, description = "{chain?, addresses: [address | {address, label}]}"),
    responses((status = 201, description = "Registered; invalid addresses listed in `errors` with the reasons"), (status = 401, description = "No credentials"), (status = 403, description = "Not the caller's organisation"), (status = 422, description = "Unknown chain, no chain to default to, or more than 10,000 addresses")))]
pub(crate) async fn add_addresses(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(org): Path<String>,
    Json(body): Json<Register>,
) -> Result<Response, ApiError> {
    let p = own_org(&st, &headers, &org).await?;
    if p.role == crate::store::Role::Reader {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "readers cannot register addresses",
        ));
    }
    if body.addresses.len() > MAX_BATCH {
        return Err(bad(format!("at most {MAX_BATCH} addresses per call")));
    }
    let chain = match (&body.chain, st.watch.view()) {
        (Some(c), _) => c
            .parse::<chainwatch_types::Chain>()
            .map_err(|_| bad(format!("unknown chain {c:?}")))?,
        (None, Some(v)) => v.store.chain(),
        (None, None) => return Err(bad("give `chain`: no chain is ingested")),
    };
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for a in &body.addresses {
        let (addr, label) = match a {
            Value::String(s) => (s.trim().to_string(), None),
            Value::Object(o) => (
                o.get("address")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                o.get("label").and_then(Value::as_str).map(str::to_string),
            ),
            _ => (String::new(), None),
        };
        match AddrKey::parse(&addr, chain) {
            Ok(_) => ok.push((addr, label)),
            Err(e) => errors.push(json!({"address": addr, "error": e.to_string()})),
        }
    }
    let added = st
        .node
        .store
        .add_org_addresses(p.org_id, chain.name(), ok)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"added": added, "errors": errors})),
    )
        .into_response())
}

/// The registered addresses of the caller's own organisation.
#[utoipa::path(get, path = "/api/orgs/{org}/addresses", tag = "watch", params(("org" = String, Path)),
    responses((status = 200, description = "Addresses"), (status = 401, description = "No credentials"), (status = 403, description = "Not the caller's organisation")))]
pub(crate) async fn list_addresses(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = own_org(&st, &headers, &org).await?;
    let rows = st.node.store.org_addresses(Some(p.org_id)).await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(_, c, a, l)| json!({"chain": c, "address": a, "label": l}))
        .collect();
    Ok(Json(json!({ "addresses": list })))
}

#[derive(Deserialize)]
pub(crate) struct AlertQuery {
    state: Option<String>,
    limit: Option<usize>,
}

/// The caller's organisation's alerts, newest first.
#[utoipa::path(get, path = "/api/alerts", tag = "watch",
    params(("state" = Option<String>, Query, description = "new | acknowledged | resolved"), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "Alerts"), (status = 401, description = "No credentials")))]
pub(crate) async fn list_alerts(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = who(&st, &headers).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let alerts = st.node.store.alerts(p.org_id, q.state, limit).await?;
    Ok(Json(json!({ "alerts": alerts })))
}

#[derive(Deserialize)]
pub(crate) struct StateChange {
    state: String,
}

/// Sets an alert's state.
#[utoipa::path(post, path = "/api/alerts/{id}", tag = "watch", params(("id" = i64, Path)),
    request_body(content = Object, description = "{state: new | acknowledged | resolved}"),
    responses((status = 200, description = "OK"), (status = 401, description = "No credentials"), (status = 404, description = "Unknown, or not visible to the caller"), (status = 422, description = "Not a state")))]
pub(crate) async fn set_state(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<StateChange>,
) -> Result<Json<Value>, ApiError> {
    let p = who(&st, &headers).await?;
    if !matches!(body.state.as_str(), "new" | "acknowledged" | "resolved") {
        return Err(bad("state is new, acknowledged or resolved"));
    }
    if !st
        .node
        .store
        .set_alert_state(p.org_id, id, &body.state)
        .await?
    {
        return Err(ApiError::not_found("alert"));
    }
    Ok(Json(json!({"id": id, "state": body.state})))
}

/// Server-sent events: one `alert` event per new or changed alert of the caller's org.
#[utoipa::path(get, path = "/api/alerts/stream", tag = "watch",
    responses((status = 200, description = "text/event-stream of `alert` events"), (status = 401, description = "No credentials")))]
pub(crate) async fn stream(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let p = who(&st, &headers).await?;
    let rx = st.watch.subscribe();
    let org = p.org_id;
    let s = futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(a) if a.org_id == org => {
                    let ev = Event::default()
                        .event("alert")
                        .id(a.id.to_string())
                        .data(serde_json::to_string(&a).unwrap_or_default());
                    return Some((Ok(ev), rx));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
pub(crate) struct NewWebhook {
    url: String,
}

/// Creates a webhook; the secret is generated here and shown once.
#[utoipa::path(post, path = "/api/webhooks", tag = "watch", request_body(content = Object, description = "{url}"),
    responses((status = 201, description = "The webhook with its one-time secret"), (status = 422, description = "Not an http(s) URL"), (status = 401, description = "No credentials"), (status = 403, description = "Readers cannot add webhooks")))]
pub(crate) async fn create_webhook(
    State(st): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<NewWebhook>,
) -> Result<Response, ApiError> {
    let p = who(&st, &headers).await?;
    if p.role == crate::store::Role::Reader {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "readers cannot add webhooks",
        ));
    }
    let url = body.url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
        return Err(bad("url must be http(s)://…"));
    }
    let secret = hex::encode(crate::auth::random_bytes::<32>());
    let rec = st.node.store.create_webhook(p.org_id, url, &secret).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": rec.id, "url": rec.url, "created": rec.created, "secret": secret,
                "signature": "X-Chainwatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>"}),
        ),
    )
        .into_response())
}

/// The caller's organisation's webhooks (without secrets).
#[utoipa::path(get, path = "/api/webhooks", tag = "watch",
    responses((status = 200, description = "Webhooks"), (status = 401, description = "No credentials")))]
pub(crate) async fn list_webhooks(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = who(&st, &headers).await?;
    let hooks: Vec<_> = st
        .node
        .store
        .webhooks(p.org_id)
        .await?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    Ok(Json(json!({ "webhooks": hooks })))
}

/// The latest webhook delivery attempts of the caller's organisation.
#[utoipa::path(get, path = "/api/webhooks/deliveries", tag = "watch",
    responses((status = 200, description = "Deliveries"), (status = 401, description = "No credentials")))]
pub(crate) async fn deliveries(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = who(&st, &headers).await?;
    let d = st.node.store.deliveries(p.org_id, 1000).await?;
    Ok(Json(json!({ "deliveries": d })))
}

#[derive(Deserialize)]
pub(crate) struct ScreenRequest {
    addresses: Vec<String>,
    max_hops: Option<u32>,
}

/// Screens up to 10,000 addresses; exposure only to reports the caller may read.
#[utoipa::path(post, path = "/api/screen", tag = "watch", request_body(content = Object, description = "{addresses: [..], max_hops?}"),
    responses((status = 200, description = "Per address: cluster, tags, exposure, risk and reasons"), (status = 401, description = "Invalid credentials"), (status = 422, description = "No addresses, or more than 10,000"), (status = 503, description = "No chain ingested")))]
pub(crate) async fn screen(
    State(st): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<ScreenRequest>,
) -> Result<Json<Value>, ApiError> {
    let p = caller(&st, &headers).await?;
    if body.addresses.is_empty() {
        return Err(bad("give one or more addresses"));
    }
    if body.addresses.len() > MAX_BATCH {
        return Err(bad(format!(
            "{} addresses: at most {MAX_BATCH} per call",
            body.addresses.len()
        )));
    }
    let reader = p.as_ref().map(|p| p.reader());
    let visible = st.watch.visible_reports(reader.as_ref());
    let max_hops = body.max_hops.unwrap_or(3).min(10);
    let w = st.watch.clone();
    let items = tokio::task::spawn_blocking(move || {
        w.screen(&body.addresses, max_hops, &|r| visible.contains(r))
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Error",
            e.to_string(),
        )
    })?
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "No Chain",
            "no chain is ingested",
        )
    })?;
    Ok(Json(json!({ "results": items })))
}
