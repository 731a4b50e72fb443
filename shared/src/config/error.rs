//! Configuration errors. Every error names where the bad value came from: the environment
//! variable, or the file and its dotted key. Values of secret settings are never echoed.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use kuma_core::resources::ZoneNameProblem;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable (also used for settings that were not set at all).
    Env(&'static str),
    /// A key of the YAML file.
    File {
        /// The file.
        path: PathBuf,
        /// The dotted key, for example `apiServer.http.port`.
        key: &'static str,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => f.write_str(name),
            Self::File { path, key } => write!(f, "{}: {key}", path.display()),
        }
    }
}

/// Why `config::load` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("could not read config file {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The configuration file is not valid YAML.
    #[error("{}: invalid yaml at line {line}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error (0 when the parser gave none).
        line: usize,
        /// The parser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A file value has the wrong shape, for example a mapping where a scalar belongs.
    #[error("{}: {key}: expected {expected}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The dotted key (empty for the top level).
        key: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A file key that no setting knows, rejected as Kuma's strict loader does.
    #[error("{}: unknown key {key}", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
    },
    /// A value that does not parse or breaks a rule.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where the value came from.
        at: Origin,
        /// What is wrong with it.
        problem: Problem,
    },
    /// A field of one entry of a YAML list, such as `...publicKeys[1].kid`, breaks a rule.
    #[error("{}: {key}: {problem}", path.display())]
    Entry {
        /// The file.
        path: PathBuf,
        /// The dotted key with the entry's index, and the field when the problem is in one.
        key: String,
        /// What is wrong.
        problem: Problem,
    },
    /// The `keyFile` of a public key entry cannot be read.
    #[error("{}: {key}: could not read public key {}", path.display(), file.display())]
    EntryFile {
        /// The configuration file.
        path: PathBuf,
        /// The dotted key with the entry's index, ending in `.keyFile`.
        key: String,
        /// The public key file.
        file: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// A file named by a setting cannot be opened.
    #[error("{at}: could not read {what} {}", path.display())]
    File {
        /// The setting that names the file.
        at: Origin,
        /// What the file should hold (`certificate`, `key`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

/// What is wrong with one value. Texts in Kuma's words where Kuma has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A list where one value belongs.
    #[error("expected a single value, not a list")]
    NotScalar,
    /// Not a port number.
    #[error("invalid port {0:?}")]
    Port(String),
    /// Not a boolean (Go's `strconv.ParseBool` spellings are accepted).
    #[error("invalid boolean {0:?}")]
    Bool(String),
    /// Not a Go duration (`5s`, `1m30s`, `100ms`).
    #[error("invalid duration {0:?}")]
    Duration(String),
    /// Not a non-negative integer in range.
    #[error("invalid number {0:?}")]
    Number(String),
    /// Not an IP address.
    #[error("invalid IP address {0:?}")]
    Ip(String),
    /// Not a CIDR (`10.0.0.0/8`).
    #[error("invalid CIDR {0:?}")]
    Cidr(String),
    /// Not one of the listed values.
    #[error("invalid value {value:?}, expected one of: {allowed}")]
    OneOf {
        /// The value given.
        value: String,
        /// The accepted values, comma-separated.
        allowed: &'static str,
    },
    /// `KUMA_MODE` has an unknown value (Kuma's text).
    #[error("invalid mode. Available modes: standalone, zone, global")]
    Mode,
    /// Something that needs Kubernetes (environment or store type).
    #[error("kubernetes is not supported: this control plane runs on universal only")]
    Kubernetes,
    /// Neither `KUMA_GENERAL_WORK_DIR` nor `HOME` is set.
    #[error("not set, and HOME is not set to default it to $HOME/.kuma")]
    NoWorkDir,
    /// Kuma's `config_types.TLSVersion` text.
    #[error("unsupported tls version: {0} supported versions:[TLSv1_2 TLSv1_3]")]
    TlsVersion(String),
    /// The minimum TLS version is above the maximum.
    #[error("tls min version {min} is above max version {max}")]
    TlsVersionOrder {
        /// Kuma spelling of the minimum.
        min: &'static str,
        /// Kuma spelling of the maximum.
        max: &'static str,
    },
    /// A cipher suite rustls does not offer (only AEAD suites are).
    #[error("unsupported tls cipher: {0} supported ciphers:[{supported}]", supported = super::tls::SUPPORTED_CIPHERS)]
    Cipher(String),
    /// A key file without its certificate (Kuma's text).
    #[error(".TlsCertFile cannot be empty if TlsKeyFile has been set")]
    CertMissing,
    /// A certificate file without its key (Kuma's text).
    #[error(".TlsKeyFile cannot be empty if TlsCertFile has been set")]
    KeyMissing,
    /// Postgres TLS settings that break Kuma's rules, wrapped as Kuma wraps them.
    #[error("TLS validation failed: {0}")]
    PostgresTls(PostgresTlsProblem),
    /// Kuma's zone name rules.
    #[error("{0}")]
    ZoneName(ZoneNameProblem),
    /// A global address whose scheme is not `grpc` or `grpcs` (Kuma's text).
    #[error("unsupported scheme {0:?} in zone GlobalAddress. Use one of [grpc grpcs]")]
    GlobalAddressScheme(String),
    /// A public key entry without a kid (Kuma's text).
    #[error(".KID is required")]
    KidRequired,
    /// Two public key entries of one list with the same kid.
    #[error("duplicate kid {0:?}")]
    DuplicateKid(String),
    /// A public key entry with neither `key` nor `keyFile` (Kuma's text).
    #[error("either .KeyFile or .Key has to be defined")]
    PublicKeyMissing,
    /// A public key entry with both `key` and `keyFile` (Kuma's text).
    #[error("both .KeyFile or .Key cannot be defined")]
    KeyAndKeyFile,
    /// A public key that is not PEM text.
    #[error("not a PEM public key (no -----BEGIN line)")]
    NotPem,
    /// `monitoringAssignmentServer.apiVersions` set to an empty list (Kuma's text).
    #[error(".ApiVersions must contain at least one version")]
    MadsApiVersionsEmpty,
    /// A MADS API version other than `v1` (Kuma's text).
    #[error(".ApiVersions contains invalid version {0}")]
    MadsApiVersion(String),
    /// Only one of the zone health check poll interval and timeout is set (Kuma's text).
    #[error(
        "invalid zoneHealthCheck config: timeout and pollInterval must both be either set or unset"
    )]
    ZoneHealthCheck,
    /// A client CA file while the server's TLS is off: client certificates need TLS.
    #[error("a client certificate needs TLS, but {0} is false")]
    ClientCaWithoutTls(Origin),
    /// Two settings of which at most one may be set.
    #[error("cannot be set together with {0}; set only one")]
    Exclusive(Origin),
    /// A rate limit whose burst is 0, which would refuse everyone.
    #[error("must be at least 1 while {0} is above 0 (set that to 0 to turn the rate limit off)")]
    BurstZero(Origin),
    /// Skip-verify together with a root CA, which would then go unused.
    #[error("true contradicts {0}: skipping verification leaves the root CA unused")]
    SkipVerifyWithRootCa(Origin),
}

/// Kuma's `store.postgres.tls` validation failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostgresTlsProblem {
    /// An unknown mode.
    #[error("invalid mode: {0}")]
    Mode(String),
    /// `verifyCa` or `verifyFull` without a CA file.
    #[error("CAPath cannot be empty")]
    CaPathEmpty,
    /// A client certificate without its key.
    #[error("KeyPath cannot be empty when CertPath is provided")]
    KeyPathEmpty,
    /// A client key without its certificate.
    #[error("CertPath cannot be empty when KeyPath is provided")]
    CertPathEmpty,
}
