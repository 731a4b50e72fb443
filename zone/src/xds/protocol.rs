//! `kuma.io/protocol`: what an inbound speaks, and the protocol an outbound uses towards the
//! endpoints of a service (reference §11). Unknown or missing values are `tcp`, as in Kuma.

use std::collections::BTreeMap;

/// The tag that says what an inbound speaks.
pub const PROTOCOL_TAG: &str = "kuma.io/protocol";

/// The protocols the generator treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Opaque bytes (also every unknown value, and `kafka`, which has no filter here).
    Tcp,
    /// HTTP/1.1.
    Http,
    /// HTTP/2.
    Http2,
    /// gRPC (HTTP/2 with gRPC statistics).
    Grpc,
}

impl Protocol {
    /// The protocol an inbound with `tags` speaks.
    pub fn of(tags: &BTreeMap<String, String>) -> Self {
        match tags.get(PROTOCOL_TAG).map(String::as_str) {
            Some("http") => Self::Http,
            Some("http2") => Self::Http2,
            Some("grpc") => Self::Grpc,
            _ => Self::Tcp,
        }
    }

    /// Whether traffic goes through the HTTP connection manager.
    pub fn is_http(self) -> bool {
        !matches!(self, Self::Tcp)
    }

    /// The protocol both sides can use: equal ones stay, HTTP/1 with HTTP/2 is HTTP/1 (an HTTP/2
    /// endpoint behind Envoy also accepts HTTP/1), anything else falls back to TCP.
    pub fn common(self, other: Self) -> Self {
        match (self, other) {
            (a, b) if a == b => a,
            (Self::Http, Self::Http2) | (Self::Http2, Self::Http) => Self::Http,
            _ => Self::Tcp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(protocol: &str) -> BTreeMap<String, String> {
        [(PROTOCOL_TAG.to_owned(), protocol.to_owned())].into()
    }

    #[test]
    fn unknown_and_missing_protocols_are_tcp() {
        assert_eq!(Protocol::of(&tags("http")), Protocol::Http);
        assert_eq!(Protocol::of(&tags("grpc")), Protocol::Grpc);
        assert_eq!(Protocol::of(&tags("mongo")), Protocol::Tcp);
        assert_eq!(Protocol::of(&tags("kafka")), Protocol::Tcp);
        assert_eq!(Protocol::of(&BTreeMap::new()), Protocol::Tcp);
    }

    #[test]
    fn common_protocol_follows_kuma() {
        assert_eq!(Protocol::Http.common(Protocol::Http2), Protocol::Http);
        assert_eq!(Protocol::Grpc.common(Protocol::Grpc), Protocol::Grpc);
        assert_eq!(Protocol::Grpc.common(Protocol::Http2), Protocol::Tcp);
        assert_eq!(Protocol::Http.common(Protocol::Tcp), Protocol::Tcp);
    }
}
