//! Where setting values come from: the environment, a YAML file, or a test map.
//!
//! [`Loader`] looks up one [`Setting`] at a time: the environment variable wins, then the file
//! key, then the caller's default. It remembers which file keys were asked for so that
//! [`Loader::finish`] can reject the ones no setting knows, except Kuma's own settings that we do
//! not implement (`kuma_keys`), which it returns so the caller can warn. It parses nothing itself:
//! the section loaders hand it a parser from `parse`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Error, Origin, Problem};
use super::kuma_keys;
use super::yaml::{self, Raw};

/// A source of raw setting values, keyed by environment variable name.
pub trait Source {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Option<String>;

    /// Every name this source holds, to report the Kuma settings it sets that we ignore. A
    /// source that cannot list its names returns none.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The process environment: the only place in the project that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Source for Env {
    fn get(&self, key: &str) -> Option<String> {
        // A value that is not UTF-8 is passed on lossily so that parsing fails visibly instead of
        // the variable being silently ignored.
        std::env::var_os(key).map(|v| v.to_string_lossy().into_owned())
    }

    fn keys(&self) -> Vec<String> {
        std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()).collect()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| (*v).to_owned())
    }

    fn keys(&self) -> Vec<String> {
        HashMap::keys(self).map(|k| (*k).to_owned()).collect()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }

    fn keys(&self) -> Vec<String> {
        HashMap::keys(self).cloned().collect()
    }
}

/// One setting: its environment variable and its dotted `kuma-cp.yaml` key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setting {
    pub env: &'static str,
    pub yaml: &'static str,
}

/// What the loader accepted without using: Kuma settings we do not implement.
#[derive(Debug, Default)]
pub(super) struct Ignored {
    /// File keys, sorted.
    pub keys: Vec<String>,
    /// `KUMA_*` environment variables, sorted.
    pub env: Vec<String>,
}

/// The entries of a YAML-only list of mappings, and the file that holds them.
pub(super) struct Records<'a> {
    /// The configuration file, for errors.
    pub path: &'a Path,
    /// One map of field names to scalar values per entry.
    pub entries: Vec<BTreeMap<String, String>>,
}

/// The values read from the YAML file, flattened to dotted keys.
struct File {
    path: PathBuf,
    values: HashMap<String, Raw>,
}

