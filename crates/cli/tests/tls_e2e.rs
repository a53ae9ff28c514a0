//! `chainwatch serve --tls-cert/--tls-key` and `chainwatch report submit --ca-cert`: the
//! real binary serving HTTPS with a certificate made by the `openssl` command, and the
//! real binary submitting to it.

mod common;

use common::{cw, json};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private certificate authority `NAME` (its certificate, `NAME.pem`) and a server
/// certificate for 127.0.0.1 it signed, with the server's key: (CA, server cert, key).
fn private_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (ca, ca_key, key, csr, cert, ext) = (
        p("ca.pem"),
        p("ca-key.pem"),
        p("server-key.pem"),
        p("server.csr"),
        p("server.pem"),
        p("ext.cnf"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=chainwatch test CA",
    ];
    args.extend(ec);
    let (ca_s, ca_key_s, key_s, csr_s, cert_s, ext_s) =
        (s(&ca), s(&ca_key), s(&key), s(&csr), s(&cert), s(&ext));
    args.extend(["-keyout", &ca_key_s, "-out", &ca_s]);
    openssl(&args);
    let mut args = vec!["req", "-subj", "/CN=127.0.0.1"];
    args.extend(ec);
    args.extend(["-keyout", &key_s, "-out", &csr_s]);
    openssl(&args);
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr_s,
        "-CA",
        &ca_s,
        "-CAkey",
        &ca_key_s,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext_s,
        "-out",
        &cert_s,
    ]);
    (ca, cert, key)
}

/// The address a server started with `--listen 127.0.0.1:0 --log-json` reports in its
/// "chainwatch serving" log line (its stderr, read on a thread that goes on draining it).
fn served_address(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["fields"]["message"] == "chainwatch serving" {
                let _ = tx.send(
                    v["fields"]["address"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the server reports its address")
}

fn report() -> Value {
    json!({
        "title": "Hot wallet drain", "description": "Signer compromise",
        "victim": {"name": "ExampleEx", "kind": "exchange"},
        "chain": "bitcoin", "time": "2025-02-21T14:13:00Z",
        "stolen_outputs": [{"outpoint": format!("{}:1", "ab".repeat(32)), "amount": "12.5"}],
        "attacker_addresses": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"],
        "attribution": {"actor": "Lazarus Group", "confidence": 85},
        "tlp": "GREEN"
    })
}

fn submit(
    data: &Path,
    file: &Path,
    server: &str,
    token: &str,
    ca: Option<&Path>,
) -> std::process::Output {
    let mut args = vec![
        "report",
        "submit",
        file.to_str().unwrap(),
        "--server",
        server,
        "--token",
        token,
        "--json",
    ];
    if let Some(ca) = ca {
        args.extend(["--ca-cert", ca.to_str().unwrap()]);
    }
    cw(data, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_go_over_https_to_a_server_the_client_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ca, cert, key) = private_ca(dir.path(), "ours");
    let (other_ca, _, wrong_key) = private_ca(dir.path(), "other");
    json(
        &data,
        &[
            "admin", "org", "create", "nca", "--kind", "agency", "--json",
        ],
    );
    json(
        &data,
        &[
            "admin", "user", "create", "--org", "nca", "--name", "nca-user", "--json",
        ],
    );
    let token = json(
        &data,
        &["admin", "token", "create", "--user", "nca-user", "--json"],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();

    // A key that is not the certificate's is refused before anything listens.
    let out = cw(
        &data,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            wrong_key.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate and key"), "{err}");
    let out = cw(&data, &["serve", "--tls-cert", cert.to_str().unwrap()]);
    assert!(!out.status.success(), "--tls-cert without --tls-key");

    // Port 0: the server picks a free port and reports it (no port picked here that
    // another process could take first).
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_chainwatch"))
            .arg("--data")
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-json"])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let address = served_address(&mut server.0);
    let base = format!("https://{address}");
    let trusting = chainwatch_server::client::http_client(Some(&ca)).unwrap();
    let t = Instant::now();
    // TAXII discovery (once the server is up) names its API root with the scheme the
    // client used.
    let discovery: Value = loop {
        let r = trusting
            .get(format!("{base}/taxii2/"))
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .await;
        if let Ok(r) = r {
            assert_eq!(r.status().as_u16(), 200);
            break r.json().await.unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the HTTPS server did not come up: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        discovery["default"],
        format!("{base}/taxii2/root/"),
        "{discovery}"
    );

    let file = dir.path().join("report.json");
    std::fs::write(&file, report().to_string()).unwrap();
    let out = submit(&data, &file, &base, &token, Some(&ca));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = answer["id"].as_str().expect("report id").to_string();
    let get = |path: String| {
        let req = trusting.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let stored = get(format!("/api/reports/{id}")).await;
    assert_eq!(stored["report"]["id"], id.as_str(), "{stored}");

    // Not trusting the server's certificate (the system's authorities only, or another
    // certificate), or speaking plain HTTP to it: refused, nothing stored.
    for (server, ca) in [
        (base.as_str(), None),
        (base.as_str(), Some(other_ca.as_path())),
        (&format!("http://{address}"), Some(ca.as_path())),
    ] {
        let out = submit(&data, &file, server, &token, ca);
        assert!(!out.status.success(), "{server} {ca:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot reach"), "{err}");
        if server.starts_with("https") {
            assert!(err.contains("certificate"), "{err}");
        }
    }
    let out = submit(
        &data,
        &file,
        &base,
        &token,
        Some(&dir.path().join("missing.pem")),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("CA certificate"));
    let list = get("/api/reports".into()).await;
    assert_eq!(list["reports"].as_array().map(Vec::len), Some(1), "{list}");
}
