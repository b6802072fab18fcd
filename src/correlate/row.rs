//! The correlator's output types: a [`Row`] per reported call, with its [`Label`],
//! [`DoubleExecution`], [`Confidence`] and the [`Cause`] behind a repeat.

use serde::Serialize;

use crate::classify::{Call, Outcome};

/// A row's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    /// First call with its key by its caller in the window.
    Original,
    /// The client's automatic refresh-and-retry.
    AutoRefreshRetry,
    /// A retry after an error or timeout.
    ErrorRetry,
    /// The application sent the same call again.
    GenuineDuplicate,
    /// The evidence cannot decide.
    Ambiguous,
    /// An auth call.
    Auth,
    /// A read (with `--all`).
    Read,
}

impl Label {
    /// All labels in report order.
    pub const ALL: [Label; 7] = [
        Label::Original,
        Label::AutoRefreshRetry,
        Label::ErrorRetry,
        Label::GenuineDuplicate,
        Label::Ambiguous,
        Label::Auth,
        Label::Read,
    ];

    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Label::Original => "original",
            Label::AutoRefreshRetry => "auto-refresh-retry",
            Label::ErrorRetry => "error-retry",
            Label::GenuineDuplicate => "genuine-duplicate",
            Label::Ambiguous => "ambiguous",
            Label::Auth => "auth",
            Label::Read => "read",
        }
    }

    /// Parses a report name.
    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.name() == s.trim())
    }

    /// A repeat of an earlier call?
    pub fn is_repeat(self) -> bool {
        matches!(
            self,
            Label::AutoRefreshRetry | Label::ErrorRetry | Label::GenuineDuplicate | Label::Ambiguous
        )
    }
}

/// Was the work done twice?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoubleExecution {
    /// P's work was done, so M's makes it twice.
    Yes,
    /// P had no effect.
    No,
    /// Cannot tell.
    Unknown,
}

impl DoubleExecution {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            DoubleExecution::Yes => "yes",
            DoubleExecution::No => "no",
            DoubleExecution::Unknown => "unknown",
        }
    }

    /// What P's outcome says about its work: done (`ok`, `ok-unconfirmed`), not done (a
    /// rejection or a client or application error), or unknown.
    pub fn from_outcome(o: Outcome) -> Self {
        match o {
            Outcome::Ok | Outcome::OkUnconfirmed => DoubleExecution::Yes,
            Outcome::Rejected | Outcome::ClientError | Outcome::AppError => DoubleExecution::No,
            _ => DoubleExecution::Unknown,
        }
    }
}

/// Was the deciding response observed?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// The deciding response was observed.
    Confirmed,
    /// Inferred from the pattern (the verdict was not visible).
    Inferred,
}

impl Confidence {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Confirmed => "confirmed",
            Confidence::Inferred => "inferred",
        }
    }
}

/// The known story behind a repeat, for the plain-words diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The first attempt succeeded without the client's marker header (PowerJob 5.1.0 with
    /// auth off, or a proxy dropping the header): executed twice.
    MarkerMissing,
    /// The marker was present in another letter case (a proxy rewrote it; PowerJob #1062).
    MarkerCase,
    /// A genuinely rejected token (expired or invalid): harmless.
    TokenRejected,
    /// The client gave up waiting (its FIN or RST on P's connection, or P still unanswered
    /// in a log) and re-sent, possibly to another server address.
    Timeout,
    /// The server said (HTTP/2 `REFUSED_STREAM`, or `GOAWAY` below P's stream) that it did
    /// not process P: the client re-sent it, harmlessly.
    Refused,
    /// The server closed or reset P's connection without answering; the client's HTTP
    /// library (OkHttp, urllib3, a Node agent) or a proxy re-sent it on a new connection.
    TransportResend,
    /// An error response made the client or application re-send.
    ErrorResponse,
    /// The application sent the call again.
    Application,
    /// P failed with a final error that no client library retries (400, 403, 404, 409,
    /// 422, an application error, a rejection without a refresh): the application re-sent.
    FinalError,
    /// M was sent while P was still unanswered, and the client had not given up on P: two
    /// concurrent calls, or a timeout whose close was not captured.
    Concurrent,
    /// The input cannot show the whole call key (an access log without request bodies):
    /// the two calls may have been different calls.
    KeyIncomplete,
    /// A client retry marker (Idempotency-Key, attempt count) names a retry.
    RetryMarker,
    /// Evidence missing.
    Unknown,
}

/// One report row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// 1-based row id.
    pub id: u64,
    /// The call.
    pub call: Call,
    /// The label.
    pub label: Label,
    /// Row id of P.
    pub repeat_of: Option<u64>,
    /// Row id of the auth call that refreshed the token.
    pub refresh_id: Option<u64>,
    /// Milliseconds from P's request to this one.
    pub gap_ms: Option<f64>,
    /// Was the work done twice (repeats only)?
    pub double_execution: Option<DoubleExecution>,
    /// Confirmed or inferred.
    pub confidence: Confidence,
    /// One sentence naming the deciding facts by row id.
    pub evidence: String,
    /// The known story, for repeats.
    pub cause: Option<Cause>,
    /// The decision-table row that decided (docs/labels.md), for repeats.
    #[serde(skip)]
    pub rule: Option<&'static str>,
}