/// Looks settings up in the environment, then the file. Empty values count as unset.
pub(super) struct Loader<'a> {
    env: &'a dyn Source,
    file: Option<File>,
    used: RefCell<BTreeSet<&'static str>>,
    used_env: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Loader<'a> {
    /// Reads and flattens `file`, if given.
    pub fn new(env: &'a dyn Source, file: Option<&Path>) -> Result<Self, Error> {
        let file = match file {
            None => None,
            Some(path) => {
                let text = fs::read_to_string(path)
                    .map_err(|source| Error::ReadFile { path: path.to_owned(), source })?;
                let values = yaml::flatten(path, &text)?;
                Some(File { path: path.to_owned(), values })
            }
        };
        Ok(Self {
            env,
            file,
            used: RefCell::new(BTreeSet::new()),
            used_env: RefCell::new(BTreeSet::new()),
        })
    }

    /// The raw value of `setting` and where it came from.
    fn lookup(&self, setting: &Setting) -> Option<(Raw, Origin)> {
        // Marked even when the environment wins, so the file key still counts as known.
        self.used.borrow_mut().insert(setting.yaml);
        self.used_env.borrow_mut().insert(setting.env);
        if let Some(value) = self.env.get(setting.env).filter(|v| !v.is_empty()) {
            return Some((Raw::Scalar(value), Origin::Env(setting.env)));
        }
        let file = self.file.as_ref()?;
        let raw = file.values.get(setting.yaml)?;
        if matches!(raw, Raw::Scalar(s) if s.is_empty()) {
            return None;
        }
        let origin = Origin::File { path: file.path.clone(), key: setting.yaml };
        Some((raw.clone(), origin))
    }

    /// Where `setting` was set, or its environment variable when it was not set at all.
    pub fn origin(&self, setting: &Setting) -> Origin {
        self.lookup(setting).map_or(Origin::Env(setting.env), |(_, origin)| origin)
    }

    /// Parses `setting` if it is set.
    pub fn value<T>(
        &self,
        setting: &Setting,
        parse: impl FnOnce(&str) -> Result<T, Problem>,
    ) -> Result<Option<T>, Error> {
        let Some((raw, origin)) = self.lookup(setting) else {
            return Ok(None);
        };
        let parsed = match raw {
            Raw::Scalar(value) => parse(&value),
            Raw::List(_) | Raw::Records(_) | Raw::Nested => Err(Problem::NotScalar),
        };
        parsed.map(Some).map_err(|problem| Error::Invalid { at: origin, problem })
    }

    /// Parses `setting`, or returns `default` when it is unset.
    pub fn or<T>(
        &self,
        setting: &Setting,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, Problem>,
    ) -> Result<T, Error> {
        Ok(self.value(setting, parse)?.unwrap_or(default))
    }

    /// Parses a list setting: a YAML sequence, or comma-separated text (empty items dropped).
    pub fn list<T>(
        &self,
        setting: &Setting,
        parse: impl Fn(&str) -> Result<T, Problem>,
    ) -> Result<Option<Vec<T>>, Error> {
        let Some((raw, origin)) = self.lookup(setting) else {
            return Ok(None);
        };
        let items = match raw {
            Raw::Scalar(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Raw::List(items) => items,
            Raw::Records(_) | Raw::Nested => return Err(shape(origin, "a list of scalars")),
        };
        items
            .iter()
            .map(|item| parse(item))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|problem| Error::Invalid { at: origin, problem })
    }

    /// The entries of the YAML-only list of mappings at `key` (such as `publicKeys`); `None` when
    /// the file does not set it.
    pub fn records(&self, key: &'static str) -> Result<Option<Records<'_>>, Error> {
        self.used.borrow_mut().insert(key);
        let Some(file) = self.file.as_ref() else {
            return Ok(None);
        };
        let records = |entries| Ok(Some(Records { path: &file.path, entries }));
        match file.values.get(key) {
            None => Ok(None),
            Some(Raw::Scalar(s)) if s.is_empty() => Ok(None),
            Some(Raw::List(items)) if items.is_empty() => records(Vec::new()),
            Some(Raw::Records(entries)) => records(entries.clone()),
            Some(_) => Err(Error::Shape {
                path: file.path.clone(),
                key: key.to_owned(),
                expected: "a list of mappings",
            }),
        }
    }

    /// Parses a path setting and checks that the file can be opened; `what` names it in errors.
    pub fn file(&self, setting: &Setting, what: &'static str) -> Result<Option<PathBuf>, Error> {
        let Some(path) = self.value(setting, |v| Ok(PathBuf::from(v)))? else {
            return Ok(None);
        };
        self.exists(setting, path, what).map(Some)
    }

    /// Checks that `path`, the value of `setting`, can be opened.
    pub fn exists(
        &self,
        setting: &Setting,
        path: PathBuf,
        what: &'static str,
    ) -> Result<PathBuf, Error> {
        match fs::File::open(&path) {
            Ok(_) => Ok(path),
            Err(source) => Err(Error::File { at: self.origin(setting), what, path, source }),
        }
    }

    /// Fails on the first file key that neither a setting asked for nor Kuma knows (sorted, so
    /// the error is stable). Returns the Kuma settings, from the file and from `KUMA_*`
    /// variables, that were accepted but not used.
    pub fn finish(self) -> Result<Ignored, Error> {
        let used = self.used.into_inner();
        let used_env = self.used_env.into_inner();
        let mut env: Vec<String> = self
            .env
            .keys()
            .into_iter()
            .filter(|name| !used_env.contains(name.as_str()))
            .filter(|name| {
                kuma_keys::is_kuma_env(name)
                    || used.iter().any(|key| kuma_keys::env_names_key(name, key))
            })
            .collect();
        env.sort();
        let Some(file) = self.file else {
            return Ok(Ignored { keys: Vec::new(), env });
        };
        let mut keys = Vec::new();
        let mut unknown: Vec<&String> = Vec::new();
        for (key, value) in file.values.iter().filter(|(k, _)| !used.contains(k.as_str())) {
            match kuma_keys::is_kuma_key(key) {
                // An empty value sets nothing (Kuma's defaults file is full of them): no warning.
                true if is_empty(value) => {}
                true => keys.push(key.clone()),
                false => unknown.push(key),
            }
        }
        unknown.sort();
        if let Some(key) = unknown.first() {
            return Err(Error::UnknownKey { path: file.path.clone(), key: (*key).clone() });
        }
        keys.sort();
        Ok(Ignored { keys, env })
    }
}

fn is_empty(value: &Raw) -> bool {
    match value {
        Raw::Scalar(s) => s.is_empty(),
        Raw::List(items) => items.is_empty(),
        Raw::Records(_) | Raw::Nested => false,
    }
}

/// A file value of the wrong shape for the setting that reads it.
fn shape(origin: Origin, expected: &'static str) -> Error {
    match origin {
        Origin::File { path, key } => Error::Shape { path, key: key.to_owned(), expected },
        // Environment values are always scalars; this arm only keeps the match total.
        Origin::Env(_) => Error::Invalid { at: origin, problem: Problem::NotScalar },
    }
}
