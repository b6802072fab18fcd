//! gRPC over HTTP/2: an [`Exchange`] in, its gRPC facts out.
//!
//! A gRPC call is an HTTP/2 request with `content-type: application/grpc` (or
//! `application/grpc+proto`, `+json`…); its method is the `:path`
//! (`/package.Service/Method`); its status is `grpc-status`, sent in the trailers, or in
//! the only header block of a Trailers-Only response ([`stream`](super::stream) appends
//! trailers to the response head, so both read the same). `grpc-previous-rpc-attempts`
//! stays a request header: the client library's retry count, a retry marker.

use crate::exchange::{Exchange, Head};

/// `grpc-status` UNAVAILABLE: the code gRPC retry policies retry by default.
pub const UNAVAILABLE: u32 = 14;

/// Is this head a gRPC message (`content-type: application/grpc*`)?
pub fn is_grpc(head: &Head) -> bool {
    head.header("content-type").is_some_and(|v| {
        let v = v.trim_ascii();
        v.len() >= 16
            && v[..16].eq_ignore_ascii_case(b"application/grpc")
            && matches!(v.get(16), None | Some(b'+' | b';'))
    })
}

/// The gRPC method of a call: `Service/Method` split off the `:path`.
pub fn method(ex: &Exchange) -> Option<(&str, &str)> {
    let req = ex.request.as_ref()?;
    if !is_grpc(&req.head) {
        return None;
    }
    req.head.uri().strip_prefix('/')?.split_once('/')
}

/// The call's `grpc-status`, from the trailers or a Trailers-Only response.
pub fn status(ex: &Exchange) -> Option<u32> {
    let resp = ex.response.as_ref()?;
    resp.head.header_str("grpc-status")?.parse().ok()
}

/// The client's `grpc-previous-rpc-attempts` (retries before this attempt), if sent.
pub fn previous_attempts(ex: &Exchange) -> Option<u32> {
    ex.request.as_ref()?.head.header_str("grpc-previous-rpc-attempts")?.parse().ok()
}
