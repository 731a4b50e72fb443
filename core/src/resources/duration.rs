//! Durations in Kuma's mesh format: one number and one unit, `^(\d+)(y|w|d|h|m|s|ms)$` (`30m`,
//! `1d`, `10y`), as `dpCert.rotation.expiration` and the builtin CA's `caCert.expiration` use.
//!
//! This is not Go's `time.ParseDuration` (`24h0m0s`), which token requests use; that one does not
//! belong here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as Kuma writes it in a Mesh. It prints back exactly as it was written, and
/// (de)serializes as that string, so CA configuration types can hold it directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KumaDuration {
    value: u64,
    unit: Unit,
    duration: Duration,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Years,
    Weeks,
    Days,
    Hours,
    Minutes,
    Seconds,
    Millis,
}

impl KumaDuration {
    /// Parses `30m`, `1d`, `10y`. A year is 365 days, as in Kuma.
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let invalid = || DurationError(s.to_owned());
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
        let (digits, suffix) = s.split_at(split);
        if digits.is_empty() {
            return Err(invalid());
        }
        let unit = match suffix {
            "y" => Unit::Years,
            "w" => Unit::Weeks,
            "d" => Unit::Days,
            "h" => Unit::Hours,
            "m" => Unit::Minutes,
            "s" => Unit::Seconds,
            "ms" => Unit::Millis,
            _ => return Err(invalid()),
        };
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        let millis = value.checked_mul(unit.millis()).ok_or_else(invalid)?;
        Ok(Self { value, unit, duration: Duration::from_millis(millis) })
    }

    /// The length of time.
    pub fn as_std(&self) -> Duration {
        self.duration
    }
}

impl Unit {
    fn millis(self) -> u64 {
        const DAY: u64 = 24 * 60 * 60 * 1000;
        match self {
            Self::Years => 365 * DAY,
            Self::Weeks => 7 * DAY,
            Self::Days => DAY,
            Self::Hours => 60 * 60 * 1000,
            Self::Minutes => 60 * 1000,
            Self::Seconds => 1000,
            Self::Millis => 1,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Years => "y",
            Self::Weeks => "w",
            Self::Days => "d",
            Self::Hours => "h",
            Self::Minutes => "m",
            Self::Seconds => "s",
            Self::Millis => "ms",
        }
    }
}

impl FromStr for KumaDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for KumaDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.unit.suffix())
    }
}

impl From<KumaDuration> for Duration {
    fn from(d: KumaDuration) -> Self {
        d.duration
    }
}

impl Serialize for KumaDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KumaDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("10y", 10 * 365 * 86_400_000),
            ("2w", 14 * 86_400_000),
            ("1d", 86_400_000),
            ("3h", 3 * 3_600_000),
            ("30m", 30 * 60_000),
            ("45s", 45_000),
            ("250ms", 250),
            ("0s", 0),
        ];
        for (text, millis) in cases {
            let d = KumaDuration::parse(text).unwrap();
            assert_eq!(d.as_std(), Duration::from_millis(millis), "{text}");
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn serializes_as_its_text() {
        let d: KumaDuration = serde_json::from_str(r#""10y""#).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), r#""10y""#);
        let err = serde_json::from_str::<KumaDuration>(r#""10 years""#).unwrap_err();
        assert!(err.to_string().starts_with(r#"not a valid duration string: "10 years""#), "{err}");
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "1",
            "d",
            "1.5h",
            "1h30m",
            "24h0m0s",
            " 1h",
            "1H",
            "-1h",
            "1us",
            "99999999999999999999y",
        ] {
            let err = KumaDuration::parse(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("not a valid duration string: {bad:?}"));
        }
    }
}
