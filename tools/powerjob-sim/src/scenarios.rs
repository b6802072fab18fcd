//! The scenarios: one story each, a server set-up plus a scripted application.
//!
//! Scripts are reactive: they call the clients, and the clients decide (like the real ones)
//! whether to refresh, fail over or give up, so the intent log records what really happened
//! even when `powerjob-sim client` points a script at servers configured differently.

use crate::client::{Rendezvous, sleep_until_expired};
use crate::intent::IntentLog;
use crate::oauth2_client::OAuth2Client;
use crate::powerjob_client::{SaveJobRequest, V4Client, V5Client, V5Options};
use crate::server::{APPS, Mode, OAUTH_CLIENTS, ServerConfig};
use anyhow::{Context, Result, anyhow, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What a script gets: the server addresses (in the scenario's order) and the intent log.
#[derive(Debug)]
pub struct Env {
    /// Server addresses.
    pub servers: Vec<SocketAddr>,
    /// Where clients record what they send.
    pub intent: Arc<IntentLog>,
}

impl Env {
    /// The `i`-th server address.
    pub fn addr(&self, i: usize) -> Result<SocketAddr> {
        self.servers.get(i).copied().ok_or_else(|| {
            anyhow!("this scenario needs at least {} server address(es), got {}", i + 1, self.servers.len())
        })
    }
}

/// One scenario.
#[derive(Debug)]
pub struct Scenario {
    /// Name on the command line.
    pub name: &'static str,
    /// The story, one sentence.
    pub story: &'static str,
    /// The labels the intent log should show for the mutations.
    pub expect: &'static str,
    /// The servers to start (their addresses reach the script in this order).
    pub servers: fn() -> Vec<ServerConfig>,
    /// The application.
    pub script: fn(&Env) -> Result<()>,
}

/// Every scenario, in `list` order.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "v5-expired-token",
        story: "Auth on, 1 s tokens: disableJob with an expired token is rejected (-403), the \
                client calls authApp and re-sends: a harmless retry.",
        expect: "saveJob original; disableJob original (rejected) -> auto-refresh-retry, \
                 double_execution=no",
        servers: || vec![ServerConfig::new("pj-510-auth", Mode::V510).auth(true).ttl_ms(1000)],
        script: expired_token,
    },
    Scenario {
        name: "v5-510-auth-off",
        story: "The 5.1.0 bug: auth off, no X-POWERJOB-AUTH-PASSED header, so saveJob and runJob \
                each succeed and are re-sent: executed twice.",
        expect: "saveJob original -> auto-refresh-retry (double_execution=yes); runJob \
                 original -> auto-refresh-retry (yes)",
        servers: || vec![ServerConfig::new("pj-510", Mode::V510)],
        script: auth_off_510,
    },
    Scenario {
        name: "v5-proxy-lowercase",
        story: "A 5.1.1 server sends the verdict, but a proxy lowercases it to \
                x-powerjob-auth-passed; the client misses it and re-sends: executed twice.",
        expect: "saveJob original -> auto-refresh-retry (yes); fetchJob read re-sent too (no \
                 label)",
        servers: || vec![ServerConfig::new("pj-511-behind-proxy", Mode::Fixed).auth(true).lowercase()],
        script: proxy_lowercase,
    },
    Scenario {
        name: "v5-fixed-double-submit",
        story: "A fixed (5.1.1) server, auth off: the application itself submits the same saveJob \
                twice.",
        expect: "saveJob original -> genuine-duplicate (yes)",
        servers: || vec![ServerConfig::new("pj-511", Mode::Fixed)],
        script: fixed_double_submit,
    },
    Scenario {
        name: "v5-duplicate-straddles-refresh",
        story: "runJob succeeds; the token expires; the application sends the same runJob again, \
                it is rejected, the client refreshes and retries.",
        expect: "runJob original; runJob genuine-duplicate (yes, rejected); runJob \
                 auto-refresh-retry (no)",
        servers: || vec![ServerConfig::new("pj-511-auth", Mode::Fixed).auth(true).ttl_ms(1000)],
        script: straddles_refresh,
    },
    Scenario {
        name: "v5-concurrent-shared-refresh",
        story: "Two threads of one client disable two jobs with an expired token; both are \
                rejected and share one authApp refresh.",
        expect: "disableJob(11) original, disableJob(12) original, one auth, then two \
                 auto-refresh-retry (no), each paired with its own attempt",
        servers: || vec![ServerConfig::new("pj-511-auth", Mode::Fixed).auth(true).ttl_ms(1000)],
        script: concurrent_shared_refresh,
    },
    Scenario {
        name: "v5-two-apps",
        story: "Two applications (appId 1 and 2) on one host send the same calls, interleaved: \
                bodies differ only in appId, so there are no cross-app duplicates.",
        expect: "every mutation original",
        servers: || vec![ServerConfig::new("pj-511-auth", Mode::Fixed).auth(true)],
        script: two_apps,
    },
    Scenario {
        name: "v5-timeout-failover",
        story: "Two server addresses; the first runs runJob but answers after 3 s, the client \
                times out at 2 s and re-sends to the second: both execute.",
        expect: "runJob original (no-response) -> error-retry to the second server (yes)",
        servers: || {
            vec![
                ServerConfig::new("pj-511-a-slow", Mode::Fixed).slow("/openApi/runJob", 3000),
                ServerConfig::new("pj-511-b", Mode::Fixed),
            ]
        },
        script: timeout_failover,
    },
    Scenario {
        name: "v5-server-error-app-retry",
        story: "runJob gets HTTP 500 after the instance was already created; the client throws, \
                the application re-sends.",
        expect: "runJob original (server-error) -> error-retry (yes by the server log; \
                 undecidable from traffic)",
        servers: || vec![ServerConfig::new("pj-511", Mode::Fixed).fault("/openApi/runJob", 1, 500, true)],
        script: server_error_app_retry,
    },
    Scenario {
        name: "v4-assert-double-submit",
        story: "A 4.3 client: /openApi/assert with the plain password, no token, then the \
                application runs a job twice.",
        expect: "saveJob original; runJob original -> genuine-duplicate (yes)",
        servers: || vec![ServerConfig::new("pj-439", Mode::V4)],
        script: v4_double_submit,
    },
    Scenario {
        name: "oauth2-refresh-retry",
        story: "OAuth2 bearer API: an expired token gets 401 invalid_token, the client fetches a \
                new token at /oauth/token and replays.",
        expect: "order A original; order B original (rejected) -> auto-refresh-retry (no)",
        servers: || vec![ServerConfig::new("orders-api", Mode::OAuth2).ttl_ms(1000)],
        script: oauth2_refresh_retry,
    },
    Scenario {
        name: "oauth2-idempotency-key",
        story: "A 503 is retried with the same Idempotency-Key; then the application sends the \
                same order with a new key.",
        expect: "order original (503) -> error-retry, same key (no); then genuine-duplicate with \
                 a new key (yes)",
        servers: || vec![ServerConfig::new("orders-api", Mode::OAuth2).fault("/api/orders", 1, 503, false)],
        script: oauth2_idempotency_key,
    },
];

