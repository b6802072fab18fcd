//! A generic OAuth2 bearer client (the `oauth2-bearer` profile), shaped like an OkHttp
//! `Authenticator`: client-credentials grant at `/oauth/token`, `Authorization: Bearer`, and on
//! `401` with `WWW-Authenticate: Bearer error="invalid_token"` one refresh and one replay
//! (RFC 6750 section 3.1). With an application-chosen `Idempotency-Key`, a `503` is retried once
//! with the same key (a retry interceptor: the key makes the POST safe to repeat).

use crate::client::{CallError, Reply, Transport};
use crate::http::{self, Response};
use crate::intent::{Attempt, Cause, IntentLog, Outcome, Role};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The User-Agent of this client (a newer OkHttp with an `Authenticator`).
const UA: &str = "okhttp/4.12.0";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest back-off before a `503` retry, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_millis(300);

fn classify(resp: &Response) -> Outcome {
    match resp.status {
        200..=299 => Outcome::Ok,
        401 | 407 => Outcome::Rejected,
        500..=599 => Outcome::ServerError,
        _ => Outcome::ClientError,
    }
}

fn is_invalid_token(resp: &Response) -> bool {
    resp.status == 401 && resp.headers.get("WWW-Authenticate").is_some_and(|v| v.contains("invalid_token"))
}

/// An OAuth2 client-credentials API client.
#[derive(Debug)]
pub struct OAuth2Client {
    client_id: String,
    client_secret: String,
    server: SocketAddr,
    token: Mutex<Option<String>>,
    transport: Transport,
    intent: Arc<IntentLog>,
}

impl OAuth2Client {
    /// A client; the first call fetches a token.
    pub fn new(client_id: &str, client_secret: &str, server: SocketAddr, intent: Arc<IntentLog>) -> Self {
        OAuth2Client {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            server,
            token: Mutex::new(None),
            transport: Transport::new(TIMEOUT, UA),
            intent,
        }
    }

    /// The current access token.
    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn attempt(&self, path: &str, ct: &str, body: String, role: Role, cause: Cause, why: String) -> Attempt {
        Attempt {
            client: self.client_id.clone(),
            app_id: Value::from(self.client_id.clone()),
            server: self.server,
            method: "POST".into(),
            path: path.into(),
            content_type: ct.into(),
            body,
            role,
            cause,
            why,
        }
    }

    /// `POST /oauth/token` with `grant_type=client_credentials`.
    pub fn fetch_token(&self, why: &str) -> Result<String, CallError> {
        let body = http::form_body(&[
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("client_secret", self.client_secret.clone()),
        ]);
        let attempt = self.attempt(
            "/oauth/token",
            "application/x-www-form-urlencoded",
            body,
            Role::Auth,
            Cause::App,
            why.into(),
        );
        let sent = self.transport.send(&self.intent, attempt, &[], &classify);
        let resp = sent.result.map_err(|e| CallError::NoServer(format!("{}: {e}", self.server)))?;
        let reply = Reply::new(sent.seq.unwrap_or(0), &resp);
        let token = reply
            .json
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|_| resp.status == 200)
            .ok_or_else(|| CallError::Auth(format!("token request failed: HTTP {}", resp.status)))?
            .to_string();
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        Ok(token)
    }

    fn send_json(
        &self,
        path: &str,
        json: &str,
        key: Option<&str>,
        cause: Cause,
        why: String,
    ) -> Result<(u64, Response), CallError> {
        let mut headers = vec![("Authorization", format!("Bearer {}", self.token().unwrap_or_default()))];
        if let Some(k) = key {
            headers.push(("Idempotency-Key", k.to_string()));
        }
        let attempt = self.attempt(
            path,
            "application/json; charset=utf-8",
            json.to_string(),
            Role::Mutation,
            cause,
            why,
        );
        let sent = self.transport.send(&self.intent, attempt, &headers, &classify);
        let resp = sent.result.map_err(|e| CallError::NoServer(format!("{}: {e}", self.server)))?;
        Ok((sent.seq.unwrap_or(0), resp))
    }

    /// `POST path` with a JSON body (a mutation), refreshing and replaying once on
    /// `invalid_token`, and retrying a `503` once when the application gave an idempotency key.
    pub fn post_json(
        &self,
        path: &str,
        json: &str,
        idempotency_key: Option<&str>,
        why: &str,
    ) -> Result<Reply, CallError> {
        if self.token().is_none() {
            self.fetch_token("First call of this client: client_credentials grant at /oauth/token.")?;
        }
        let (mut seq, mut resp) = self.send_json(path, json, idempotency_key, Cause::App, why.to_string())?;
        if is_invalid_token(&resp) {
            self.fetch_token(&format!(
                "The Authenticator refreshes the token because #{seq} got 401 with \
                 WWW-Authenticate: Bearer error=\"invalid_token\"."
            ))?;
            (seq, resp) = self.send_json(
                path,
                json,
                idempotency_key,
                Cause::RefreshRetry { of: seq },
                format!(
                    "The Authenticator replayed #{seq} with the new bearer token after 401 \
                     invalid_token (the server never ran #{seq})."
                ),
            )?;
        }
        if resp.status == 503 {
            if let Some(key) = idempotency_key {
                let wait = resp
                    .headers
                    .get("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(MAX_BACKOFF, |s| Duration::from_secs(s).min(MAX_BACKOFF));
                std::thread::sleep(wait);
                (seq, resp) = self.send_json(
                    path,
                    json,
                    Some(key),
                    Cause::ErrorRetry { of: seq },
                    format!(
                        "The client retried #{seq} after 503 Service Unavailable with the same \
                         Idempotency-Key {key}: a retry, not a new call."
                    ),
                )?;
            }
        }
        if !(200..300).contains(&resp.status) {
            return Err(CallError::Status { status: resp.status, seq });
        }
        Ok(Reply::new(seq, &resp))
    }
}
