//! Go's `time.ParseDuration`, with Go's error texts, for the `validFor` of token requests
//! (`24h0m0s`, `1h`, `720h`, `1.5h`, `90m`). Kuma puts the Go error into its validation message
//! (`validFor: is invalid: time: unknown unit "x" in duration "1x"`), so the texts matter.
//!
//! `config` has its own lenient parser for settings; this one exists for the exact messages.

use std::time::Duration;

/// Why a Go duration string was rejected; the text is Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all.
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A number without a unit.
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit Go does not know.
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// Go accepts negative durations; a token that expired before it was issued is never wanted.
    #[error("time: negative duration {0:?} is not allowed")]
    Negative(String),
}

/// Parses a Go duration: an optional sign, then one or more decimal numbers (with optional
/// fraction) each followed by a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare `0`.
/// Like Go, it rejects values past about 292 years.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_owned());
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(frac) => {
                let len = frac.bytes().take_while(u8::is_ascii_digit).count();
                frac.split_at(len)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_owned(),
                    input: input.to_owned(),
                });
            }
        };
        // Overflow of either step means far past Go's limit: invalid, as Go says.
        let whole: u128 =
            if int_digits.is_empty() { 0 } else { int_digits.parse().map_err(|_| invalid())? };
        total =
            whole.checked_mul(per_unit).and_then(|n| n.checked_add(total)).ok_or_else(invalid)?;
        // Fractions finer than a nanosecond of an hour are dropped, as Go drops them.
        let mut scale = per_unit;
        for digit in frac_digits.bytes().take(20) {
            scale /= 10;
            total += u128::from(digit - b'0') * scale;
        }
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
        rest = after;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative(input.to_owned()));
    }
    // `total` is at most i64::MAX, so it fits in u64.
    Ok(Duration::from_nanos(u64::try_from(total).map_err(|_| invalid())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_forms_parse() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_go_duration("24h0m0s"), Ok(h(24)));
        assert_eq!(parse_go_duration("1h"), Ok(h(1)));
        assert_eq!(parse_go_duration("720h"), Ok(h(720)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1h30m15s"), Ok(Duration::from_secs(5415)));
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1µs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("+2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn bad_go_durations_give_go_errors() {
        let err = |s: &str| parse_go_duration(s).unwrap_err().to_string();
        assert_eq!(err(""), r#"time: invalid duration """#);
        assert_eq!(err("abc"), r#"time: invalid duration "abc""#);
        assert_eq!(err("1"), r#"time: missing unit in duration "1""#);
        assert_eq!(err("1x"), r#"time: unknown unit "x" in duration "1x""#);
        assert_eq!(err("1d"), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(err("."), r#"time: invalid duration ".""#);
        assert_eq!(err("3000000h"), r#"time: invalid duration "3000000h""#);
        assert_eq!(err("-1h"), r#"time: negative duration "-1h" is not allowed"#);
    }
}
