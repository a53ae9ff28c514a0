//! A small HTTP client for a chainwatch server: submit a report.

use serde_json::Value;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot reach {url}: {message}")]
    Connect {
        /// URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The server refused the request.
    #[error("server answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's reason.
        message: String,
    },
}

/// Submits a report file's JSON (friendly report or STIX bundle) to `server`
/// (`http://host:port`) with a bearer token; returns the server's answer.
pub async fn submit_report(
    server: &str,
    token: &str,
    report: &Value,
) -> Result<Value, ClientError> {
    let url = format!("{}/api/reports", server.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(report)
        .send()
        .await
        .map_err(|e| ClientError::Connect {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        Ok(body)
    } else {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}
