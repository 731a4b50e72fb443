//! Per-client limits of a listener (our extension, Kuma has none): how fast one source address
//! may start connections or requests, how many bursts it may save up, and how many it may hold
//! open at once. Settings only; `shared::limits` enforces them.

use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::parse;
use super::source::{Loader, Setting};

/// One listener's per-client limits. A zero turns that part off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// New connections (or requests) per second and source address, refilled continuously;
    /// 0: no rate limit.
    pub per_second: u32,
    /// How many may start at once after a quiet spell; at least 1 when `per_second` is set.
    pub burst: u32,
    /// How many one source address may hold open at the same time; 0: no cap.
    pub max_concurrent: u32,
}

/// The three settings of one [`RateLimit`].
pub(super) struct RateLimitKeys {
    pub per_second: Setting,
    pub burst: Setting,
    pub max_concurrent: Setting,
}

impl RateLimit {
    /// Limits that let everything through.
    pub const OFF: Self = Self { per_second: 0, burst: 0, max_concurrent: 0 };

    /// Whether any part is on.
    pub fn is_on(&self) -> bool {
        self.per_second > 0 || self.max_concurrent > 0
    }

    pub(super) fn load(
        loader: &Loader<'_>,
        keys: &RateLimitKeys,
        default: Self,
    ) -> Result<Self, Error> {
        let limit = Self {
            per_second: loader.or(&keys.per_second, default.per_second, parse::number)?,
            burst: loader.or(&keys.burst, default.burst, parse::number)?,
            max_concurrent: loader.or(
                &keys.max_concurrent,
                default.max_concurrent,
                parse::number,
            )?,
        };
        if limit.per_second > 0 && limit.burst == 0 {
            return Err(Error::Invalid {
                at: loader.origin(&keys.burst),
                problem: Problem::BurstZero(loader.origin(&keys.per_second)),
            });
        }
        Ok(limit)
    }

    /// The YAML shape, under `rateLimit` (`max_key` names the cap: `maxConnections`, ...).
    pub(super) fn to_json(self, max_key: &str) -> Value {
        let mut out = json!({ "perSecond": self.per_second, "burst": self.burst });
        if let Value::Object(map) = &mut out {
            map.insert(max_key.to_owned(), self.max_concurrent.into());
        }
        out
    }
}
