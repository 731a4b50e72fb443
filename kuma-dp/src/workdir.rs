//! The work directory of one kuma-dp: `bootstrap.yaml` (0600: it holds the dataplane token),
//! Envoy's admin socket `kuma-envoy-admin.sock` and kuma-dp's SDS socket `kuma-sds.sock` (both
//! 0600). Each proxy has its own, so several on one host never share a socket.
//!
//! By default it is a new `kuma-dp-*` directory (0700) under the system's temp directory,
//! removed on exit; `--work-dir` names one to use (created 0700 if missing, kept). Unix socket
//! paths must fit in `sun_path` (108 bytes with the terminating NUL): a default temp directory
//! too deep for that falls back to `/tmp`; a given one is refused with the length.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The bootstrap's file name.
pub const BOOTSTRAP: &str = "bootstrap.yaml";
/// Envoy's admin socket's file name (Kuma's).
pub const ADMIN_SOCKET: &str = "kuma-envoy-admin.sock";
/// kuma-dp's SDS socket's file name.
pub const SDS_SOCKET: &str = "kuma-sds.sock";
/// The longest path a Unix socket can have on Linux (`sun_path` less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// A work directory; a temporary one is removed when this is dropped.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    _temp: Option<TempDir>,
}

/// Why the work directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It could not be created.
    #[error("creating the work directory {0}")]
    Create(PathBuf, #[source] std::io::Error),
    /// A socket in it would have too long a path.
    #[error(
        "--work-dir {dir} is too deep for Unix sockets: {socket} would be {len} bytes, the limit \
         is {MAX_SOCKET_PATH}; pass a shorter --work-dir"
    )]
    TooDeep {
        /// The directory.
        dir: PathBuf,
        /// The longest socket path in it.
        socket: PathBuf,
        /// That path's length in bytes.
        len: usize,
    },
}

impl WorkDir {
    /// `given`, created if missing, or a new temporary directory.
    pub fn create(given: Option<&Path>) -> Result<Self, Error> {
        let Some(dir) = given else {
            return Self::temporary();
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::Create(dir.to_owned(), e))?;
        let work_dir = Self { path: dir.to_owned(), _temp: None };
        work_dir.check_socket_paths()?;
        Ok(work_dir)
    }

    fn temporary() -> Result<Self, Error> {
        let make = |parent: &Path| {
            let create = |e| Error::Create(parent.to_owned(), e);
            let temp =
                tempfile::Builder::new().prefix("kuma-dp-").tempdir_in(parent).map_err(create)?;
            std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::Create(temp.path().to_owned(), e))?;
            Ok::<_, Error>(Self { path: temp.path().to_owned(), _temp: Some(temp) })
        };
        let work_dir = make(&std::env::temp_dir())?;
        match work_dir.check_socket_paths() {
            Ok(()) => Ok(work_dir),
            Err(_) => {
                tracing::info!(tried = %work_dir.path.display(), "temp directory too deep for Unix sockets; using /tmp");
                let fallback = make(Path::new("/tmp"))?;
                fallback.check_socket_paths()?;
                Ok(fallback)
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `bootstrap.yaml`.
    pub fn bootstrap(&self) -> PathBuf {
        self.path.join(BOOTSTRAP)
    }

    /// Envoy's admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.path.join(ADMIN_SOCKET)
    }

    /// The SDS socket.
    pub fn sds_socket(&self) -> PathBuf {
        self.path.join(SDS_SOCKET)
    }

    fn check_socket_paths(&self) -> Result<(), Error> {
        for socket in [self.admin_socket(), self.sds_socket()] {
            let len = socket.as_os_str().len();
            if len > MAX_SOCKET_PATH {
                return Err(Error::TooDeep { dir: self.path.clone(), socket, len });
            }
        }
        Ok(())
    }
}

/// Writes `contents` to `path`, readable and writable by the owner only.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A file that existed before keeps its mode through `open`.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_temporary_work_dir_is_private_and_removed() {
        let work_dir = WorkDir::create(None).unwrap();
        let path = work_dir.path().to_owned();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o700);
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("kuma-dp-"));
        assert_eq!(work_dir.sds_socket(), path.join("kuma-sds.sock"));
        drop(work_dir);
        assert!(!path.exists());
    }

    #[test]
    fn a_given_work_dir_is_created_and_kept() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/b");
        let work_dir = WorkDir::create(Some(&dir)).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        drop(work_dir);
        assert!(dir.exists());
    }

    #[test]
    fn a_work_dir_too_deep_for_sockets_is_refused_with_the_length() {
        let parent = tempfile::tempdir().unwrap();
        let deep = parent.path().join("d".repeat(100));
        let err = WorkDir::create(Some(&deep)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::TooDeep { .. }), "{text}");
        assert!(text.contains("kuma-envoy-admin.sock"), "{text}");
        assert!(text.contains("the limit is 107"), "{text}");
    }

    #[test]
    fn private_files_are_0600_even_when_they_existed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bootstrap.yaml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "new").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }
}
