//! Flags shared by the commands: limits, fingerprint key, verbosity.

use anyhow::Context;
use dupcall::capture::pipeline::Options;
use dupcall::capture::reassembly::Limits;
use dupcall::diag::Warning;
use dupcall::http::HttpConfig;
use dupcall::profile::duration_text;
use dupcall::redact::Redactor;
use dupcall::tls::KeyMaterial;

/// Resource limits (each reached limit is a warning naming its flag).
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// Open TCP connections at most; the least recently active are closed early beyond it.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_conns: usize,
    /// Out-of-order bytes buffered per connection direction.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_buffer: usize,
    /// Out-of-order bytes buffered over all connections.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_buffer_total: usize,
    /// Requests waiting for a response per connection.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_pipeline: usize,
    /// The longest HTTP message head.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 10)]
    pub max_head: usize,
    /// Body bytes kept per message for classification.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 10)]
    pub body_cap: usize,
    /// Close a connection silent this long (capture time), e.g. 300s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = duration_text::parse)]
    pub idle_timeout: std::time::Duration,
}

impl LimitArgs {
    pub fn options(&self) -> Options {
        Options {
            limits: Limits {
                max_conns: self.max_conns.max(1),
                max_buffer_per_dir: self.max_buffer,
                max_buffer_total: self.max_buffer_total,
                idle_timeout_ns: self.idle_timeout.as_nanos().min(i64::MAX as u128) as i64,
            },
            http: HttpConfig {
                body_cap: self.body_cap,
                max_head: self.max_head.max(64),
                max_pipeline: self.max_pipeline.max(1),
            },
        }
    }
}

/// TLS key logs (docs/tls.md).
#[derive(clap::Args, Debug, Clone)]
pub struct KeylogArgs {
    /// A TLS key log (SSLKEYLOGFILE format) to decrypt HTTPS with; repeatable. The file
    /// named by the SSLKEYLOGFILE environment variable is read too, and a pcapng's own
    /// Decryption Secrets Blocks are used with no flag. Keys are never printed.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylog: Vec<String>,
}

impl KeylogArgs {
    /// Reads every key log: `--keylog` files must be readable; an unreadable
    /// SSLKEYLOGFILE is a note on stderr (it is often set for a browser, not this capture).
    pub fn material(&self, quiet: bool) -> anyhow::Result<KeyMaterial> {
        let mut keys = KeyMaterial::default();
        for path in &self.keylog {
            let text =
                std::fs::read(path).with_context(|| format!("--keylog {path}: cannot read the key log"))?;
            keys.load(path, &text);
        }
        if let Some(path) = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty()) {
            let shown = path.to_string_lossy().into_owned();
            match std::fs::read(&path) {
                Ok(text) => keys.load(&format!("{shown} (SSLKEYLOGFILE)"), &text),
                Err(e) if !quiet => {
                    eprintln!("dupcall: SSLKEYLOGFILE={shown} cannot be read ({e}); it is not used")
                }
                Err(_) => {}
            }
        }
        Ok(keys)
    }
}

/// Output verbosity and redaction key.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs {
    /// Key for token fingerprints, to get the same fingerprints in every run (tokens are
    /// never written in clear either way).
    #[arg(long, value_name = "KEY")]
    pub fingerprint_key: Option<String>,
    /// Print each warning on stderr as it happens.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print nothing on stderr but errors.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print throughput figures (bytes/s, packets, connections, exchanges) on stderr.
    #[arg(long)]
    pub stats: bool,
}

impl OutputArgs {
    pub fn redactor(&self, extra_secrets: &[String]) -> Redactor {
        let r = match &self.fingerprint_key {
            Some(k) => Redactor::with_key(k),
            None => Redactor::random(),
        };
        r.with_extra_secret_names(extra_secrets)
    }
}

/// Prints one warning line (details never hold payload bytes; scrubbed anyway).
pub fn echo_warning(w: &Warning) {
    thread_local! {
        static SCRUB: Redactor = Redactor::random();
    }
    let line = SCRUB.with(|r| r.text(&w.detail));
    let at = match w.origin {
        Some(dupcall::exchange::Origin::Frame(n)) => format!(" frame {n}"),
        Some(dupcall::exchange::Origin::Line(n)) => format!(" line {n}"),
        Some(dupcall::exchange::Origin::Entry(n)) => format!(" entry {n}"),
        None => String::new(),
    };
    let conn = w.conn.map(|c| format!(" conn {c}")).unwrap_or_default();
    eprintln!("dupcall: warning [{}] input {}{at}{conn}: {line}", w.kind, w.input + 1);
}
