//! Where setting values come from: the environment, a YAML file, or a test map.
//!
//! [`Loader`] looks up one [`Setting`] at a time: the environment variable wins, then the file
//! key, then the caller's default. It remembers which file keys were asked for so that
//! [`Loader::finish`] can reject the ones no setting knows. It parses nothing itself: the section
//! loaders hand it a parser from `parse`.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Error, Origin, Problem};
use super::yaml::{self, Raw};

/// A source of raw setting values, keyed by environment variable name.
pub trait Source {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Option<String>;
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
}

impl Source for HashMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).map(|v| (*v).to_owned())
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// One setting: its environment variable and its dotted `kuma-cp.yaml` key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setting {
    pub env: &'static str,
    pub yaml: &'static str,
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
}

impl<'a> Loader<'a> {
    /// Reads and flattens `file`, if given.
    pub fn new(env: &'a dyn Source, file: Option<&Path>) -> Result<Self, Error> {
        let file = match file {
            None => None,
            Some(path) => {
                let text = fs::read_to_string(path).map_err(|source| Error::ReadFile {
                    path: path.to_owned(),
                    source,
                })?;
                let values = yaml::flatten(path, &text)?;
                Some(File {
                    path: path.to_owned(),
                    values,
                })
            }
        };
        Ok(Self {
            env,
            file,
            used: RefCell::new(BTreeSet::new()),
        })
    }

    /// The raw value of `setting` and where it came from.
    fn lookup(&self, setting: &Setting) -> Option<(Raw, Origin)> {
        // Marked even when the environment wins, so the file key still counts as known.
        self.used.borrow_mut().insert(setting.yaml);
        if let Some(value) = self.env.get(setting.env).filter(|v| !v.is_empty()) {
            return Some((Raw::Scalar(value), Origin::Env(setting.env)));
        }
        let file = self.file.as_ref()?;
        let raw = file.values.get(setting.yaml)?;
        if matches!(raw, Raw::Scalar(s) if s.is_empty()) {
            return None;
        }
        let origin = Origin::File {
            path: file.path.clone(),
            key: setting.yaml,
        };
        Some((raw.clone(), origin))
    }

    /// Where `setting` was set, or its environment variable when it was not set at all.
    pub fn origin(&self, setting: &Setting) -> Origin {
        self.lookup(setting)
            .map_or(Origin::Env(setting.env), |(_, origin)| origin)
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
            Raw::List(_) => Err(Problem::NotScalar),
        };
        parsed.map(Some).map_err(|problem| Error::Invalid {
            at: origin,
            problem,
        })
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
        };
        items
            .iter()
            .map(|item| parse(item))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|problem| Error::Invalid {
                at: origin,
                problem,
            })
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
            Err(source) => Err(Error::File {
                at: self.origin(setting),
                what,
                path,
                source,
            }),
        }
    }

    /// Fails on the first file key that no setting asked for (sorted, so the error is stable).
    pub fn finish(self) -> Result<(), Error> {
        let Some(file) = self.file else {
            return Ok(());
        };
        let used = self.used.into_inner();
        let mut unknown: Vec<&String> = file
            .values
            .keys()
            .filter(|key| !used.contains(key.as_str()))
            .collect();
        unknown.sort();
        match unknown.first() {
            Some(key) => Err(Error::UnknownKey {
                path: file.path,
                key: (*key).clone(),
            }),
            None => Ok(()),
        }
    }
}
