//! A small blocking JSON-RPC client for Bitcoin-family nodes: HTTP/1.1 over a std
//! `TcpStream`, Basic authentication from the URL or a cookie file, persistent connections
//! (kept in a small pool, so several threads can call at once), JSON-RPC batches, and
//! timeouts.
//!
//! Errors say whether they are worth retrying ([`RpcError::is_transient`]): a node that is
//! down, restarting, warming up or shutting down is; wrong credentials are not.

use serde_json::{json, Value};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The URL cannot be used.
    #[error("RPC URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cookie file cannot be read (a node that is not running has none).
    #[error("cookie file {path}: {source}")]
    Cookie {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The node cannot be reached (not running, restarting, wrong port).
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// host:port.
        endpoint: String,
        /// The error.
        source: io::Error,
    },
    /// The connection failed or timed out during an exchange.
    #[error("{context} {endpoint}: {source}")]
    Io {
        /// host:port.
        endpoint: String,
        /// What was being done.
        context: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The node refused the credentials (HTTP 401).
    #[error("{endpoint} refused the credentials (HTTP 401): check the user and password in the URL or the cookie file")]
    Unauthorized {
        /// The URL, password masked.
        endpoint: String,
    },
    /// The node refused the connection (HTTP 403, e.g. `-rpcallowip` does not include us).
    #[error("{endpoint} forbids RPC from here (HTTP 403): check the node's -rpcallowip")]
    Forbidden {
        /// The URL, password masked.
        endpoint: String,
    },
    /// An HTTP status without a JSON-RPC answer (503: the node's work queue is full).
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status {
        /// The URL, password masked.
        endpoint: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The response is not valid HTTP or JSON-RPC.
    #[error("{endpoint}: malformed response: {reason}")]
    Protocol {
        /// The URL, password masked.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("RPC {method}: error {code}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// The JSON-RPC error code (e.g. -28 while warming up, -8 height out of range).
        code: i64,
        /// The error message.
        message: String,
    },
    /// A result did not have the expected shape.
    #[error("RPC {method}: unexpected result {result}")]
    Reply {
        /// The method called.
        method: String,
        /// The result (shortened).
        result: String,
    },
}

/// JSON-RPC error code of a node still loading (`RPC_IN_WARMUP`).
pub const RPC_IN_WARMUP: i64 = -28;
/// JSON-RPC error code of an unknown method.
pub const RPC_METHOD_NOT_FOUND: i64 = -32601;

impl RpcError {
    /// True if trying again later may succeed: the node is unreachable, restarting, warming
    /// up, overloaded, or cut the connection. Credentials and malformed URLs are not.
    pub fn is_transient(&self) -> bool {
        match self {
            RpcError::Connect { .. } | RpcError::Io { .. } => true,
            // A node that is shutting down deletes its cookie; the next one writes a new one.
            RpcError::Cookie { source, .. } => source.kind() == io::ErrorKind::NotFound,
            RpcError::Status { status, .. } => *status >= 500,
            RpcError::Protocol { .. } => true,
            RpcError::Rpc { code, .. } => *code == RPC_IN_WARMUP,
            RpcError::InvalidUrl { .. }
            | RpcError::Unauthorized { .. }
            | RpcError::Forbidden { .. }
            | RpcError::Reply { .. } => false,
        }
    }

    /// True for errors that mean the credentials or permissions are wrong (bad usage).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            RpcError::Unauthorized { .. } | RpcError::Forbidden { .. }
        ) || matches!(self, RpcError::Cookie { .. } if !self.is_transient())
    }
}

/// Client options.
#[derive(Clone, Debug)]
pub struct RpcOptions {
    /// Read the credentials from this cookie file (`user:password`, as the node writes
    /// `.cookie`) instead of the URL; re-read after a 401 (a restarted node has a new one).
    pub cookie: Option<PathBuf>,
    /// Port used when the URL has none.
    pub default_port: Option<u16>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time one read or write may block.
    pub io_timeout: Duration,
    /// Keep connections open between requests.
    pub keep_alive: bool,
}

impl Default for RpcOptions {
    fn default() -> RpcOptions {
        RpcOptions {
            cookie: None,
            default_port: None,
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(120),
            keep_alive: true,
        }
    }
}

enum Auth {
    /// `Basic` credential (base64 of `user:password`).
    Basic(String),
    /// A cookie file and the credential read from it last.
    Cookie(PathBuf, Mutex<Option<String>>),
}

