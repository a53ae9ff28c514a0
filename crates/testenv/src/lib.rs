//! Starts throwaway Litecoin Core regtest nodes for tests and drives them over JSON-RPC.
//!
//! [`Litecoind::start`] runs the `litecoind` found on `PATH` (or named by the
//! `LITECOIND_EXE` environment variable) on a fresh temporary data directory, with random
//! RPC credentials and free loopback ports, waits until RPC answers and creates a wallet.
//! The process is killed and the directory removed when the value is dropped.
//!
//! Litecoin Core 0.21.2 regtest facts tests should know:
//! - MWEB (bip9 bit 4) becomes active at height 432 with no extra options. The first MWEB
//!   block needs a peg-in in the mempool (its HogEx would otherwise have no inputs), so
//!   `generatetoaddress` fails with `bad-txns-vin-empty` once the tip is at 431 unless one
//!   is sent; [`Litecoind::activate_mweb`] does that. Pass
//!   `-vbparams=mweb:32503680000:32503680001` to [`Litecoind::start_with_args`] for a
//!   chain that never activates MWEB.
//! - The wallet (legacy, not descriptor) makes `legacy`, `p2sh-segwit`, `bech32` and
//!   `mweb` addresses; `bech32m` is rejected, but it can pay to taproot addresses.

use chainwatch_chain::rpc::{RpcClient, RpcError, RpcOptions};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Name of the wallet the node is started with.
pub const WALLET: &str = "testenv";

