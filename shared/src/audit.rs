//! The audit log: one JSON object per line, appended, never rewritten.
//!
//! It records who was given a credential (never the credential itself), which keys and CAs were
//! created, who touched a secret, and every authentication failure with its reason and source.
//! Writes are synchronous and small (one `write` of one line on a file opened with `O_APPEND`), so
//! lines from concurrent writers never interleave and a crash loses at most the line being written.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Failure to open the audit log.
#[derive(Debug, thiserror::Error)]
#[error("could not open the audit log {path}")]
pub struct Error {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// Something worth an audit line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Event {
    /// A token was issued.
    TokenIssued {
        /// `dataplane`, `zone` or `user`.
        kind: &'static str,
        /// Who asked for it (user name).
        issuer: String,
        /// Who it is for: dataplane name, zone name or user name.
        subject: String,
        /// Mesh of a dataplane token.
        #[serde(skip_serializing_if = "Option::is_none")]
        mesh: Option<String>,
        /// The token's id, which revocation lists name.
        jti: String,
        /// `kid` of the signing key.
        kid: String,
        /// Start of validity (RFC 3339).
        not_before: String,
        /// End of validity (RFC 3339).
        expires: String,
    },
    /// A signing key was created.
    SigningKeyCreated {
        /// The (Global)Secret name.
        name: String,
        /// Mesh of a dataplane token key.
        #[serde(skip_serializing_if = "Option::is_none")]
        mesh: Option<String>,
    },
    /// A mesh CA was created.
    CaCreated {
        /// The mesh.
        mesh: String,
        /// The mTLS backend.
        backend: String,
    },
    /// A secret was created, updated, read or deleted through the API.
    Secret {
        /// `create`, `update`, `read`, `list` or `delete`.
        action: &'static str,
        /// `Secret` or `GlobalSecret`.
        kind: &'static str,
        /// The mesh of a Secret.
        #[serde(skip_serializing_if = "Option::is_none")]
        mesh: Option<String>,
        /// The secret name (`*` for a list).
        name: String,
        /// Who did it.
        user: String,
        /// From where.
        source: String,
    },
    /// A credential was rejected.
    AuthFailed {
        /// `user`, `dataplane`, `zone`.
        subject: &'static str,
        /// Short reason label, as counted in metrics.
        reason: &'static str,
        /// The full error text.
        detail: String,
        /// Peer address.
        source: String,
    },
    /// A request was refused by authorization.
    AccessDenied {
        /// Who.
        user: String,
        /// What they tried.
        action: String,
        /// From where.
        source: String,
    },
    /// A listener closed connections from an address its allowlist does not admit. Written at
    /// most once per second per listener, so a flood cannot fill the disk.
    ConnectionRefused {
        /// The listener's fixed name, e.g. `kds`.
        listener: &'static str,
        /// Peer address of the refusal that triggered this line.
        source: String,
        /// Refusals on this listener since the previous line that got no line of their own.
        suppressed: u64,
    },
    /// A listener turned a client away for going over its per-address limits. Written at most
    /// once per second per listener, like `ConnectionRefused`.
    RateLimited {
        /// The listener's fixed name, e.g. `dp-server` or `api-tokens`.
        listener: &'static str,
        /// Peer address of the refusal that triggered this line.
        source: String,
        /// `rate` (too many new ones) or `concurrency` (too many open at once).
        reason: &'static str,
        /// Refusals on this listener since the previous line that got no line of their own.
        suppressed: u64,
    },
}

/// Where audit lines go. Cloning is cheap; clones share the file.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<Mutex<Sink>>,
}

enum Sink {
    File(File),
    Memory(Vec<Value>),
}

impl AuditLog {
    /// Opens (creating, mode 0600) the log file for appending.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error { path: path.to_owned(), source })?;
        Ok(Self { sink: Arc::new(Mutex::new(Sink::File(file))) })
    }

    /// A log kept in memory, for tests.
    pub fn memory() -> Self {
        Self { sink: Arc::new(Mutex::new(Sink::Memory(Vec::new()))) }
    }

    /// Appends one event, stamped with the current time. A failed write is logged, never fatal:
    /// refusing service because the audit disk is full would hand attackers an off switch.
    pub fn record(&self, event: Event) {
        let mut line = Map::new();
        let time = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        line.insert("time".to_owned(), json!(time));
        if let Ok(Value::Object(fields)) = serde_json::to_value(&event) {
            line.extend(fields);
        }
        let line = Value::Object(line);
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *sink {
            Sink::File(file) => {
                let mut bytes = line.to_string().into_bytes();
                bytes.push(b'\n');
                if let Err(err) = file.write_all(&bytes) {
                    tracing::error!(%err, "could not write the audit log");
                }
            }
            Sink::Memory(lines) => lines.push(line),
        }
    }

    /// The events recorded so far by a [`AuditLog::memory`] log (empty for a file).
    pub fn recorded(&self) -> Vec<Value> {
        match &*self.sink.lock().unwrap_or_else(PoisonError::into_inner) {
            Sink::Memory(lines) => lines.clone(),
            Sink::File(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_as_json_with_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.record(Event::SigningKeyCreated { name: "k-1".into(), mesh: None });
        drop(log);
        let log = AuditLog::open(&path).unwrap();
        log.record(Event::AuthFailed {
            subject: "user",
            reason: "expired",
            detail: "token expired".into(),
            source: "127.0.0.1:1".into(),
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "signingKeyCreated");
        assert_eq!(lines[1]["event"], "authFailed");
        assert_eq!(lines[1]["reason"], "expired");
        assert!(lines[1]["time"].as_str().unwrap().ends_with('Z'));
        let mode = std::fs::metadata(&path).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
    }
}
