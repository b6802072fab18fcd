//! HTTP/1.x: reassembled byte streams in, [`Exchange`](crate::exchange::Exchange)s out.
//!
//! [`head`] and [`body`] are pure parsers (bytes in, a head or body bytes out); [`conn`]
//! holds the per-connection state (pending requests, pairing, gaps, resynchronisation);
//! [`decode`] undoes `Content-Encoding` for inspection, with caps; [`order`] gives the
//! exchanges in request order; [`sniff`] tells from first bytes whether a payload starts
//! like a request or a response.

pub mod body;
pub mod conn;
pub mod decode;
pub mod form;
pub mod head;
pub mod lenient;
pub mod order;
pub mod sniff;

pub use conn::{HttpConfig, HttpConn, HttpHandler, HttpStats, ORDER_CAP};

/// Which messages a direction of a connection carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Requests (client to server).
    Request = 0,
    /// Responses (server to client).
    Response = 1,
}

impl Role {
    /// `"request"` or `"response"`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Request => "request",
            Role::Response => "response",
        }
    }
}
