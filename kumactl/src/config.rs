//! The kumactl configuration file: known control planes and which one is current.
//!
//! The YAML layout is Kuma's (`contexts`, `controlPlanes`, `currentContext`), so a file written by
//! Go's kumactl reads here too. This module only reads and writes the file; it must not talk to a
//! control plane.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the control plane a fresh configuration points at.
pub const LOCAL_NAME: &str = "local";
/// Address of that control plane: the API server's HTTP port on this machine.
pub const LOCAL_URL: &str = "http://localhost:5681";
/// The `authType` that sends a user token as `Authorization: Bearer` (Kuma's `tokens` plugin).
pub const AUTH_TYPE_TOKENS: &str = "tokens";
/// The `authConf` key of that plugin's token.
pub const AUTH_CONF_TOKEN: &str = "token";

/// Errors reading, changing or writing the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serializing the configuration")]
    Serialize(#[source] serde_yaml_ng::Error),
    #[error(
        "Control Plane with name {0:?} already exists. Use --overwrite to replace an existing one."
    )]
    Exists(String),
    #[error("there is no Control Plane with name {0:?}")]
    NotFound(String),
    #[error("there is no current Control Plane: add one with `kumactl config control-planes add`")]
    NoCurrent,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub contexts: Vec<Context>,
    #[serde(default)]
    pub control_planes: Vec<ControlPlane>,
    #[serde(default)]
    pub current_context: String,
}

/// A named pointer at a control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    pub name: String,
    pub control_plane: String,
}

/// A control plane kumactl can talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPlane {
    pub name: String,
    pub coordinates: Coordinates,
}

/// Where a control plane is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coordinates {
    pub api_server: ApiServer,
}

/// The address of a control plane's REST API and how kumactl proves who it is there.
/// `Debug` leaves out the values of `authConf`, which hold tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_file: Option<PathBuf>,
    /// Client certificate (PEM chain) presented to an HTTPS API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// The key of `client_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// The authentication plugin: only [`AUTH_TYPE_TOKENS`] exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// The plugin's settings; for `tokens`, `token` holds the user token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auth_conf: BTreeMap<String, String>,
}

impl Default for Config {
    /// Kuma's fresh configuration: one `local` control plane, current.
    fn default() -> Self {
        let mut config = Self {
            contexts: Vec::new(),
            control_planes: Vec::new(),
            current_context: String::new(),
        };
        config.put(ControlPlane::new(LOCAL_NAME, LOCAL_URL, None));
        config
    }
}

impl Config {
    /// The default location, `~/.kumactl/config`.
    pub fn default_path() -> PathBuf {
        std::env::home_dir().unwrap_or_default().join(".kumactl").join("config")
    }

    /// Reads `path`; a missing file gives the default configuration.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(Error::Read { path: path.to_owned(), source });
            }
        };
        serde_yaml_ng::from_str(&text)
            .map_err(|source| Error::Parse { path: path.to_owned(), source })
    }

    /// Writes the file 0600, creating a missing directory 0700.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_yaml_ng::to_string(self).map_err(Error::Serialize)?;
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Write { path, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(write_err(dir))?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(write_err(path))?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .and_then(|()| file.write_all(text.as_bytes()))
            .map_err(write_err(path))
    }

    /// Adds a control plane with a context of the same name and makes it current.
    pub fn add(&mut self, cp: ControlPlane, overwrite: bool) -> Result<(), Error> {
        if !overwrite && self.control_planes.iter().any(|c| c.name == cp.name) {
            return Err(Error::Exists(cp.name));
        }
        self.put(cp);
        Ok(())
    }

    /// Makes the named control plane current.
    pub fn switch(&mut self, name: &str) -> Result<(), Error> {
        if !self.contexts.iter().any(|c| c.name == name) {
            return Err(Error::NotFound(name.to_owned()));
        }
        self.current_context = name.to_owned();
        Ok(())
    }

    /// Removes the named control plane and its context; removing the current one leaves none
    /// current.
    pub fn remove(&mut self, name: &str) -> Result<(), Error> {
        let before = self.control_planes.len();
        self.control_planes.retain(|c| c.name != name);
        if self.control_planes.len() == before {
            return Err(Error::NotFound(name.to_owned()));
        }
        self.contexts.retain(|c| c.control_plane != name);
        if self.current_context == name {
            self.current_context.clear();
        }
        Ok(())
    }

    /// The control plane of the current context.
    pub fn current(&self) -> Result<&ControlPlane, Error> {
        let context = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or(Error::NoCurrent)?;
        self.control_planes.iter().find(|c| c.name == context.control_plane).ok_or(Error::NoCurrent)
    }

    fn put(&mut self, cp: ControlPlane) {
        let name = cp.name.clone();
        match self.control_planes.iter_mut().find(|c| c.name == name) {
            Some(existing) => *existing = cp,
            None => self.control_planes.push(cp),
        }
        if !self.contexts.iter().any(|c| c.name == name) {
            self.contexts.push(Context { name: name.clone(), control_plane: name.clone() });
        }
        self.current_context = name;
    }
}

impl ControlPlane {
    /// A control plane at `url`, verified with `ca_cert_file` when it is HTTPS.
    pub fn new(name: &str, url: &str, ca_cert_file: Option<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            coordinates: Coordinates {
                api_server: ApiServer {
                    url: url.to_owned(),
                    ca_cert_file,
                    client_cert_file: None,
                    client_key_file: None,
                    auth_type: None,
                    auth_conf: BTreeMap::new(),
                },
            },
        }
    }
}

impl fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth_conf: Vec<&str> = self.auth_conf.keys().map(String::as_str).collect();
        f.debug_struct("ApiServer")
            .field("url", &self.url)
            .field("ca_cert_file", &self.ca_cert_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("auth_type", &self.auth_type)
            .field("auth_conf_keys", &auth_conf)
            .finish()
    }
}

#[cfg(test)]
mod tests;
