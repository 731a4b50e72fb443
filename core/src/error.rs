//! An error with its causes on one line, joined with `: ` as Go's wrapped errors read: for logs,
//! panics, and the NACK and refusal texts a peer is meant to read. Errors keep their causes in
//! `source()` (never repeated in their own message), so this is where the whole story is told.

use std::error::Error;
use std::fmt;

/// Displays `err` followed by each of its causes: `format!("{}", Chain(&err))`.
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("loading the CA")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("reading ca.pem")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn every_cause_follows_the_message() {
        let err = Outer(Inner(std::io::Error::other("permission denied")));
        assert_eq!(Chain(&err).to_string(), "loading the CA: reading ca.pem: permission denied");
        let alone = std::io::Error::other("alone");
        assert_eq!(Chain(&alone).to_string(), "alone");
    }
}