/// A blocking JSON-RPC client; cheap to share between threads (`&RpcClient` is `Sync`).
pub struct RpcClient {
    host: String,
    port: u16,
    path: String,
    /// The URL with the password masked, for messages.
    shown: String,
    auth: Auth,
    opts: RpcOptions,
    idle: Mutex<Vec<TcpStream>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.shown)
            .finish()
    }
}

/// A parsed HTTP response.
struct Response {
    status: u16,
    body: Vec<u8>,
    /// The server keeps the connection open.
    reusable: bool,
}

impl RpcClient {
    /// A client for `url` (`http://[user:password@]host[:port][/path]`; user and password may
    /// be percent-encoded). Credentials come from the URL unless `opts.cookie` is given.
    pub fn new(url: &str, opts: RpcOptions) -> Result<RpcClient, RpcError> {
        let shown = mask_password(url);
        let bad = |reason: &str| RpcError::InvalidUrl {
            url: shown.clone(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported (use a TLS proxy for https)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| bad("unclosed '[' in the host"))?;
            let port = v6[end + 1..].strip_prefix(':');
            (v6[..end].to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad(&format!("bad port {p:?}")))?,
            None => opts
                .default_port
                .ok_or_else(|| bad("no port (e.g. http://user:pass@127.0.0.1:9332)"))?,
        };
        let auth = match (&opts.cookie, userinfo) {
            (Some(path), _) => Auth::Cookie(path.clone(), Mutex::new(None)),
            (None, Some(info)) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                let user = percent_decode(user).ok_or_else(|| bad("bad %-escape in the user"))?;
                let pass =
                    percent_decode(pass).ok_or_else(|| bad("bad %-escape in the password"))?;
                Auth::Basic(base64(format!("{user}:{pass}").as_bytes()))
            }
            (None, None) => {
                return Err(bad(
                    "no credentials: put user:password in the URL or pass a cookie file",
                ))
            }
        };
        Ok(RpcClient {
            host,
            port,
            path: path.to_string(),
            shown,
            auth,
            opts,
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// The URL with the password masked.
    pub fn endpoint(&self) -> &str {
        &self.shown
    }

    /// Calls `method` with `params` (a JSON array, or an object for named parameters).
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        let body = serde_json::to_vec(&body).map_err(|e| self.protocol(e.to_string()))?;
        let resp = self.post(&body)?;
        let reply: Value = match serde_json::from_slice(&resp.body) {
            Ok(v) => v,
            Err(_) => return Err(self.status_error(&resp, method)),
        };
        match reply.get("error") {
            Some(e) if !e.is_null() => Err(rpc_error(method, e)),
            _ if resp.status != 200 => Err(self.status_error(&resp, method)),
            _ => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Sends several calls in one HTTP request (a JSON-RPC batch) and returns their results
    /// in order; one call's error does not fail the others.
    pub fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, RpcError>>, RpcError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let first = self
            .next_id
            .fetch_add(calls.len() as u64, Ordering::Relaxed);
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| {
                json!({"jsonrpc": "1.0", "id": first + i as u64, "method": method, "params": params})
            })
            .collect();
        let body = serde_json::to_vec(&body).map_err(|e| self.protocol(e.to_string()))?;
        let resp = self.post(&body)?;
        let what = calls[0].0;
        let replies: Vec<Value> = match serde_json::from_slice(&resp.body) {
            Ok(Value::Array(a)) if resp.status == 200 => a,
            Ok(v) if v.get("error").is_some_and(|e| !e.is_null()) => {
                return Err(rpc_error(what, &v["error"]))
            }
            _ => return Err(self.status_error(&resp, what)),
        };
        let mut out: Vec<Option<Result<Value, RpcError>>> = calls.iter().map(|_| None).collect();
        for mut r in replies {
            let Some(i) = r
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|id| id.checked_sub(first))
                .filter(|&i| (i as usize) < calls.len())
            else {
                return Err(self.protocol(format!("batch reply with an unknown id: {}", short(&r))));
            };
            let method = calls[i as usize].0;
            out[i as usize] = Some(match r.get("error") {
                Some(e) if !e.is_null() => Err(rpc_error(method, e)),
                _ => Ok(r.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
            });
        }
        out.into_iter()
            .map(|r| r.ok_or_else(|| self.protocol("batch reply without some of the calls".into())))
            .collect()
    }

    fn protocol(&self, reason: String) -> RpcError {
        RpcError::Protocol {
            endpoint: self.shown.clone(),
            reason,
        }
    }

    fn status_error(&self, resp: &Response, method: &str) -> RpcError {
        if resp.status == 200 {
            return self.protocol(format!("{method}: not JSON: {}", body_excerpt(&resp.body)));
        }
        RpcError::Status {
            endpoint: self.shown.clone(),
            status: resp.status,
            body: body_excerpt(&resp.body),
        }
    }

    /// The `Basic` credential; `reload` re-reads the cookie file.
    fn credential(&self, reload: bool) -> Result<String, RpcError> {
        match &self.auth {
            Auth::Basic(c) => Ok(c.clone()),
            Auth::Cookie(path, cached) => {
                let mut cached = cached.lock().unwrap_or_else(|p| p.into_inner());
                if reload || cached.is_none() {
                    let text =
                        std::fs::read_to_string(path).map_err(|source| RpcError::Cookie {
                            path: path.clone(),
                            source,
                        })?;
                    *cached = Some(base64(text.trim_end().as_bytes()));
                }
                Ok(cached.clone().unwrap_or_default())
            }
        }
    }

    /// POSTs `body`; a 401 with a cookie file re-reads the cookie and tries once more.
    fn post(&self, body: &[u8]) -> Result<Response, RpcError> {
        let resp = self.post_with(body, &self.credential(false)?)?;
        match resp.status {
            401 if matches!(self.auth, Auth::Cookie(..)) => {
                let again = self.post_with(body, &self.credential(true)?)?;
                match again.status {
                    401 => Err(RpcError::Unauthorized {
                        endpoint: self.shown.clone(),
                    }),
                    403 => Err(RpcError::Forbidden {
                        endpoint: self.shown.clone(),
                    }),
                    _ => Ok(again),
                }
            }
            401 => Err(RpcError::Unauthorized {
                endpoint: self.shown.clone(),
            }),
            403 => Err(RpcError::Forbidden {
                endpoint: self.shown.clone(),
            }),
            _ => Ok(resp),
        }
    }

    /// One exchange on a pooled connection (a stale one that the node closed while idle is
    /// replaced by a fresh one once), or on a new connection.
    fn post_with(&self, body: &[u8], credential: &str) -> Result<Response, RpcError> {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Basic {credential}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            self.path,
            self.host,
            self.port,
            body.len(),
            if self.opts.keep_alive {
                "keep-alive"
            } else {
                "close"
            }
        );
        loop {
            let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let reused = pooled.is_some();
            let mut stream = match pooled {
                Some(s) => s,
                None => self.connect()?,
            };
            match self.exchange(&mut stream, head.as_bytes(), body) {
                Ok(resp) => {
                    if resp.reusable && self.opts.keep_alive {
                        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                        if idle.len() < 8 {
                            idle.push(stream);
                        }
                    }
                    return Ok(resp);
                }
                // The node closed the idle connection (timeout, restart) before reading this
                // request: nothing was processed, so it is safe to send it again.
                Err((e, false)) if reused => {
                    let _ = e;
                    continue;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn endpoint_text(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn connect(&self) -> Result<TcpStream, RpcError> {
        let endpoint = self.endpoint_text();
        let conn_err = |source| RpcError::Connect {
            endpoint: endpoint.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(conn_err)?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.opts.connect_timeout) {
                Ok(s) => {
                    let cfg = |source| RpcError::Io {
                        endpoint: endpoint.clone(),
                        context: "configure connection to",
                        source,
                    };
                    s.set_read_timeout(Some(self.opts.io_timeout))
                        .map_err(cfg)?;
                    s.set_write_timeout(Some(self.opts.io_timeout))
                        .map_err(cfg)?;
                    s.set_nodelay(true).map_err(cfg)?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(conn_err(last))
    }

    /// Writes the request and reads the response; on error also says whether any byte of
    /// a response arrived.
    fn exchange(
        &self,
        stream: &mut TcpStream,
        head: &[u8],
        body: &[u8],
    ) -> Result<Response, (RpcError, bool)> {
        let endpoint = self.endpoint_text();
        let io = |context: &'static str, got: bool| {
            let endpoint = endpoint.clone();
            move |source| {
                (
                    RpcError::Io {
                        endpoint,
                        context,
                        source,
                    },
                    got,
                )
            }
        };
        let mut request = Vec::with_capacity(head.len() + body.len());
        request.extend_from_slice(head);
        request.extend_from_slice(body);
        stream.write_all(&request).map_err(io("send to", false))?;
        let mut reader = BufReader::with_capacity(64 << 10, &*stream);
        let mut line = Vec::new();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(io("read from", false))?;
        if n == 0 {
            return Err(io("read from", false)(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )));
        }
        let status_line = String::from_utf8_lossy(&line).trim_end().to_string();
        let mut parts = status_line.split(' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| {
                (
                    self.protocol(format!("bad status line {status_line:?}")),
                    true,
                )
            })?;
        let mut content_length = None;
        let mut chunked = false;
        let mut close = version != "HTTP/1.1";
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(io("read from", true))?;
            if n == 0 {
                return Err((self.protocol("headers cut short".into()), true));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if text.is_empty() {
                break;
            }
            let Some((name, value)) = text.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length =
                    Some(value.parse::<usize>().map_err(|_| {
                        (self.protocol(format!("bad Content-Length {value:?}")), true)
                    })?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    close = true;
                } else if v.contains("keep-alive") {
                    close = false;
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut reader).map_err(|e| match e {
                Chunked::Io(source) => io("read from", true)(source),
                Chunked::Bad(reason) => (self.protocol(reason), true),
            })?
        } else if let Some(n) = content_length {
            let mut body = vec![0u8; n];
            reader
                .read_exact(&mut body)
                .map_err(io("read from", true))?;
            body
        } else {
            close = true;
            let mut body = Vec::new();
            reader
                .read_to_end(&mut body)
                .map_err(io("read from", true))?;
            body
        };
        Ok(Response {
            status,
            body,
            reusable: !close,
        })
    }
}

enum Chunked {
    Io(io::Error),
    Bad(String),
}

/// Decodes a chunked body (chunk extensions and trailers are skipped).
fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, Chunked> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(Chunked::Io)? == 0 {
            return Err(Chunked::Bad("chunked body cut short".into()));
        }
        let text = String::from_utf8_lossy(&line);
        let size_hex = text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| Chunked::Bad(format!("bad chunk size {size_hex:?}")))?;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(Chunked::Io)?;
                if n == 0 || line == b"\r\n" || line == b"\n" {
                    return Ok(out);
                }
            }
        }
        let start = out.len();
        out.resize(start + size, 0);
        reader.read_exact(&mut out[start..]).map_err(Chunked::Io)?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).map_err(Chunked::Io)?;
        if &crlf != b"\r\n" {
            return Err(Chunked::Bad("chunk not followed by CRLF".into()));
        }
    }
}