/// Looks a scenario up by name.
pub fn find(name: &str) -> Result<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        anyhow!("unknown scenario {name:?}; known: {}", names.join(", "))
    })
}

/// Waits for `token` to expire, or says why the story will differ.
fn wait_for_expiry(token: Option<String>) {
    if !sleep_until_expired(&token.unwrap_or_default()) {
        eprintln!(
            "powerjob-sim: note: the token does not expire within 10 s (long token lifetime?); \
             continuing, the calls will not be rejected"
        );
    }
}

fn v5(env: &Env, app: usize, addrs: Vec<SocketAddr>, opts: V5Options) -> Result<V5Client> {
    let app = APPS.get(app).context("no such app")?;
    V5Client::new(app.name, app.password, addrs, env.intent.clone(), opts)
        .with_context(|| format!("PowerJobClient({}) constructor failed", app.name))
}

fn job_id(reply: &crate::client::Reply) -> String {
    reply.data().as_i64().map_or_else(|| "0".to_string(), |id| id.to_string())
}

fn expired_token(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options::default())?;
    let saved = c.save_job(
        &SaveJobRequest::new("nightly-report", c.app_id()),
        "The application creates a job while its token is fresh.",
    )?;
    wait_for_expiry(c.token());
    c.form(
        "disableJob",
        vec![("jobId", job_id(&saved))],
        "The application disables the job once; its token expired a moment ago.",
    )?;
    Ok(())
}

fn auth_off_510(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options::default())?;
    let saved =
        c.save_job(&SaveJobRequest::new("daily-settlement", c.app_id()), "The application saves one job.")?;
    c.form(
        "runJob",
        vec![("jobId", job_id(&saved)), ("delay", "0".into())],
        "The application runs the job id it got back, once.",
    )?;
    Ok(())
}

fn proxy_lowercase(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options::default())?;
    let saved = c.save_job(
        &SaveJobRequest::new("hourly-sync", c.app_id()),
        "The application saves one job through a proxy that lowercases response headers.",
    )?;
    c.form(
        "fetchJob",
        vec![("jobId", job_id(&saved))],
        "The application reads the job back (a read: re-sent as well, but harmless).",
    )?;
    Ok(())
}

fn fixed_double_submit(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options::default())?;
    let job = SaveJobRequest::new("invoice-export", c.app_id());
    c.save_job(&job, "The application submits the job form.")?;
    thread::sleep(Duration::from_millis(250));
    c.save_job(
        &job,
        "The user clicked submit again and the application sent the same saveJob a second time.",
    )?;
    Ok(())
}

fn straddles_refresh(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options::default())?;
    let fields = || vec![("jobId", "7".to_string()), ("delay", "0".into())];
    c.form("runJob", fields(), "The application runs job 7.")?;
    wait_for_expiry(c.token());
    c.form(
        "runJob",
        fields(),
        "The application runs job 7 again (a second trigger of its own), after the token expired.",
    )?;
    Ok(())
}

