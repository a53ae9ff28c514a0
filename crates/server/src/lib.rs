//! The chainwatch exchange server: TAXII 2.1 and REST over STIX 2.1 theft reports, with
//! TLP 2.0 access control, signed reports, a hash-chained audit log, OpenAPI, metrics.
//!
//! * [`node::Node`] opens a data directory (`DATA/intel.sqlite`, `DATA/node.key`,
//!   `DATA/tags/`) and carries the administrative operations.
//! * [`store::IntelStore`] is the one persistence interface; [`sqlite::SqliteStore`]
//!   implements it.
//! * [`api::router`] is the axum application; [`serve`] runs it; [`spawn`] runs it on a
//!   background task (tests, benches, embedding).
//! * [`ui`] serves the investigation UI (`web/dist`, embedded) at `/`; [`entity_api`]
//!   answers what the UI's entity page asks.
//! * [`client`] submits reports to a server; [`bench`] compares TAXII throughput with
//!   the reference implementation (medallion).

pub mod api;
pub mod auth;
pub mod bench;
pub mod client;
pub mod entity_api;
pub mod id_index;
pub mod node;
pub mod pending;
pub mod reports;
pub mod sqlite;
pub mod store;
pub mod taxii_api;
pub mod tls;
pub mod ui;
pub mod watch;
pub mod watch_api;

pub use api::{AppState, ServerConfig};
pub use node::{Node, NodeError};

use std::net::SocketAddr;
use std::sync::Arc;

/// Builds the shared state of a node.
pub fn state(node: Node, config: ServerConfig) -> api::Shared {
    let watch = watch::Watch::new(&node.data_dir, node.store.clone(), config.watch.clone());
    Arc::new(AppState {
        watch,
        node,
        auth: auth::Authenticator::default(),
        config,
        metrics: api::metrics_handle(),
        pending: pending::PendingWrites::default(),
    })
}

/// Serves until Ctrl-C / SIGTERM (requests in flight then finish): HTTPS with `tls`
/// (see [`tls::server_config`]), plain HTTP without.
pub async fn serve(
    node: Node,
    config: ServerConfig,
    listen: SocketAddr,
    tls: Option<Arc<tls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut running = start(node, config, listen, tls, shutdown_signal()).await?;
    tracing::info!(address = %running.addr, scheme = running.scheme, "chainwatch serving");
    let served = (&mut running.task)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    running.state.watch.stop();
    // Writes answered early (`Prefer: respond-async`) still commit before the process ends.
    if running.state.pending.queued() {
        tracing::info!("committing the queued TAXII writes");
    }
    running.state.pending.drained().await;
    served
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// A server running on a background task.
pub struct Running {
    /// Its address.
    pub addr: SocketAddr,
    /// `https` or `http`.
    scheme: &'static str,
    /// Its state.
    pub state: api::Shared,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://ADDR`, or `https://ADDR` for a server started with [`spawn_tls`].
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops the server and its background work (connections still open end when their
    /// clients close them).
    pub fn stop(self) {
        self.task.abort();
        self.state.watch.stop();
    }
}

/// Starts a server on `listen` (port 0 picks a free port) on the current runtime.
pub async fn spawn(
    node: Node,
    config: ServerConfig,
    listen: SocketAddr,
) -> std::io::Result<Running> {
    start(node, config, listen, None, std::future::pending()).await
}

/// [`spawn`], serving HTTPS with `tls`.
pub async fn spawn_tls(
    node: Node,
    config: ServerConfig,
    listen: SocketAddr,
    tls: Arc<tls::ServerConfig>,
) -> std::io::Result<Running> {
    start(node, config, listen, Some(tls), std::future::pending()).await
}

/// Binds `listen` and serves on a task of its own until `shutdown` completes.
async fn start(
    node: Node,
    config: ServerConfig,
    listen: SocketAddr,
    tls: Option<Arc<tls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Running> {
    let config = ServerConfig {
        https: config.https || tls.is_some(),
        ..config
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let st = state(node, config);
    st.watch.start();
    let app = api::router(st.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls)?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }),
    };
    Ok(Running {
        addr,
        scheme,
        state: st,
        task,
    })
}

/// Installs the global `tracing` subscriber: JSON lines when `json`, text otherwise;
/// level from `RUST_LOG` (default `info`). Safe to call twice.
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}
