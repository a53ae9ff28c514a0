//! A small HTTP(S) client for a chainwatch server: submit a report.

use serde_json::Value;
use std::path::Path;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA certificate file could not be used.
    #[error("CA certificate {path}: {message}")]
    CaCert {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The HTTP client could not be set up (TLS back end).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
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

/// An HTTP client that trusts the system's certificate authorities and, when given,
/// the PEM certificates in `ca_cert` (a private CA, or a server's self-signed certificate).
pub fn http_client(ca_cert: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder();
    if let Some(path) = ca_cert {
        let ca_error = |message: String| ClientError::CaCert {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ca_error(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ca_error("no CERTIFICATE in the file".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| ClientError::Setup(e.to_string()))
}

/// The reason of a failed request, with its causes (the TLS or connection error under
/// reqwest's "error sending request").
fn reason(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Submits a report file's JSON (friendly report or STIX bundle) to `server`
/// (`http://host:port` or `https://host:port`) with a bearer token, trusting `ca_cert`
/// besides the system's authorities; returns the server's answer.
pub async fn submit_report(
    server: &str,
    token: &str,
    report: &Value,
    ca_cert: Option<&Path>,
) -> Result<Value, ClientError> {
    let url = format!("{}/api/reports", server.trim_end_matches('/'));
    let resp = http_client(ca_cert)?
        .post(&url)
        .bearer_auth(token)
        .json(report)
        .send()
        .await
        .map_err(|e| ClientError::Connect {
            url: url.clone(),
            message: reason(&e),
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
