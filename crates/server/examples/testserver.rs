//! Test-only server: sets up a node (organisation, user, token; optional MISP galaxy),
//! prints the credentials as one JSON line, then serves until killed.
//!
//! `cargo run --release -p chainwatch-server --example testserver -- --data DIR [--listen 127.0.0.1:0] [--galaxy DIR] [--tls-cert PEM --tls-key PEM]`

#![allow(clippy::print_stdout)]

/// The allocator the `chainwatch` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chainwatch_server::store::Role;
use chainwatch_server::{Node, ServerConfig};
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = None;
    let mut listen = "127.0.0.1:0".to_string();
    let mut galaxy = None;
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next(),
            "--listen" => listen = args.next().ok_or("--listen needs a value")?,
            "--galaxy" => galaxy = args.next(),
            "--tls-cert" => tls_cert = args.next(),
            "--tls-key" => tls_key = args.next(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let data = data.ok_or("--data DIR is required")?;
    chainwatch_server::init_logging(false);
    let mut node = Node::open(std::path::Path::new(&data)).await?;
    if let Some(g) = galaxy {
        node.import_tags(&[std::path::PathBuf::from(g)])?;
    }
    let org = node.create_org("py-org", "fiu", &[], None).await?;
    let (user, password) = node
        .create_user(&org.name, "py-user", Role::Analyst, None)
        .await?;
    let (_, token) = node.create_token(&user.name, Some("python")).await?;
    let other = node.create_org("py-other", "agency", &[], None).await?;
    let (other_user, other_password) = node
        .create_user(&other.name, "py-other-user", Role::Analyst, None)
        .await?;
    let collection = node.community_collection.clone();
    let running = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => {
            let tls = chainwatch_server::tls::server_config(cert.as_ref(), key.as_ref())?;
            chainwatch_server::spawn_tls(node, ServerConfig::default(), listen.parse()?, tls)
                .await?
        }
        (None, None) => {
            chainwatch_server::spawn(node, ServerConfig::default(), listen.parse()?).await?
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let line = serde_json::json!({
        "url": running.url(), "user": user.name, "password": password, "token": token,
        "other_user": other_user.name, "other_password": other_password,
        "collection": collection, "org": org.name, "org_identity": org.identity_id,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    running.stop();
    Ok(())
}
