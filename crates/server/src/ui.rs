//! The investigation UI: the assets Vite builds into `web/dist` (committed, so building
//! the server needs no Node.js), embedded in the binary and served at `/` and `/assets/…`.
//! `GET /api/me` tells the UI who is signed in. The UI is a single page with hash routes (`#/reports/ID`), so no other path is needed.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::{ApiError, Shared};

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
struct Assets;

/// UI routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*path}", get(asset))
        .route("/api/me", get(me))
}

/// Who is signed in (the UI's header and its organisation-scoped pages).
#[utoipa::path(get, path = "/api/me", tag = "ops",
    responses((status = 200, description = "User, role, organisation"), (status = 401, description = "No credentials")))]
pub(crate) async fn me(
    axum::extract::State(st): axum::extract::State<Shared>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let p = crate::api::caller(&st, &headers).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "this needs credentials",
        )
    })?;
    Ok(axum::Json(serde_json::json!({
        "user": p.user, "role": p.role.name(), "org": p.org, "org_identity": p.org_identity,
    })))
}

/// The Content-Type of an asset by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, cache: &'static str) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::not_found("asset").into_response();
    };
    let mut r = (StatusCode::OK, file.data.into_owned()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn index() -> Response {
    serve("index.html", "no-cache")
}

/// Built assets carry a content hash in their names, so they never change.
async fn asset(Path(path): Path<String>) -> Response {
    serve(
        &format!("assets/{path}"),
        "public, max-age=31536000, immutable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_ui_is_embedded() {
        let index = Assets::get("index.html").expect("web/dist/index.html is committed");
        let text = String::from_utf8_lossy(&index.data);
        assert!(text.contains("/assets/"), "{text}");
        assert_eq!(
            content_type("assets/x.js"),
            "text/javascript; charset=utf-8"
        );
    }
}
