//! The client side's plumbing: an OkHttp-like connection pool over `std::net`, with a call
//! timeout, and the one place where a request is put on the wire and logged.
//!
//! Each client instance owns one [`Transport`]. Idle keep-alive connections are reused (one
//! per concurrent caller, like OkHttp's pool); a connection that timed out or failed is closed.
//! A request is recorded in the intent log in the same critical section that writes its bytes,
//! so the log's sequence order is the send order.

use crate::http::{self, Headers, Request, Response};
use crate::intent::{Attempt, IntentLog, Outcome};
use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// One open connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    local: SocketAddr,
    server: SocketAddr,
    /// Requests sent on this connection so far.
    sent: u64,
}

impl Conn {
    /// True if the peer has not closed the connection and nothing unexpected is buffered.
    fn is_reusable(&self) -> bool {
        if !self.reader.buffer().is_empty() || self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let alive = matches!(self.stream.peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        alive && self.stream.set_nonblocking(false).is_ok()
    }
}

/// An OkHttp-like HTTP client: connection pool, fixed headers, one timeout for the call.
#[derive(Debug)]
pub struct Transport {
    idle: Mutex<Vec<Conn>>,
    timeout: Duration,
    user_agent: &'static str,
}

/// What the transport returns for one attempt.
#[derive(Debug)]
pub struct Sent {
    /// Intent sequence number, if the request reached the wire.
    pub seq: Option<u64>,
    /// The response, or the I/O error (connect failure, timeout, reset).
    pub result: io::Result<Response>,
}

impl Transport {
    /// A transport with `timeout` for connect, write and read (OkHttp: callTimeout).
    pub fn new(timeout: Duration, user_agent: &'static str) -> Self {
        Transport { idle: Mutex::new(Vec::new()), timeout, user_agent }
    }

    fn checkout(&self, server: SocketAddr) -> io::Result<Conn> {
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(pos) = idle.iter().position(|c| c.server == server) {
                let conn = idle.swap_remove(pos);
                if conn.is_reusable() {
                    return Ok(conn);
                }
            }
        }
        let stream = TcpStream::connect_timeout(&server, self.timeout)?;
        stream.set_nodelay(true)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Conn { local: stream.local_addr()?, stream, reader, server, sent: 0 })
    }

    fn checkin(&self, conn: Conn) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
    }

    /// Sends one request for `attempt` (whose `client` is the bare application name; the
    /// transport appends `@<local ip>`) with `headers` (the application's own headers; the
    /// transport adds `Content-Type`, `Content-Length`, `Host`, `Connection`,
    /// `Accept-Encoding` and `User-Agent` after them, in OkHttp's order), reads the response,
    /// and records both in `intent`. `classify` turns the response into an outcome.
    pub fn send(
        &self,
        intent: &IntentLog,
        attempt: Attempt,
        headers: &[(&str, String)],
        classify: &dyn Fn(&Response) -> Outcome,
    ) -> Sent {
        let mut conn = match self.checkout(attempt.server) {
            Ok(c) => c,
            Err(e) => {
                return Sent { seq: None, result: Err(e) };
            }
        };
        // The caller is the application qualified by the client's IP (never the port).
        let mut attempt = attempt;
        attempt.client = format!("{}@{}", attempt.client, conn.local.ip());
        let mut h = Headers::default();
        for (n, v) in headers {
            h.push(n, v);
        }
        h.push("Content-Type", &attempt.content_type);
        h.push("Content-Length", &attempt.body.len().to_string());
        h.push("Host", &attempt.server.to_string());
        h.push("Connection", "Keep-Alive");
        h.push("Accept-Encoding", "gzip");
        h.push("User-Agent", self.user_agent);
        let req = Request {
            method: attempt.method.clone(),
            target: attempt.path.clone(),
            version: "HTTP/1.1".into(),
            headers: h,
            body: attempt.body.clone().into_bytes(),
        };
        let bytes = req.to_bytes();
        conn.sent += 1;
        let deadline = Instant::now() + self.timeout;
        let _ = conn.stream.set_write_timeout(Some(self.timeout));
        let (local, conn_req) = (conn.local, conn.sent);
        let (seq, written) =
            intent.send(attempt, local, conn_req, || http::write_all(&mut conn.stream, &bytes));
        if let Err(e) = written {
            let _ = conn.stream.shutdown(Shutdown::Both);
            return Sent { seq: Some(seq), result: Err(e) };
        }
        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let read =
            conn.stream.set_read_timeout(Some(remaining)).and_then(|_| http::read_response(&mut conn.reader));
        match read {
            Ok(resp) => {
                intent.set_result(seq, Some(resp.status), classify(&resp));
                if resp.keep_alive() {
                    self.checkin(conn);
                } else {
                    let _ = conn.stream.shutdown(Shutdown::Both);
                }
                Sent { seq: Some(seq), result: Ok(resp) }
            }
            Err(e) => {
                // OkHttp cancels the call and closes the connection.
                intent.set_result(seq, None, Outcome::NoResponse);
                let _ = conn.stream.shutdown(Shutdown::Both);
                Sent { seq: Some(seq), result: Err(e) }
            }
        }
    }

    /// Closes every idle connection.
    pub fn close_idle(&self) {
        for c in self.idle.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.close_idle();
    }
}