fn rpc_error(method: &str, e: &Value) -> RpcError {
    RpcError::Rpc {
        method: method.to_string(),
        code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: e
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
    }
}

/// A value's JSON, cut to 200 characters, for messages.
pub fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The start of a body on one line, HTML tags dropped (a 503 page says "Service Unavailable").
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    if words.is_empty() {
        "(empty body)".into()
    } else {
        words.join(" ")
    }
}

/// The URL with the password (between `user:` and `@`) replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let info = &authority[..at];
            let user = info.split_once(':').map_or(info, |(u, _)| u);
            let masked = if info.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!(
                "{}{masked}{}",
                &url[..scheme_end],
                &rest[at..] // "@host:port/path"
            )
        }
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding (for the `Authorization` header).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads a cookie file's `user:password` (for callers that want to check it up front).
pub fn read_cookie(path: &Path) -> Result<String, RpcError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end().to_string())
        .map_err(|source| RpcError::Cookie {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn urls_parse_and_passwords_are_masked() {
        let c = RpcClient::new("http://u:p%40ss@127.0.0.1:9332", RpcOptions::default()).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("127.0.0.1", 9332, "/")
        );
        assert!(matches!(&c.auth, Auth::Basic(b) if *b == base64(b"u:p@ss")));
        assert_eq!(c.endpoint(), "http://u:***@127.0.0.1:9332");
        let c = RpcClient::new("http://u:p@[::1]:18443/wallet/w", RpcOptions::default()).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("::1", 18443, "/wallet/w")
        );
        let opts = RpcOptions {
            default_port: Some(19443),
            ..RpcOptions::default()
        };
        assert_eq!(
            RpcClient::new("http://u:p@localhost", opts).unwrap().port,
            19443
        );
        for bad in [
            "https://u:p@h:1",
            "http://u:p@h",
            "http://h:1",
            "http://u:p@h:x",
            "http://u:p@:1",
        ] {
            let e = RpcClient::new(bad, RpcOptions::default()).unwrap_err();
            assert!(matches!(e, RpcError::InvalidUrl { .. }), "{bad}: {e}");
            assert!(!e.to_string().contains(":p@"), "{e}");
        }
        assert_eq!(mask_password("http://a@h:1/x"), "http://a@h:1/x");
        assert_eq!(
            body_excerpt(b"<HTML><HEAD>\n<TITLE>503 Service Unavailable</TITLE>\n</HEAD></HTML>"),
            "503 Service Unavailable"
        );
    }

    /// A one-connection-at-a-time HTTP server that answers each request with `reply(n)`.
    fn serve(replies: Vec<Vec<u8>>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let total = replies.len();
            let mut replies = replies.into_iter();
            'conn: for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut head = String::new();
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap() == 0 {
                            continue 'conn;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    seen.push(head + &String::from_utf8_lossy(&body));
                    let Some(reply) = replies.next() else {
                        break 'conn;
                    };
                    stream.write_all(&reply).unwrap();
                    if seen.len() == total {
                        break 'conn;
                    }
                    if reply.windows(17).any(|w| w == b"Connection: close") {
                        continue 'conn;
                    }
                }
            }
            seen
        });
        (port, handle)
    }

    fn json_reply(status: &str, body: &str, extra: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn calls_batches_keep_alive_and_errors() {
        let (port, server) = serve(vec![
            json_reply("200 OK", r#"{"result":5,"error":null,"id":1}"#, ""),
            // Batch replies may come in any order.
            json_reply(
                "200 OK",
                r#"[{"result":null,"error":{"code":-8,"message":"out of range"},"id":3},{"result":"a","error":null,"id":2}]"#,
                "",
            ),
            {
                let rest = r#"ult":[1],"error":null,"id":4}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                     5\r\n{{\"res\r\n{:x};x=y\r\n{rest}\r\n0\r\n\r\n",
                    rest.len()
                )
                .into_bytes()
            },
            json_reply(
                "500 Internal Server Error",
                r#"{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":5}"#,
                "",
            ),
            json_reply("401 Unauthorized", "", ""),
        ]);
        let c = RpcClient::new(
            &format!("http://u:p@127.0.0.1:{port}"),
            RpcOptions::default(),
        )
        .unwrap();
        assert_eq!(c.call("getblockcount", json!([])).unwrap(), json!(5));
        let r = c
            .batch(&[("getblockhash", json!([1])), ("getblockhash", json!([9]))])
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap(), &json!("a"));
        assert!(matches!(r[1], Err(RpcError::Rpc { code: -8, .. })));
        assert_eq!(c.call("x", json!([])).unwrap(), json!([1]));
        let e = c.call("getblockcount", json!([])).unwrap_err();
        assert!(
            e.is_transient() && matches!(e, RpcError::Rpc { code: -28, .. }),
            "{e}"
        );
        let e = c.call("getblockcount", json!([])).unwrap_err();
        assert!(matches!(e, RpcError::Unauthorized { .. }) && !e.is_transient() && e.is_auth());
        drop(c);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 5);
        assert!(seen[0].contains(&format!("Authorization: Basic {}", base64(b"u:p"))));
        assert!(seen[1].contains(r#""id":2"#) && seen[1].starts_with("POST / HTTP/1.1"));
    }

    #[test]
    fn unreachable_nodes_and_missing_cookies_are_transient() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = RpcClient::new(
            &format!("http://u:p@127.0.0.1:{port}"),
            RpcOptions::default(),
        )
        .unwrap();
        let e = c.call("getblockcount", json!([])).unwrap_err();
        assert!(
            matches!(e, RpcError::Connect { .. }) && e.is_transient(),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let opts = RpcOptions {
            cookie: Some(dir.path().join(".cookie")),
            ..RpcOptions::default()
        };
        let c = RpcClient::new(&format!("http://127.0.0.1:{port}"), opts).unwrap();
        let e = c.call("getblockcount", json!([])).unwrap_err();
        assert!(
            matches!(e, RpcError::Cookie { .. }) && e.is_transient(),
            "{e}"
        );
    }

    #[test]
    fn a_cookie_is_reread_after_401() {
        let (port, server) = serve(vec![
            json_reply("401 Unauthorized", "", ""),
            json_reply("200 OK", r#"{"result":1,"error":null,"id":1}"#, ""),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let cookie = dir.path().join(".cookie");
        std::fs::write(&cookie, "__cookie__:old").unwrap();
        let opts = RpcOptions {
            cookie: Some(cookie.clone()),
            ..RpcOptions::default()
        };
        let c = RpcClient::new(&format!("http://127.0.0.1:{port}"), opts).unwrap();
        c.credential(false).unwrap();
        std::fs::write(&cookie, "__cookie__:new\n").unwrap();
        assert_eq!(c.call("getblockcount", json!([])).unwrap(), json!(1));
        drop(c);
        let seen = server.join().unwrap();
        assert!(seen[0].contains(&base64(b"__cookie__:old")));
        assert!(seen[1].contains(&base64(b"__cookie__:new")));
    }
}