fn concurrent_shared_refresh(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options { share_refresh: true })?;
    wait_for_expiry(c.token());
    // Both rejections arrive before the one refresh; both threads start together.
    c.set_rendezvous(Some(Arc::new(Rendezvous::new(2, Duration::from_secs(3)))));
    let start = Rendezvous::new(2, Duration::from_secs(3));
    let results: Vec<Result<()>> = thread::scope(|s| {
        let handles: Vec<_> = ["11", "12"]
            .into_iter()
            .enumerate()
            .map(|(i, job)| {
                let (c, start) = (&c, &start);
                s.spawn(move || -> Result<()> {
                    start.wait();
                    c.form(
                        "disableJob",
                        vec![("jobId", job.to_string())],
                        &format!(
                            "Thread {} of the application disables job {job} with the (expired) \
                             token it shares with thread {}.",
                            i + 1,
                            2 - i
                        ),
                    )?;
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a client thread panicked"))))
            .collect()
    });
    c.set_rendezvous(None);
    results.into_iter().collect()
}

fn two_apps(env: &Env) -> Result<()> {
    let addr = env.addr(0)?;
    let step = Rendezvous::new(2, Duration::from_secs(5));
    let results: Vec<Result<()>> = thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|app| {
                let step = &step;
                s.spawn(move || -> Result<()> {
                    // The second app trails by a few ms so the calls interleave a, b, a, b.
                    let stagger = Duration::from_millis(40 * app as u64);
                    let c = v5(env, app, vec![addr], V5Options::default())?;
                    step.wait();
                    thread::sleep(stagger);
                    c.save_job(
                        &SaveJobRequest::new("nightly-report", c.app_id()),
                        &format!(
                            "{} saves the same job definition as the other app, with its own \
                             appId.",
                            c.app_name()
                        ),
                    )?;
                    step.wait();
                    thread::sleep(stagger);
                    c.form(
                        "disableJob",
                        vec![("jobId", "100".into())],
                        &format!("{} disables job 100 in its own app (appId {}).", c.app_name(), c.app_id()),
                    )?;
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a client thread panicked"))))
            .collect()
    });
    results.into_iter().collect()
}

fn timeout_failover(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?, env.addr(1)?], V5Options::default())?;
    c.form("runJob", vec![("jobId", "7".into()), ("delay", "0".into())], "The application runs job 7 once.")?;
    Ok(())
}

fn server_error_app_retry(env: &Env) -> Result<()> {
    let c = v5(env, 0, vec![env.addr(0)?], V5Options::default())?;
    let fields = || vec![("jobId", "7".to_string()), ("delay", "0".into())];
    if c.form("runJob", fields(), "The application runs job 7.").is_err() {
        c.form(
            "runJob",
            fields(),
            "The application caught REMOTE_SERVER_INNER_EXCEPTION (HTTP 500) and re-sent runJob \
             once; whether the failed attempt ran cannot be decided from the traffic.",
        )?;
    }
    Ok(())
}

fn v4_double_submit(env: &Env) -> Result<()> {
    let app = APPS[0];
    let c = V4Client::new(app.name, app.password, vec![env.addr(0)?], env.intent.clone())
        .context("PowerJobClient 4.3 constructor failed")?;
    let saved = c.request(
        "saveJob",
        SaveJobRequest::new("report-v4", c.app_id()).body(),
        "The application saves a job.",
    )?;
    if !saved.success() {
        bail!("saveJob failed: {}", saved.json);
    }
    let fields = || vec![("jobId", job_id(&saved)), ("delay", "0".into())];
    c.form("runJob", fields(), "The application runs the job.")?;
    thread::sleep(Duration::from_millis(200));
    c.form("runJob", fields(), "The application's own click handler ran the job a second time.")?;
    Ok(())
}

fn oauth2_refresh_retry(env: &Env) -> Result<()> {
    let (id, secret) = OAUTH_CLIENTS[0];
    let c = OAuth2Client::new(id, secret, env.addr(0)?, env.intent.clone());
    c.post_json("/api/orders", r#"{"sku":"A-1","qty":1}"#, None, "The application creates order A-1.")?;
    wait_for_expiry(c.token());
    c.post_json(
        "/api/orders",
        r#"{"sku":"B-2","qty":2}"#,
        None,
        "The application creates order B-2 after its token expired.",
    )?;
    Ok(())
}

fn oauth2_idempotency_key(env: &Env) -> Result<()> {
    let (id, secret) = OAUTH_CLIENTS[0];
    let c = OAuth2Client::new(id, secret, env.addr(0)?, env.intent.clone());
    let body = r#"{"sku":"C-3","qty":1}"#;
    let (k1, k2) = (crate::jwt::uuid4(), crate::jwt::uuid4());
    c.post_json(
        "/api/orders",
        body,
        Some(&k1),
        &format!("The application creates order C-3 with Idempotency-Key {k1}."),
    )?;
    c.post_json(
        "/api/orders",
        body,
        Some(&k2),
        &format!(
            "The application creates the same order again with a new Idempotency-Key {k2}: a \
             second call of its own."
        ),
    )?;
    Ok(())
}
