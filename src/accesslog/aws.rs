//! AWS access logs: Application Load Balancer and CloudFront (standard logs).
//!
//! Takes nothing; gives the two documented layouts as text formats
//! (docs.aws.amazon.com: "Access logs for your Application Load Balancer", "Standard log
//! file fields" of CloudFront). Fields after the last one used are ignored, so newer
//! versions that append fields still read.
//!
//! - **ALB**: `request_creation_time` is the request START; `time` is when the response
//!   was sent. The duration is the sum of the three processing times (`-1`: that phase did
//!   not happen). `received_bytes` is the request's length; `target:port` and
//!   `target_status_code` the upstream's. Status `460`: the client closed the connection
//!   before the load balancer answered. The request target is absolute
//!   (`http://host:80/path`): the path is kept, the authority becomes the host.
//! - **CloudFront**: tab-separated; `#Version` / `#Fields` lines are skipped by the reader;
//!   `date` + `time` (whole seconds, UTC) are when the edge finished responding: the END,
//!   minus `time-taken`. `cs-bytes` is the request's length; `x-edge-result-type`
//!   `ClientCommError` (status `000`) means the client went away. `cs(Cookie)` is never
//!   kept.

use super::record::FormatError;
use super::text::{Builder, Dialect, Kind, Post, TextFormat, TimeForm};
use super::time::{TimeIs, Unit};

/// The ALB access-log layout.
pub(crate) fn alb() -> Result<TextFormat, FormatError> {
    let iso = |is| Kind::Time(TimeForm::Iso, is);
    let fields: &[(&str, Kind, bool)] = &[
        ("type", Kind::Skip, false),
        ("time", iso(TimeIs::End), false),
        ("elb", Kind::Skip, false),
        ("client:port", Kind::RemoteSocket, false),
        ("target:port", Kind::UpstreamAddr, false),
        ("request_processing_time", Kind::DurationPart(Unit::Seconds), false),
        ("target_processing_time", Kind::DurationPart(Unit::Seconds), false),
        ("response_processing_time", Kind::DurationPart(Unit::Seconds), false),
        ("elb_status_code", Kind::Status, false),
        ("target_status_code", Kind::UpstreamStatus, false),
        ("received_bytes", Kind::RequestLength, false),
        ("sent_bytes", Kind::BodyBytes { dash_is_zero: true }, false),
        ("request", Kind::RequestLine, true),
        ("user_agent", Kind::ReqHeader("User-Agent".into()), true),
        ("ssl_cipher", Kind::Skip, false),
        ("ssl_protocol", Kind::Skip, false),
        ("target_group_arn", Kind::Skip, false),
        ("trace_id", Kind::ReqHeader("X-Amzn-Trace-Id".into()), true),
        ("domain_name", Kind::Skip, true),
        ("chosen_cert_arn", Kind::Skip, true),
        ("matched_rule_priority", Kind::Skip, false),
        ("request_creation_time", iso(TimeIs::Start), false),
    ];
    build(fields, " ", Post::Alb)
}

/// The CloudFront standard log layout.
pub(crate) fn cloudfront() -> Result<TextFormat, FormatError> {
    let t = |f: &str| Kind::Time(TimeForm::Strftime(f.into()), TimeIs::End);
    let h = |n: &str| Kind::ReqHeader(n.into());
    let fields: &[(&str, Kind, bool)] = &[
        ("date", t("%Y-%m-%d"), false),
        ("time", t("%H:%M:%S"), false),
        ("x-edge-location", Kind::Skip, false),
        ("sc-bytes", Kind::BodyBytes { dash_is_zero: true }, false),
        ("c-ip", Kind::RemoteAddr, false),
        ("cs-method", Kind::Method, false),
        ("cs(Host)", Kind::Skip, false),
        ("cs-uri-stem", Kind::Path, false),
        ("sc-status", Kind::Status, false),
        ("cs(Referer)", h("Referer"), false),
        ("cs(User-Agent)", h("User-Agent"), false),
        ("cs-uri-query", Kind::Query { qmark: false }, false),
        ("cs(Cookie)", Kind::Skip, false),
        ("x-edge-result-type", Kind::EdgeResult, false),
        ("x-edge-request-id", h("X-Amz-Cf-Id"), false),
        ("x-host-header", Kind::Host, false),
        ("cs-protocol", Kind::Skip, false),
        ("cs-bytes", Kind::RequestLength, false),
        ("time-taken", Kind::Duration(Unit::Seconds), false),
        ("x-forwarded-for", h("X-Forwarded-For"), false),
        ("ssl-protocol", Kind::Skip, false),
        ("ssl-cipher", Kind::Skip, false),
        ("x-edge-response-result-type", Kind::Skip, false),
        ("cs-protocol-version", Kind::Protocol, false),
        ("fle-status", Kind::Skip, false),
        ("fle-encrypted-fields", Kind::Skip, false),
        ("c-port", Kind::RemotePort, false),
    ];
    build(fields, "\t", Post::CloudFront)
}

fn build(fields: &[(&str, Kind, bool)], sep: &str, post: Post) -> Result<TextFormat, FormatError> {
    let mut b = Builder::new();
    for (i, (label, kind, quoted)) in fields.iter().enumerate() {
        if i > 0 {
            b.lit(sep);
        }
        if *quoted {
            b.lit("\"");
        }
        b.field(kind.clone(), label);
        if *quoted {
            b.lit("\"");
        }
    }
    b.finish(Dialect::Aws, true).map(|f| f.with_post(post))
}
