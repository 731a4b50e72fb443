//! Keeps a [`ReloadingCert`] in step with its certificate and key files.
//!
//! The watch is on the files' directories, not the files: tools replace certificates by renaming
//! a new file over the old one (and Kubernetes by swapping a `..data` symlink), which a watch on
//! the old inode would never see. A change of a file with the certificate's or the key's name, or
//! of a Kubernetes `..` entry, triggers a reload attempt (other files of the directory, such as a
//! database in the work dir, do not); a pair that does not load (half written, or the key not yet
//! replaced) is logged and the current certificate stays. This file must not decide where the
//! files are; callers pass paths.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kuma_core::error::Chain;
use kuma_core::tls::{ReloadingCert, load_pair};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::Error;

/// Stops watching when dropped.
#[derive(Debug)]
pub struct WatchHandle {
    _watcher: RecommendedWatcher,
}

/// Reloads `target` from `cert` and `key` whenever something in their directories changes.
///
/// Reloads run on the watcher's own thread (file reads and a key check, no async work).
pub fn watch_cert_files(
    cert: PathBuf,
    key: PathBuf,
    target: Arc<ReloadingCert>,
) -> Result<WatchHandle, Error> {
    let dirs: BTreeSet<PathBuf> = [&cert, &key].into_iter().map(|p| parent(p)).collect();
    let names: Vec<OsString> =
        [&cert, &key].into_iter().filter_map(|p| p.file_name()).map(OsStr::to_owned).collect();
    let mut reloader = Reloader { cert, key, target, last_cert_pem: None };
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<Event>| match event {
            Ok(event) if is_change(&event.kind) && concerns(&event.paths, &names) => {
                reloader.reload();
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "certificate file watch failed"),
        })
        .map_err(Error::Watcher)?;
    for dir in dirs {
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| Error::Watch { path: dir, source })?;
    }
    Ok(WatchHandle { _watcher: watcher })
}

struct Reloader {
    cert: PathBuf,
    key: PathBuf,
    target: Arc<ReloadingCert>,
    /// The certificate last installed by this watch, so that unrelated changes in the
    /// directory do not log a reload each.
    last_cert_pem: Option<String>,
}

impl Reloader {
    fn reload(&mut self) {
        let pair = match load_pair(&self.cert, &self.key) {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(
                    cert = %self.cert.display(),
                    key = %self.key.display(),
                    err = %Chain(&err),
                    "new certificate files do not load; keeping the current certificate"
                );
                return;
            }
        };
        if self.last_cert_pem.as_deref() == Some(pair.cert_pem.as_str()) {
            return;
        }
        match self.target.reload(&pair) {
            Ok(()) => {
                tracing::info!(cert = %self.cert.display(), "certificate reloaded");
                self.last_cert_pem = Some(pair.cert_pem);
            }
            Err(err) => tracing::warn!(
                cert = %self.cert.display(),
                err = %Chain(&err),
                "new certificate refused; keeping the current certificate"
            ),
        }
    }
}

fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// Whether an event on `paths` may have changed the files named `names`: one of them, or a
/// Kubernetes `..data` swap. An event without paths counts.
fn concerns(paths: &[PathBuf], names: &[OsString]) -> bool {
    paths.is_empty()
        || paths.iter().filter_map(|p| p.file_name()).any(|name| {
            names.iter().any(|n| n == name) || name.as_encoded_bytes().starts_with(b"..")
        })
}

/// The directory to watch for `path`; a bare file name lives in the working directory.
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use kuma_core::tls::{CertKind, CertPair, KeyType, generate_certificate};
    use secrecy::ExposeSecret;
    use time::OffsetDateTime;

    use super::*;

    fn pair() -> CertPair {
        let hosts = ["localhost".to_owned()];
        generate_certificate(CertKind::Server, &hosts, KeyType::Ecdsa, OffsetDateTime::now_utc())
            .unwrap()
    }

    fn leaf(target: &ReloadingCert) -> Vec<u8> {
        target.current().cert[0].to_vec()
    }

    #[test]
    fn a_pair_that_does_not_load_keeps_the_current_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (pair(), pair());
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, &old.cert_pem).unwrap();
        std::fs::write(&key, old.key_pem.expose_secret()).unwrap();
        let target = ReloadingCert::new(&old).unwrap();
        let served_old = leaf(&target);
        let mut reloader = Reloader {
            cert: cert.clone(),
            key: key.clone(),
            target: target.clone(),
            last_cert_pem: None,
        };

        // The new certificate written before its key: they do not belong together.
        std::fs::write(&cert, &new.cert_pem).unwrap();
        reloader.reload();
        assert_eq!(leaf(&target), served_old);
        std::fs::write(&cert, "not a certificate").unwrap();
        reloader.reload();
        assert_eq!(leaf(&target), served_old);

        std::fs::write(&cert, &new.cert_pem).unwrap();
        std::fs::write(&key, new.key_pem.expose_secret()).unwrap();
        reloader.reload();
        assert_ne!(leaf(&target), served_old);
        assert_eq!(leaf(&target), new.chain().unwrap()[0].to_vec());
    }

    #[test]
    fn only_the_pair_and_kubernetes_swaps_trigger_a_reload() {
        let names = [OsString::from("tls.crt"), OsString::from("tls.key")];
        let at = |p: &str| vec![PathBuf::from(p)];
        assert!(concerns(&at("/etc/kuma/tls.crt"), &names));
        assert!(concerns(&at("/etc/kuma/tls.key"), &names));
        assert!(concerns(&at("/etc/kuma/..data"), &names));
        assert!(concerns(&[], &names), "an event that names no file");
        assert!(!concerns(&at("/etc/kuma/kuma.db-wal"), &names));
    }

    #[test]
    fn a_bare_file_name_is_watched_in_the_working_directory() {
        assert_eq!(parent(Path::new("tls.crt")), PathBuf::from("."));
        assert_eq!(parent(Path::new("/etc/kuma/tls.crt")), PathBuf::from("/etc/kuma"));
    }
}
