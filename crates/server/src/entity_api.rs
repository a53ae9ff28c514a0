//! `/api/entities/{address}` (or `cluster:ID`): the entity (cluster) of an address as the investigation UI
//! shows it — cluster id, tags with confidence and source (direct or inherited through
//! the cluster), conflicting labels, member addresses — and
//! `/api/entities/{address}/why/{other}`: the chain of txs that put two addresses in one
//! cluster. Thin over `chainwatch-forensics` (`ClusterStore`, `labels`, `explain::why`).

use crate::api::{caller, ApiError, Shared};
use crate::watch::View;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chainwatch_forensics::explain;
use chainwatch_forensics::labels::Labels;
use chainwatch_types::AddrKey;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Most member addresses listed per entity unless `?limit=` asks for more.
pub const DEFAULT_MEMBERS: usize = 200;

/// Entity routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/entities/{address}", get(entity))
        .route("/api/entities/{address}/why/{other}", get(why))
}

#[derive(Deserialize)]
pub(crate) struct EntityQuery {
    limit: Option<usize>,
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "No Chain",
        "no chain is ingested",
    )
}

async fn signed_in(st: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    caller(st, headers).await?.map(|_| ()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "this needs credentials",
        )
    })
}

/// An address, or `cluster:ID` (a cluster id is the smallest address id of its cluster).
fn addr_id(view: &View, addr: &str) -> Result<u32, ApiError> {
    if let Some(id) = addr
        .strip_prefix("cluster:")
        .and_then(|i| i.parse::<u32>().ok())
    {
        if (id as usize) < view.store.addr_kind.len() {
            return Ok(id);
        }
        return Err(ApiError::not_found("cluster"));
    }
    let chain = view.store.chain();
    let key = AddrKey::parse(addr.trim(), chain).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid Address",
            format!("{addr:?} is not a {chain} address: {e}"),
        )
    })?;
    view.store
        .addr_id(&key)
        .ok_or_else(|| ApiError::not_found("address on the stored chain"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Error",
            e.to_string(),
        )
    })?
}

/// The entity of an address.
#[utoipa::path(get, path = "/api/entities/{address}", tag = "entities", params(("address" = String, Path), ("limit" = Option<usize>, Query, description = "Members listed")),
    responses((status = 200, description = "Cluster, size, tags, label conflicts, members"), (status = 401, description = "No credentials"), (status = 404, description = "Address not on the chain"), (status = 422, description = "Not a valid address"), (status = 503, description = "No chain ingested")))]
pub(crate) async fn entity(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path(address): Path<String>,
    Query(q): Query<EntityQuery>,
) -> Result<Json<Value>, ApiError> {
    signed_in(&st, &headers).await?;
    let view = st.watch.view().ok_or_else(unavailable)?;
    let limit = q.limit.unwrap_or(DEFAULT_MEMBERS).clamp(1, 10_000);
    blocking(move || describe(&view, &address, limit))
        .await
        .map(Json)
}

fn describe(view: &Arc<View>, address: &str, limit: usize) -> Result<Value, ApiError> {
    let id = addr_id(view, address)?;
    let store = &view.store;
    let chain = store.chain();
    let (cluster, members) = match &view.clusters {
        Some(c) => (c.cluster_of(id), c.members(c.cluster_of(id))),
        None => (id, vec![id]),
    };
    let values = store.values();
    let received = |a: u32| -> u64 {
        view.outputs
            .of(a)
            .iter()
            .map(|&o| values.try_get(o).unwrap_or(0))
            .sum()
    };
    let total_received: u64 = members.iter().map(|&a| received(a)).sum();
    let member_set: std::collections::HashSet<u32> = members.iter().copied().collect();
    let labels = view
        .tags
        .as_ref()
        .map(|t| Labels::from_tags(t, store))
        .unwrap_or_default();
    let mut tags: Vec<Value> = labels
        .tagged
        .iter()
        .filter(|(a, _)| member_set.contains(a))
        .map(|(a, t)| {
            json!({
                "address": store.addr_key(*a).display(chain),
                "direct": *a == id,
                "label": t.label,
                "category": t.category,
                "actor": t.actor,
                "confidence": t.confidence,
                "source": t.source,
            })
        })
        .collect();
    tags.sort_by(|a, b| {
        b["direct"]
            .as_bool()
            .cmp(&a["direct"].as_bool())
            .then(b["confidence"].as_u64().cmp(&a["confidence"].as_u64()))
            .then(a["label"].as_str().cmp(&b["label"].as_str()))
    });
    let conflicts = chainwatch_forensics::labels::label_conflicts(
        tags.iter().filter_map(|t| t["label"].as_str()),
    );
    let service = view.services.get(&cluster);
    let listed: Vec<Value> = members
        .iter()
        .take(limit)
        .map(|&a| {
            json!({
                "address": store.addr_key(a).display(chain),
                "received": received(a),
                "outputs": view.outputs.of(a).len(),
            })
        })
        .collect();
    Ok(json!({
        "address": store.addr_key(id).display(chain),
        "chain": chain.name(),
        "addr_id": id,
        "cluster_id": cluster,
        "clustered": view.clusters.is_some(),
        "label": service.map(|s| s.label.clone()),
        "category": service.map(|s| s.category.clone()),
        "address_count": members.len(),
        "total_received": total_received,
        "tags": tags,
        "conflicts": conflicts,
        "addresses": listed,
        "addresses_truncated": members.len() > limit,
    }))
}

/// Why two addresses are one entity.
#[utoipa::path(get, path = "/api/entities/{address}/why/{other}", tag = "entities", params(("address" = String, Path), ("other" = String, Path)),
    responses((status = 200, description = "The chain of co-spending transactions that joins them"), (status = 401, description = "No credentials"), (status = 404, description = "Address not on the chain"), (status = 422, description = "Not a valid address"), (status = 503, description = "No chain ingested")))]
pub(crate) async fn why(
    State(st): State<Shared>,
    headers: HeaderMap,
    Path((address, other)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    signed_in(&st, &headers).await?;
    let view = st.watch.view().ok_or_else(unavailable)?;
    blocking(move || {
        let a = addr_id(&view, &address)?;
        let b = addr_id(&view, &other)?;
        let clusters = view.clusters.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not Clustered",
                "run `chainwatch cluster` first",
            )
        })?;
        let w = explain::why(&view.store, clusters, &view.outputs, a, b);
        serde_json::to_value(&w).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Error",
                e.to_string(),
            )
        })
    })
    .await
    .map(Json)
}