/// A meeting point for `parties` threads that gives up after a timeout instead of deadlocking
/// when one of them never arrives (e.g. against a server that does not reject the call).
#[derive(Debug)]
pub struct Rendezvous {
    parties: usize,
    timeout: Duration,
    state: Mutex<(usize, u64)>,
    cv: Condvar,
}

impl Rendezvous {
    /// A rendezvous of `parties` threads, each waiting at most `timeout`.
    pub fn new(parties: usize, timeout: Duration) -> Self {
        Rendezvous { parties, timeout, state: Mutex::new((0, 0)), cv: Condvar::new() }
    }

    /// Waits until all parties arrived (true) or the timeout passed (false).
    pub fn wait(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let generation = st.1;
        st.0 += 1;
        if st.0 >= self.parties {
            *st = (0, generation + 1);
            self.cv.notify_all();
            return true;
        }
        let end = Instant::now() + self.timeout;
        while st.1 == generation {
            let now = Instant::now();
            if now >= end {
                st.0 = st.0.saturating_sub(1);
                return false;
            }
            st = match self.cv.wait_timeout(st, end - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

/// The longest [`sleep_until_expired`] waits: scenarios stay short even against a server
/// with 7-day tokens.
const MAX_EXPIRY_WAIT_MS: i64 = 10_000;

/// Sleeps until the JWT `token` has expired (its `exp` plus a margin), as long as that is at
/// most 10 s away; returns whether it has expired by then. The client reads its own token.
pub fn sleep_until_expired(token: &str) -> bool {
    let Some(exp) = crate::jwt::peek_claims(token).and_then(|c| c.get("exp")?.as_i64()) else {
        return false;
    };
    let wait_ms = exp.saturating_mul(1000).saturating_add(150) - crate::jwt::now_ms();
    if wait_ms > MAX_EXPIRY_WAIT_MS {
        return false;
    }
    if wait_ms > 0 {
        std::thread::sleep(Duration::from_millis(wait_ms.unsigned_abs()));
    }
    true
}

/// Why a client call failed, as the application sees it.
#[derive(Debug)]
pub enum CallError {
    /// Every server address failed with an I/O error or timeout.
    NoServer(String),
    /// A non-success HTTP status (no automatic retry).
    Status {
        /// The status.
        status: u16,
        /// Intent sequence number of the failed attempt.
        seq: u64,
    },
    /// Getting a credential failed.
    Auth(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NoServer(e) => write!(f, "no server available: {e}"),
            CallError::Status { status, seq } => {
                write!(f, "REMOTE_SERVER_INNER_EXCEPTION (HTTP {status}, request #{seq})")
            }
            CallError::Auth(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// An answer the client accepted: the parsed JSON body (null if not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Intent sequence number of the attempt whose response this is.
    pub seq: u64,
    /// Parsed body.
    pub json: serde_json::Value,
}

impl Reply {
    /// From a response.
    pub fn new(seq: u64, resp: &Response) -> Self {
        Reply { seq, json: serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null) }
    }

    /// `success` of a PowerJob `ResultDTO`.
    pub fn success(&self) -> bool {
        self.json.get("success").and_then(serde_json::Value::as_bool).unwrap_or(false)
    }

    /// `data` of a PowerJob `ResultDTO`.
    pub fn data(&self) -> &serde_json::Value {
        self.json.get("data").unwrap_or(&serde_json::Value::Null)
    }
}