/// How long to wait for RPC after starting the process.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long to wait for the process to exit after RPC `stop`.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one RPC read or write may block (mining many blocks in one call can take a while).
const IO_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything that can go wrong starting or talking to a node. Its `Debug` form is its
/// message, so that `.expect()`/`.unwrap()` in tests print the install hint and node output.
#[derive(thiserror::Error)]
pub enum Error {
    /// No `litecoind` executable was found.
    #[error(
        "litecoind not found on PATH: install Litecoin Core (Debian: `apt-get install litecoind`) \
         or set LITECOIND_EXE to the binary"
    )]
    NotInstalled,
    /// An I/O error (spawning, files, sockets).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The process exited while starting up.
    #[error("litecoind exited during startup ({status}); its output:\n{log}")]
    Exited {
        /// The exit status.
        status: String,
        /// The end of its console output and debug.log.
        log: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The HTTP exchange or the JSON in it was malformed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The node answered with a JSON-RPC error.
    #[error("RPC {method}: error {code}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// The JSON-RPC error code (e.g. -28 while warming up, -5 invalid address or type).
        code: i64,
        /// The error message.
        message: String,
    },
    /// A reply did not have the expected shape.
    #[error("RPC {method}: unexpected reply {reply}")]
    Reply {
        /// The method called.
        method: String,
        /// The reply.
        reply: String,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A running (or stopped, between [`Litecoind::stop`] and [`Litecoind::restart`]) regtest node.
pub struct Litecoind {
    exe: PathBuf,
    tmp: tempfile::TempDir,
    datadir: PathBuf,
    rpc_port: u16,
    p2p_port: u16,
    user: String,
    password: String,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// The wallet endpoint's client (rebuilt when the ports change).
    client: Option<RpcClient>,
}

impl Litecoind {
    /// Starts a node with the default options (see the crate docs) and a loaded wallet.
    pub fn start() -> Result<Litecoind> {
        Litecoind::start_with_args(&[])
    }

    /// Starts a node with extra `litecoind` arguments (e.g. `-vbparams=…`, `-acceptnonstdtxn=0`)
    /// appended to the defaults; they are used again by [`Litecoind::restart`].
    pub fn start_with_args(extra_args: &[&str]) -> Result<Litecoind> {
        let exe = find_exe()?;
        let tmp = tempfile::Builder::new()
            .prefix("chainwatch-litecoind-")
            .tempdir()
            .map_err(io_err("create temporary directory"))?;
        let datadir = tmp.path().join("data");
        std::fs::create_dir(&datadir).map_err(io_err(format!("create {}", datadir.display())))?;
        let mut node = Litecoind {
            exe,
            tmp,
            datadir,
            rpc_port: 0,
            p2p_port: 0,
            user: format!("u{}", random_hex(8)),
            password: random_hex(16),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
            client: None,
        };
        // Ports are picked by binding port 0 and releasing it; another process may take one
        // before litecoind binds it, so a failed start is retried with fresh ports.
        let mut last_err = None;
        for _ in 0..3 {
            (node.rpc_port, node.p2p_port) = free_ports()?;
            match node.spawn_and_wait() {
                Ok(()) => {
                    last_err = None;
                    break;
                }
                Err(Error::Exited { status, log }) if log.contains("Unable to bind") => {
                    last_err = Some(Error::Exited { status, log });
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = last_err {
            return Err(e);
        }
        node.rpc(
            "createwallet",
            // name, disable_private_keys, blank, passphrase, avoid_reuse, descriptors, load_on_startup
            json!([WALLET, false, false, "", false, false, true]),
        )?;
        Ok(node)
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "-regtest".to_string(),
            format!("-datadir={}", self.datadir.display()),
            "-daemon=0".into(),
            "-server=1".into(),
            format!("-rpcuser={}", self.user),
            format!("-rpcpassword={}", self.password),
            format!("-rpcport={}", self.rpc_port),
            format!("-port={}", self.p2p_port),
            "-rpcbind=127.0.0.1".into(),
            "-rpcallowip=127.0.0.1".into(),
            // 0.21.2 refuses `-bind` together with `-listen=0`; not listening is what we want.
            "-listen=0".into(),
            "-connect=0".into(),
            "-dnsseed=0".into(),
            "-discover=0".into(),
            "-upnp=0".into(),
            "-printtoconsole=0".into(),
            "-fallbackfee=0.0001".into(),
            "-txindex=1".into(),
            "-keypool=100".into(),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    fn console_log(&self) -> PathBuf {
        self.tmp.path().join("litecoind.out")
    }

    /// Spawns the process and waits until RPC answers.
    fn spawn_and_wait(&mut self) -> Result<()> {
        let log_path = self.console_log();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(format!("open {}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(io_err(format!("open {}", log_path.display())))?;
        let child = Command::new(&self.exe)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(io_err(format!("spawn {}", self.exe.display())))?;
        self.child = Some(child);
        // The wallet endpoint also serves every non-wallet method.
        let opts = RpcOptions {
            io_timeout: IO_TIMEOUT,
            ..RpcOptions::default()
        };
        let url = format!("{}/wallet/{WALLET}", self.rpc_url());
        self.client = Some(RpcClient::new(&url, opts).map_err(|e| Error::Http(e.to_string()))?);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Error::Exited {
                        status: status.to_string(),
                        log: self.log_tail(),
                    });
                }
            }
            match self.rpc("getblockchaininfo", json!([])) {
                Ok(_) => return Ok(()),
                // -28: warming up (loading block index, verifying blocks, …).
                Err(Error::Rpc { code: -28, .. } | Error::Io { .. } | Error::Http(_)) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(Error::Timeout(START_TIMEOUT, "litecoind RPC to answer"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of the console output and debug.log, for error messages.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for path in [
            self.console_log(),
            self.datadir.join("regtest").join("debug.log"),
        ] {
            if let Ok(mut f) = File::open(&path) {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = f.seek(SeekFrom::Start(len.saturating_sub(4000)));
                let mut text = String::new();
                let _ = f.read_to_string(&mut text);
                out.push_str(&format!("--- {}\n{text}\n", path.display()));
            }
        }
        out
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Calls a JSON-RPC 1.0 method (`params` is a JSON array, or an object for named
    /// parameters) on the wallet endpoint and returns its `result`.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let Some(client) = &self.client else {
            return Err(Error::Http(format!("{method}: the node was never started")));
        };
        client.call(method, params).map_err(|e| match e {
            RpcError::Rpc {
                method,
                code,
                message,
            } => Error::Rpc {
                method,
                code,
                message,
            },
            RpcError::Connect { endpoint, source } => Error::Io {
                context: format!("{method}: connect to {endpoint}"),
                source,
            },
            RpcError::Io {
                endpoint,
                context,
                source,
            } => Error::Io {
                context: format!("{method}: {context} {endpoint}"),
                source,
            },
            other => Error::Http(format!("{method}: {other}")),
        })
    }

    /// `http://user:password@127.0.0.1:port`, for clients that follow this node over RPC.
    pub fn rpc_url(&self) -> String {
        format!(
            "http://{}:{}@127.0.0.1:{}",
            self.user, self.password, self.rpc_port
        )
    }

    /// The RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The data directory (`-datadir`); the chain's files are under its `regtest/`.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// `<datadir>/regtest/blocks`, where the `blk*.dat` files are.
    pub fn blocks_dir(&self) -> PathBuf {
        self.datadir.join("regtest").join("blocks")
    }

    /// Mines `n` blocks to a fresh wallet address and returns their hashes.
    pub fn generate(&self, n: u64) -> Result<Vec<String>> {
        let address = self.new_address("bech32")?;
        self.generate_to(n, &address)
    }

    /// Mines `n` blocks paying to `address` and returns their hashes.
    pub fn generate_to(&self, n: u64, address: &str) -> Result<Vec<String>> {
        let method = "generatetoaddress";
        let reply = self.rpc(method, json!([n, address]))?;
        string_array(method, &reply)
    }

    /// A new wallet address of `kind`: `legacy`, `p2sh-segwit`, `bech32` or `mweb` (0.21.2
    /// answers RPC error -5 for `bech32m`).
    pub fn new_address(&self, kind: &str) -> Result<String> {
        let method = "getnewaddress";
        let reply = self.rpc(method, json!(["", kind]))?;
        as_string(method, &reply)
    }

    /// Sends `litoshis` from the wallet to `address` and returns the txid.
    pub fn send(&self, address: &str, litoshis: u64) -> Result<String> {
        let method = "sendtoaddress";
        let reply = self.rpc(method, json!([address, ltc_string(litoshis)]))?;
        as_string(method, &reply)
    }

    /// The height of the best block.
    pub fn height(&self) -> Result<u64> {
        let method = "getblockcount";
        let reply = self.rpc(method, json!([]))?;
        reply.as_u64().ok_or_else(|| Error::Reply {
            method: method.into(),
            reply: reply.to_string(),
        })
    }

    /// Makes MWEB active: mines to height 431, sends a peg-in (1 LTC to a new `mweb`
    /// address) and mines the first MWEB block, which carries the first HogEx. Returns the
    /// peg-in txid, or `None` if MWEB was already active.
    pub fn activate_mweb(&self) -> Result<Option<String>> {
        if self.mweb_active()? {
            return Ok(None);
        }
        let height = self.height()?;
        if height < 431 {
            self.generate(431 - height)?;
        }
        let pegin = self.send(&self.new_address("mweb")?, 100_000_000)?;
        self.generate(1)?;
        if !self.mweb_active()? {
            return Err(Error::Reply {
                method: "getblockchaininfo".into(),
                reply: "MWEB still not active after mining the first MWEB block".into(),
            });
        }
        Ok(Some(pegin))
    }

    /// True if the next block is mined under MWEB rules.
    pub fn mweb_active(&self) -> Result<bool> {
        let info = self.rpc("getblockchaininfo", json!([]))?;
        Ok(info["softforks"]["mweb"]["active"].as_bool() == Some(true))
    }

    /// Stops the node cleanly (RPC `stop`) and waits for the process to exit, so that every
    /// block is flushed to the `blk*.dat` files. Does nothing if it is not running.
    pub fn stop(&mut self) -> Result<()> {
        if self.child.is_none() {
            return Ok(());
        }
        let asked = self.rpc("stop", json!([]));
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("running");
            match child.try_wait() {
                Ok(Some(_)) => {
                    self.child = None;
                    return Ok(());
                }
                Ok(None) if asked.is_err() || Instant::now() > deadline => {
                    self.kill();
                    return match asked {
                        Err(e) => Err(e),
                        Ok(_) => Err(Error::Timeout(STOP_TIMEOUT, "litecoind to exit")),
                    };
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(io_err("wait for litecoind")(e)),
            }
        }
    }

    /// Stops the node if it runs, then starts it again on the same data directory, ports and
    /// credentials, waits for RPC and makes sure the wallet is loaded.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn_and_wait()?;
        let loaded = self.rpc("listwallets", json!([]))?;
        let has_wallet = loaded
            .as_array()
            .is_some_and(|a| a.iter().any(|w| w.as_str() == Some(WALLET)));
        if !has_wallet {
            self.rpc("loadwallet", json!([WALLET]))?;
        }
        Ok(())
    }
}

impl Drop for Litecoind {
    fn drop(&mut self) {
        self.kill();
    }
}

fn as_string(method: &str, reply: &Value) -> Result<String> {
    reply
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Reply {
            method: method.into(),
            reply: reply.to_string(),
        })
}

fn string_array(method: &str, reply: &Value) -> Result<Vec<String>> {
    reply
        .as_array()
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .ok_or_else(|| Error::Reply {
            method: method.into(),
            reply: reply.to_string(),
        })
}

/// `LITECOIND_EXE` if set, else the first `litecoind` on `PATH`.
fn find_exe() -> Result<PathBuf> {
    if let Some(exe) = std::env::var_os("LITECOIND_EXE") {
        let exe = PathBuf::from(exe);
        return if exe.is_file() {
            Ok(exe)
        } else {
            Err(Error::NotInstalled)
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("litecoind"))
        .find(|p| p.is_file())
        .ok_or(Error::NotInstalled)
}

/// Two distinct free loopback ports.
fn free_ports() -> Result<(u16, u16)> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(io_err("bind 127.0.0.1:0"));
    let (a, b) = (bind()?, bind()?);
    let port = |l: &TcpListener| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(io_err("local address"))
    };
    Ok((port(&a)?, port(&b)?))
}

/// `2 * n` random hex digits (from `/dev/urandom`, else the std hasher's random keys).
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let from_urandom = File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_urandom {
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            let v = h.finish().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Formats litoshis as the exact decimal LTC string RPC accepts (`"1.50000000"`).
pub fn ltc_string(litoshis: u64) -> String {
    format!("{}.{:08}", litoshis / 100_000_000, litoshis % 100_000_000)
}

/// Converts an RPC amount (LTC as a JSON number, or a decimal string) to litoshis exactly,
/// from the number's decimal form rather than by multiplying a float. `None` if it is not a
/// non-negative whole number of litoshis.
///
/// serde_json keeps RPC numbers as `f64` and prints them in shortest round-trip form, which
/// reproduces the node's decimal exactly for any amount of at most 15 significant digits
/// (every amount below 10 million LTC).
pub fn litoshis(amount: &Value) -> Option<u64> {
    let text = match amount {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    parse_decimal(&text, 8)
}

/// Parses `digits[.digits][e[+-]digits]` into an integer scaled by `10^scale`, if exact.
fn parse_decimal(text: &str, scale: i32) -> Option<u64> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        digits = digits.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    // value = digits * 10^(exp - frac.len()); scaled = value * 10^scale.
    let shift = exp.checked_sub(i32::try_from(frac.len()).ok()?)? + scale;
    let scaled = if shift >= 0 {
        digits.checked_mul(10u128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        let div = 10u128.checked_pow(u32::try_from(-shift).ok()?)?;
        let whole = digits / div;
        if whole * div != digits {
            return None; // finer than the scale
        }
        whole
    };
    u64::try_from(scaled).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_convert_exactly() {
        let cases = [
            (json!(12.4999837), Some(1_249_998_370)),
            (json!(0.00000001), Some(1)),
            (json!(0.00000546), Some(546)),
            (json!(50), Some(5_000_000_000)),
            (json!(0.0), Some(0)),
            (json!(9999999.99999999), Some(999_999_999_999_999)),
            (json!(0.1), Some(10_000_000)),
            (json!(0.000000001), None),
            (json!(-1.0), None),
            (json!("1.50000000"), Some(150_000_000)),
            (json!(null), None),
        ];
        for (value, expected) in cases {
            assert_eq!(litoshis(&value), expected, "{value}");
        }
        assert_eq!(parse_decimal("1e-8", 8), Some(1));
        assert_eq!(parse_decimal("1.5E2", 8), Some(15_000_000_000));
        assert_eq!(parse_decimal("1.", 8), Some(100_000_000));
        assert_eq!(parse_decimal(".5", 8), None);
        assert_eq!(ltc_string(1_249_998_370), "12.49998370");
        assert_eq!(ltc_string(1), "0.00000001");
    }

    #[test]
    fn missing_binary_error_says_how_to_install() {
        assert!(Error::NotInstalled
            .to_string()
            .contains("apt-get install litecoind"));
    }
}
