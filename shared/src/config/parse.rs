//! Parsers from one raw text value to a typed value, with Kuma's (Go's) spellings.
//!
//! Each returns a [`Problem`] without knowing which setting it parses; the loader adds that.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

use super::error::Problem;

/// Any port, including 0 ("pick a free port", which tests use).
pub(super) fn port(value: &str) -> Result<u16, Problem> {
    value.parse().map_err(|_| Problem::Port(value.to_owned()))
}

/// Go's `strconv.ParseBool` spellings.
pub(super) fn boolean(value: &str) -> Result<bool, Problem> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(Problem::Bool(value.to_owned())),
    }
}

/// A non-negative integer.
pub(super) fn number<T: FromStr>(value: &str) -> Result<T, Problem> {
    value.parse().map_err(|_| Problem::Number(value.to_owned()))
}

/// An IP address.
pub(super) fn ip(value: &str) -> Result<IpAddr, Problem> {
    value.parse().map_err(|_| Problem::Ip(value.to_owned()))
}

/// A CIDR such as `10.0.0.0/8`; a bare address means that single host.
pub(super) fn cidr(value: &str) -> Result<IpNet, Problem> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| Problem::Cidr(value.to_owned()))
}

/// Free text, taken as is.
pub(super) fn text(value: &str) -> Result<String, Problem> {
    Ok(value.to_owned())
}

/// A filesystem path, not checked here.
pub(super) fn path(value: &str) -> Result<PathBuf, Problem> {
    Ok(PathBuf::from(value))
}

/// Go's `time.ParseDuration` syntax without a sign: `300ms`, `1.5h`, `2h45m`, or a bare `0`.
pub(super) fn duration(value: &str) -> Result<Duration, Problem> {
    let bad = || Problem::Duration(value.to_owned());
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = value;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let amount: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1e0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += amount * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    // Go rejects durations past about 290 years; so do we, which also keeps the cast exact enough.
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Go's `time.Duration.String()` form, used when showing the effective config.
pub(super) fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let nanos = d.as_nanos();
    if nanos < 1_000_000_000 {
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = d.subsec_nanos();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let frac = format!("{frac:09}");
        out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        let cases = [
            ("0", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("1m", Duration::from_secs(60)),
            ("1h30m", Duration::from_secs(5400)),
            ("100ms", Duration::from_millis(100)),
            ("1.5s", Duration::from_millis(1500)),
            ("2us", Duration::from_micros(2)),
            ("7ns", Duration::from_nanos(7)),
        ];
        for (text, want) in cases {
            assert_eq!(duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for text in ["", "5", "s", "5x", "-5s", "1h 30m", "abc"] {
            assert_eq!(duration(text), Err(Problem::Duration(text.into())), "{text}");
        }
    }

    #[test]
    fn durations_format_as_go_does() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(100), "100ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_millis(1500), "1.5s"),
        ];
        for (d, want) in cases {
            assert_eq!(format_duration(d), want);
            assert_eq!(duration(want), Ok(d), "round trip of {want}");
        }
    }

    #[test]
    fn go_booleans_parse() {
        assert_eq!(boolean("T"), Ok(true));
        assert_eq!(boolean("0"), Ok(false));
        assert_eq!(boolean("yes"), Err(Problem::Bool("yes".into())));
    }

    #[test]
    fn cidr_accepts_a_bare_address() {
        assert_eq!(cidr("10.1.2.3"), Ok("10.1.2.3/32".parse().unwrap()));
        assert_eq!(cidr("10.0.0.0/8"), Ok("10.0.0.0/8".parse().unwrap()));
        assert_eq!(cidr("10.0.0.0/33"), Err(Problem::Cidr("10.0.0.0/33".into())));
    }
}
