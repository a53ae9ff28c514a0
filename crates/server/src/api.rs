//! The HTTP application: shared state, errors, the router with its layers (body limit,
//! tracing, metrics), OpenAPI and Swagger UI, metrics and node endpoints.

use crate::auth::{AuthError, Authenticator};
use crate::node::Node;
use crate::store::{Principal, StoreError};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chainwatch_intel::audit::AuditEvent;
use chainwatch_intel::taxii::MEDIA_TYPE_TAXII;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use utoipa::OpenApi;

/// Limits and defaults of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request body, bytes (413 above).
    pub max_body: usize,
    /// Largest page (`limit` is capped here).
    pub max_page: usize,
    /// Page size without `limit`.
    pub default_page: usize,
    /// Background tracing, alerts, screening.
    pub watch: crate::watch::WatchConfig,
    /// Whether clients reach the server over HTTPS: the TAXII discovery resource names its
    /// API root with it. A node that serves TLS itself sets it ([`crate::serve`] with a
    /// certificate, [`crate::spawn_tls`]); set it for a node behind a proxy that ends TLS.
    pub https: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: 10 << 20,
            max_page: 1000,
            default_page: 100,
            watch: crate::watch::WatchConfig::default(),
            https: false,
        }
    }
}

/// State shared by the handlers.
pub struct AppState {
    /// Background traces, alerts, screening.
    pub watch: std::sync::Arc<crate::watch::Watch>,
    /// The node.
    pub node: Node,
    /// Credential checks.
    pub auth: Authenticator,
    /// Limits.
    pub config: ServerConfig,
    /// Prometheus renderer.
    pub metrics: PrometheusHandle,
    /// TAXII writes answered before their commit (`Prefer: respond-async`).
    pub pending: crate::pending::PendingWrites,
}

/// Handle to the state.
pub type Shared = Arc<AppState>;

/// An error answer: TAXII error resource on TAXII endpoints, `{"error", "status"}` JSON
/// elsewhere.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short title.
    pub title: String,
    /// What went wrong.
    pub description: String,
    /// Render as a TAXII error resource.
    pub taxii: bool,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, title: &str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            title: title.to_string(),
            description: description.into(),
            taxii: false,
        }
    }

    /// 404 with the standard wording: never says whether something hidden exists.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("no such {what}"),
        )
    }

    /// Marks the error as a TAXII one.
    pub fn taxii(mut self) -> Self {
        self.taxii = true;
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Error",
            "the store failed; see the server log",
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(s) => s.into(),
            other => ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (body, ct) = if self.taxii {
            (
                json!({"title": self.title, "description": self.description,
                       "http_status": self.status.as_u16().to_string()}),
                MEDIA_TYPE_TAXII,
            )
        } else {
            (
                json!({"error": self.description, "title": self.title, "status": self.status.as_u16()}),
                "application/json",
            )
        };
        let mut r = (self.status, body.to_string()).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"chainwatch\", Bearer"),
            );
        }
        r
    }
}

/// The caller of a request (`None`: anonymous); bad credentials are a 401.
pub async fn caller(st: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| AuthError::Malformed))
        .transpose()?;
    Ok(st.auth.principal(st.node.store.as_ref(), h).await?)
}

/// An audit event for a caller.
pub fn event(
    p: Option<&Principal>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        actor: p.map_or_else(|| "anonymous".to_string(), |p| p.user.clone()),
        org: p.map(|p| p.org.clone()),
        action: action.into(),
        target: target.into(),
        detail,
    }
}

/// The process-wide Prometheus recorder.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (embedding application): then
            // our handle renders an empty page rather than failing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("chainwatch_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("chainwatch_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics_endpoint(State(st): State<Shared>) -> Response {
    if let Some((rows, bytes)) = st.node.store.id_index_size() {
        metrics::gauge!("chainwatch_id_index_rows").set(rows as f64);
        metrics::gauge!("chainwatch_id_index_bytes").set(bytes as f64);
    }
    let mut r = st.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// The node's public identity and signing key.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NodeInfo {
    /// STIX identity id of the node (signer of its reports).
    pub identity: String,
    /// Ed25519 key id of the node's signatures.
    pub key_id: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// The community collection's id.
    pub community_collection: String,
    /// TAXII discovery URL path.
    pub taxii_discovery: String,
}

#[utoipa::path(get, path = "/api/node", tag = "ops",
    responses((status = 200, description = "Node identity and signing key", body = NodeInfo)))]
