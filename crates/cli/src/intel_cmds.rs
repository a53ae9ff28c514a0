//! The exchange commands: `serve`, `admin …` (organisations, communities, users, tokens,
//! collections, revocation), `report submit`, `verify`, `audit verify`, `bench taxii`.
//! Thin over `chainwatch-server`; with `--json` each admin command prints the created
//! record, one-time secret included, as one JSON object.

use crate::BadInput;
use anyhow::Context;
use chainwatch_server::store::Role;
use chainwatch_server::{Node, NodeError, ServerConfig};
use clap::Subcommand;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `chainwatch admin …`.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Organisations.
    Org {
        #[command(subcommand)]
        what: OrgCommand,
    },
    /// Communities (organisations in one read GREEN objects of each other).
    Community {
        #[command(subcommand)]
        what: CommunityCommand,
    },
    /// Users (HTTP Basic with name and password).
    User {
        #[command(subcommand)]
        what: UserCommand,
    },
    /// API tokens (Bearer).
    Token {
        #[command(subcommand)]
        what: TokenCommand,
    },
    /// TAXII collections.
    Collection {
        #[command(subcommand)]
        what: CollectionCommand,
    },
}

/// `admin org …`.
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation (member of the node's community unless --community is given).
    Create {
        /// Name.
        name: String,
        /// exchange | agency | fiu | vendor.
        #[arg(long, default_value = "exchange")]
        kind: String,
        /// Community to join instead of the node's (repeatable).
        #[arg(long)]
        community: Vec<String>,
        /// Organisation this one is a client of (TLP:AMBER reaches clients of recipients).
        #[arg(long)]
        client_of: Option<String>,
        /// Print the record as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `admin community …`.
#[derive(Subcommand)]
pub enum CommunityCommand {
    /// Create a community.
    Create {
        /// Name.
        name: String,
        /// Print the record as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `admin user …`.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a one-time password (only its argon2 hash is stored).
    Create {
        /// Organisation name.
        #[arg(long)]
        org: String,
        /// User name.
        #[arg(long)]
        name: String,
        /// admin | analyst | reader.
        #[arg(long, default_value = "analyst")]
        role: String,
        /// Print the record and password as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user: its password and tokens stop working at once.
    Revoke {
        /// User name.
        #[arg(long)]
        name: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `admin token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints it once (only its SHA-256 is stored).
    Create {
        /// User name.
        #[arg(long)]
        user: String,
        /// Label.
        #[arg(long)]
        label: Option<String>,
        /// Print the record and token as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id (from `token create`).
        id: i64,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `admin collection …`.
#[derive(Subcommand)]
pub enum CollectionCommand {
    /// Create a collection.
    Create {
        /// Title.
        #[arg(long)]
        title: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Community whose members read and write it.
        #[arg(long)]
        community: Option<String>,
        /// Anyone may read it (objects stay subject to TLP).
        #[arg(long)]
        public_read: bool,
        /// Grant an organisation access: ORG:r or ORG:rw (repeatable).
        #[arg(long)]
        grant: Vec<String>,
        /// Print the record as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `chainwatch report …`.
#[derive(Subcommand)]
pub enum ReportCommand {
    /// Submit a theft report (friendly JSON or a STIX bundle) to a server.
    Submit {
        /// The report file.
        file: PathBuf,
        /// Server URL (http://host:port or https://host:port).
        #[arg(
            long,
            env = "CHAINWATCH_SERVER",
            default_value = "http://127.0.0.1:8080"
        )]
        server: String,
        /// API token.
        #[arg(long, env = "CHAINWATCH_TOKEN")]
        token: String,
        /// PEM certificate(s) to trust besides the system's authorities (a private CA, or
        /// the server's own self-signed certificate).
        #[arg(long, env = "CHAINWATCH_CA_CERT")]
        ca_cert: Option<PathBuf>,
        /// Print the server's answer as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `chainwatch audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain and its signed head: detects edited or deleted rows.
    Verify {
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn node_err(e: NodeError) -> anyhow::Error {
    match e {
        NodeError::BadInput(m) => BadInput(m).into(),
        other => anyhow::Error::new(other),
    }
}

async fn open(data: &Path) -> anyhow::Result<Node> {
    Node::open(data)
        .await
        .map_err(node_err)
        .with_context(|| format!("cannot open the node in {}", data.display()))
}

#[allow(clippy::print_stdout)]
fn print(json_out: bool, v: &Value, human: &str) {
    if json_out {
        println!("{v}");
    } else {
        println!("{human}");
    }
}

/// `chainwatch serve [--listen ADDR] [--max-body BYTES] [--max-page N]
/// [--tls-cert C --tls-key K | --behind-https-proxy] [--log-json]`.
pub fn serve(
    data: &Path,
    listen: SocketAddr,
    max_body: usize,
    max_page: usize,
    tls: Option<(PathBuf, PathBuf)>,
    behind_https_proxy: bool,
    log_json: bool,
) -> anyhow::Result<()> {
    chainwatch_server::init_logging(log_json);
    let tls = match &tls {
        Some((cert, key)) => Some(
            chainwatch_server::tls::server_config(cert, key)
                .map_err(|e| BadInput(e.to_string()))?,
        ),
        None => None,
    };
    runtime()?.block_on(async {
        let node = open(data).await?;
        let config = ServerConfig {
            max_body,
            max_page: max_page.max(1),
            default_page: 100.min(max_page.max(1)),
            https: behind_https_proxy,
            ..Default::default()
        };
        chainwatch_server::serve(node, config, listen, tls)
            .await
            .with_context(|| format!("cannot serve on {listen}"))
    })
}

/// `chainwatch admin …`.
pub fn admin(data: &Path, cmd: AdminCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let node = open(data).await?;
        match cmd {
            AdminCommand::Org {
                what: OrgCommand::Create { name, kind, community, client_of, json },
            } => {
                let o = node
                    .create_org(&name, &kind, &community, client_of.as_deref())
                    .await
                    .map_err(node_err)?;
                let comms: Vec<&str> = o.communities.iter().map(|c| c.name.as_str()).collect();
                print(
                    json,
                    &serde_json::to_value(&o)?,
                    &format!("organisation {} ({}) id {} identity {} communities {}", o.name, o.kind, o.id, o.identity_id, comms.join(",")),
                );
            }
            AdminCommand::Community {
                what: CommunityCommand::Create { name, json },
            } => {
                let c = node.create_community(&name).await.map_err(node_err)?;
                print(json, &serde_json::to_value(&c)?, &format!("community {} id {}", c.name, c.id));
            }
            AdminCommand::User {
                what: UserCommand::Create { org, name, role, json },
            } => {
                let role = Role::parse(&role)
                    .ok_or_else(|| BadInput(format!("role {role:?} is not admin, analyst or reader")))?;
                let (u, password) = node.create_user(&org, &name, role, None).await.map_err(node_err)?;
                let mut v = serde_json::to_value(&u)?;
                v["password"] = json!(password);
                print(
                    json,
                    &v,
                    &format!("user {} ({}, {}) created\npassword {password}\n(shown once; only its argon2 hash is stored)", u.name, u.org, u.role.name()),
                );
            }
            AdminCommand::User {
                what: UserCommand::Revoke { name, json },
            } => {
                node.set_user_disabled(&name, true).await.map_err(node_err)?;
                print(json, &json!({"user": name, "revoked": true}), &format!("user {name} revoked"));
            }
            AdminCommand::Token {
                what: TokenCommand::Create { user, label, json },
            } => {
                let (t, token) = node.create_token(&user, label.as_deref()).await.map_err(node_err)?;
                let mut v = serde_json::to_value(&t)?;
                v["token"] = json!(token);
                print(
                    json,
                    &v,
                    &format!("token {} for {}\n{token}\n(shown once; only its SHA-256 is stored)", t.id, t.user),
                );
            }
            AdminCommand::Token {
                what: TokenCommand::Revoke { id, json },
            } => {
                node.revoke_token(id).await.map_err(node_err)?;
                print(json, &json!({"token_id": id, "revoked": true}), &format!("token {id} revoked"));
            }
            AdminCommand::Collection {
                what: CollectionCommand::Create { title, description, community, public_read, grant, json },
            } => {
                let mut grants = Vec::new();
                for g in &grant {
                    let (org, rights) = g
                        .rsplit_once(':')
                        .ok_or_else(|| BadInput(format!("--grant {g:?}: write ORG:r or ORG:rw")))?;
                    let (r, w) = match rights {
                        "r" => (true, false),
                        "rw" | "w" => (true, true),
                        _ => return Err(BadInput(format!("--grant {g:?}: rights must be r or rw")).into()),
                    };
                    grants.push((org.to_string(), r, w));
                }
                let c = node
                    .create_collection(&title, description.as_deref(), community.as_deref(), public_read, &grants)
                    .await
                    .map_err(node_err)?;
                print(json, &serde_json::to_value(&c)?, &format!("collection {} \"{}\"", c.id, c.title));
            }
        }
        Ok(())
    })
}

/// `chainwatch report submit FILE --server URL --token T`.
pub fn report(cmd: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Submit {
        file,
        server,
        token,
        ca_cert,
        json,
    } = cmd;
    let text =
        std::fs::read_to_string(&file).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| BadInput(format!("{}: not JSON: {e}", file.display())))?;
    let out = runtime()?.block_on(chainwatch_server::client::submit_report(
        &server,
        &token,
        &doc,
        ca_cert.as_deref(),
    ));
    match out {
        Ok(v) => {
            print(
                json,
                &v,
                &format!(
                    "report {} stored in collection {} ({}, {} objects, {} signed by {}){}",
                    v["id"].as_str().unwrap_or("?"),
                    v["collection"].as_str().unwrap_or("?"),
                    v["tlp"].as_str().unwrap_or("?"),
                    v["objects"],
                    v["signed"],
                    v["key_id"].as_str().unwrap_or("?"),
                    v["actor"]
                        .as_str()
                        .map(|a| format!("; actor {a}"))
                        .unwrap_or_default()
                ),
            );
            Ok(())
        }
        Err(chainwatch_server::client::ClientError::Refused { status, message })
            if (400..500).contains(&status) =>
        {
            Err(BadInput(format!("server refused the report ({status}): {message}")).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `chainwatch verify FILE`: checks the Ed25519 signatures of a bundle's objects.
/// Exit 0 when at least one object is signed and none fails, 1 otherwise, 2 on an
/// unreadable file.
pub fn verify(file: &Path, json_out: bool) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| BadInput(format!("{}: not JSON: {e}", file.display())))?;
    let v = chainwatch_intel::signing::verify_bundle(&doc);
    let mut human = format!(
        "{} signed object(s) verify, {} unsigned, {} fail",
        v.verified,
        v.unsigned,
        v.failures.len()
    );
    for k in &v.keys {
        human.push_str(&format!(
            "\nsigned by key {} ({})",
            k.key_id,
            k.signer.as_deref().unwrap_or("?")
        ));
    }
    for (id, why) in &v.failures {
        human.push_str(&format!("\nFAIL {id}: {why}"));
    }
    print(json_out, &json!({"ok": v.ok(), "verification": v}), &human);
    if v.ok() {
        Ok(())
    } else if v.failures.is_empty() {
        anyhow::bail!("{}: no signed object", file.display())
    } else {
        anyhow::bail!(
            "{}: {} signature(s) do not verify",
            file.display(),
            v.failures.len()
        )
    }
}

/// `chainwatch audit verify`.
pub fn audit(data: &Path, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { json: json_out } = cmd;
    let check = runtime()?.block_on(async {
        let node = open(data).await?;
        node.verify_audit().await.map_err(node_err)
    })?;
    let human = match (&check.error, &check.head) {
        (None, Some(h)) => format!(
            "audit log OK: {} entries, head {} {}",
            check.entries, h.seq, h.hash
        ),
        (None, None) => "audit log OK: empty".to_string(),
        (Some(e), _) => format!("audit log BROKEN: {e}"),
    };
    print(json_out, &serde_json::to_value(&check)?, &human);
    match check.error {
        None => Ok(()),
        Some(e) => anyhow::bail!("audit log verification failed: {e}"),
    }
}

/// `chainwatch bench taxii [--objects N] [--batch N] [--page N] [--python PY] [--json]`.
pub fn bench_taxii(
    objects: usize,
    batch: usize,
    page: usize,
    runs: usize,
    get: bool,
    python: Option<String>,
    json_out: bool,
) -> anyhow::Result<()> {
    if objects == 0 || batch == 0 || page == 0 || runs == 0 {
        return Err(
            BadInput("--objects, --batch, --page and --runs must be at least 1".into()).into(),
        );
    }
    let opts = chainwatch_server::bench::BenchOptions {
        objects,
        batch,
        page,
        runs,
        get,
        python,
    };
    let f = runtime()?.block_on(chainwatch_server::bench::run_taxii(&opts))?;
    let ratio = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{r:.0}x"));
    let m = f.medallion.clone().unwrap_or_default();
    let round = |v: &[f64], unit: f64| {
        v.iter()
            .map(|x| (x / unit * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    };
    let get_cell = |r: f64| {
        if get {
            format!("{r:.0}")
        } else {
            "n/a".to_string()
        }
    };
    let human = format!(
        "TAXII 2.1, {} objects, {} per POST, pages of {} (loopback); chainwatch: median of {} runs{}\n\
         POST: objects/s until every object is committed; \"async\": each POST asks \
         `Prefer: respond-async` (answered once validated, committed while the next is sent; \
         medallion ignores it), \"sync\": answered after its commit\n\
         {:<12} {:>14} {:>14} {:>14}\n\
         {:<12} {:>14.0} {:>14.0} {:>14}\n\
         {:<12} {:>14.0} {:>14.0} {:>14}\n\
         {:<12} {:>14} {:>14} {:>14}\n\
         chainwatch POST async, each run (thousand objects/s): {:?}\n\
         chainwatch POST sync, each run (thousand objects/s): {:?}\n\
         medallion POST, each run (objects/s): {:?}\n\
         rss MB (before, after POST[, after GET, after a 2nd GET]): {:?}; after each run: {:?}{}",
        f.objects,
        f.batch,
        f.page,
        f.runs,
        match (f.medallion_post_runs.len(), get) {
            (0, _) => String::new(),
            (n, true) => format!("; medallion: POST median of {n} runs, GET once"),
            (n, false) => format!("; medallion: POST median of {n} runs"),
        },
        "objects/s",
        "POST async",
        "POST sync",
        "paged GET",
        "chainwatch",
        f.chainwatch.post_objects_per_s,
        f.chainwatch.post_sync_objects_per_s,
        get_cell(f.chainwatch.get_objects_per_s),
        "medallion",
        m.post_objects_per_s,
        m.post_sync_objects_per_s,
        get_cell(m.get_objects_per_s),
        "ratio",
        ratio(f.post_ratio),
        ratio(f.post_sync_ratio),
        ratio(f.get_ratio),
        round(&f.chainwatch_post_runs, 1000.0),
        round(&f.chainwatch_post_sync_runs, 1000.0),
        round(&f.medallion_post_runs, 1.0),
        round(&f.rss_mb, 1.0),
        round(&f.rss_mb_after_runs, 1.0),
        f.medallion_error
            .as_ref()
            .map(|e| format!("\nmedallion: {e}"))
            .unwrap_or_default(),
    );
    print(json_out, &serde_json::to_value(&f)?, &human);
    Ok(())
}