async fn node_info(State(st): State<Shared>) -> Json<NodeInfo> {
    Json(NodeInfo {
        identity: st.node.identity.clone(),
        key_id: st.node.key.key_id(),
        public_key: st.node.key.public_key(),
        community_collection: st.node.community_collection.clone(),
        taxii_discovery: "/taxii2/".into(),
    })
}

/// Liveness: `ok`.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "chainwatch exchange", description = "Theft reports as STIX 2.1 over TAXII 2.1 with TLP 2.0 access control. TAXII endpoints use application/taxii+json;version=2.1."),
    paths(
        metrics_endpoint,
        node_info,
        crate::reports::submit,
        crate::reports::list,
        crate::reports::get_report,
        crate::reports::get_bundle,
        crate::taxii_api::discovery,
        crate::taxii_api::api_root,
        crate::taxii_api::status,
        crate::taxii_api::collections,
        crate::taxii_api::collection,
        crate::taxii_api::manifest,
        crate::taxii_api::get_objects,
        crate::taxii_api::add_objects,
        crate::taxii_api::get_object,
        crate::taxii_api::delete_object,
        crate::taxii_api::versions,
        healthz,
        crate::ui::me,
        crate::watch_api::report_trace,
        crate::watch_api::report_related,
        crate::watch_api::add_addresses,
        crate::watch_api::list_addresses,
        crate::watch_api::list_alerts,
        crate::watch_api::set_state,
        crate::watch_api::stream,
        crate::watch_api::create_webhook,
        crate::watch_api::list_webhooks,
        crate::watch_api::deliveries,
        crate::watch_api::screen,
        crate::entity_api::entity,
        crate::entity_api::why,
    ),
    components(schemas(NodeInfo, crate::store::ReportRecord, crate::reports::Submitted, crate::reports::ReportList)),
    modifiers(&Security),
    tags((name = "taxii", description = "TAXII 2.1"), (name = "reports", description = "Theft reports"), (name = "ops", description = "Operations"), (name = "watch", description = "Traces, registered addresses, alerts, webhooks, screening"), (name = "entities", description = "Address clusters"))
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The application router.
pub fn router(state: Shared) -> Router {
    let max_body = state.config.max_body;
    let swagger =
        utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/openapi.json", ApiDoc::openapi());
    Router::new()
        .merge(crate::taxii_api::routes())
        .merge(crate::reports::routes())
        .merge(crate::watch_api::routes())
        .merge(crate::entity_api::routes())
        .merge(crate::ui::routes())
        .route("/metrics", get(metrics_endpoint))
        .route("/api/node", get(node_info))
        .route("/healthz", get(healthz))
        .merge(swagger)
        .fallback(|| async { ApiError::not_found("resource") })
        .layer(axum::middleware::from_fn(track))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes declared with a literal path in this crate's sources (`.route("/p",
    /// get(a).post(b))`), with their methods.
    fn declared_routes() -> Vec<(String, Vec<&'static str>)> {
        let mut out = Vec::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for (at, _) in text.match_indices(".route(") {
                let rest = text[at + ".route(".len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"') else {
                    continue; // a path in a constant (the TAXII API root): not checked here
                };
                let Some(end) = literal.find('"') else {
                    continue;
                };
                let path = literal[..end].to_string();
                // The handlers, up to the parenthesis that closes `.route(`.
                let mut depth = 1;
                let mut args = String::new();
                for c in literal[end + 1..].chars() {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    if depth == 0 {
                        break;
                    }
                    args.push(c);
                }
                let methods = ["get", "post", "delete"]
                    .into_iter()
                    .filter(|m| {
                        args.match_indices(&format!("{m}(")).any(|(i, _)| {
                            i == 0
                                || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                        })
                    })
                    .collect();
                out.push((path, methods));
            }
        }
        out
    }

    #[test]
    fn every_api_route_is_in_the_openapi_document() {
        let doc = ApiDoc::openapi();
        let routes = declared_routes();
        assert!(routes.len() > 20, "the source scan found {routes:?}");
        let mut checked = 0;
        for (path, methods) in routes {
            let api = path.starts_with("/api/") || path.starts_with("/taxii2/");
            if !api && path != "/metrics" && path != "/healthz" {
                continue; // the UI's pages and assets
            }
            let item = doc
                .paths
                .paths
                .get(&path)
                .unwrap_or_else(|| panic!("{path} is served but not in /api/openapi.json"));
            assert!(!methods.is_empty(), "no method found for {path}");
            for m in methods {
                let op = match m {
                    "get" => &item.get,
                    "post" => &item.post,
                    _ => &item.delete,
                };
                assert!(op.is_some(), "{m} {path} is served but not documented");
                checked += 1;
            }
        }
        assert!(checked >= 30, "{checked} operations checked");
    }
}
