//! Per-client limits: one mechanism that every listener uses to keep a single source address
//! from starving the others.
//!
//! A [`Limiter`] keys two things by the peer's IP: a token bucket (governor's GCRA, refilled at
//! `per_second` and holding up to `burst`) for how fast new connections or requests may start,
//! and a count of those still open, capped at `max_concurrent`. [`Limiter::admit`] hands out a
//! [`Permit`] that holds one open slot until it is dropped. Refusals are logged and audited at
//! most once a second per listener (the metric counts every one). This module knows nothing of
//! TLS, gRPC or HTTP: callers decide what a refusal looks like (a reset, a 429).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::audit::{AuditLog, Event};
use crate::config::RateLimit;
use crate::metrics::Metrics;

/// At most one log and audit line per listener per this interval.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Every this many admissions, buckets that have refilled completely are dropped, so addresses
/// seen once do not stay in memory.
const SWEEP_EVERY: u64 = 4096;

/// Per-address limits of one listener. Cloning is cheap; clones share the counts.
#[derive(Clone)]
pub struct Limiter {
    inner: Option<Arc<Inner>>,
}

/// One admitted connection or request; its open slot is given back on drop.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct Permit {
    held: Option<(Arc<Inner>, IpAddr)>,
}

/// Why [`Limiter::admit`] turned a client away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address started too many too fast; a token is back after `retry_after`.
    Rate {
        /// Time until the next one would be admitted.
        retry_after: Duration,
    },
    /// The address already holds its maximum open at once.
    Concurrency,
}

struct Inner {
    listener: &'static str,
    rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    max_concurrent: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
    admitted: AtomicU64,
    reports: Mutex<Reports>,
    metrics: Metrics,
    audit: AuditLog,
}

#[derive(Default)]
struct Reports {
    last: Option<Instant>,
    suppressed: u64,
}

impl Limiter {
    /// Limits for `listener` (the label of metrics, logs and audit lines).
    pub fn new(
        listener: &'static str,
        limit: RateLimit,
        metrics: Metrics,
        audit: AuditLog,
    ) -> Self {
        if !limit.is_on() {
            return Self::off();
        }
        let quota = NonZeroU32::new(limit.per_second).map(|per_second| {
            // The config loader refuses a zero burst while the rate is on.
            let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(per_second).allow_burst(burst)
        });
        Self::with_quota(listener, quota, limit.max_concurrent, metrics, audit)
    }

    fn with_quota(
        listener: &'static str,
        quota: Option<Quota>,
        max_concurrent: u32,
        metrics: Metrics,
        audit: AuditLog,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                listener,
                rate: quota.map(RateLimiter::keyed),
                clock: DefaultClock::default(),
                max_concurrent,
                open: Mutex::default(),
                admitted: AtomicU64::new(0),
                reports: Mutex::default(),
                metrics,
                audit,
            })),
        }
    }

    /// A limiter that admits everyone.
    pub fn off() -> Self {
        Self { inner: None }
    }

    /// Admits one more connection or request from `peer`, or says why not. A refusal is counted
    /// in `kuma_rate_limited_total`, and logged and audited unless a line went out in the last
    /// second.
    pub fn admit(&self, peer: IpAddr) -> Result<Permit, Refusal> {
        let Some(inner) = &self.inner else {
            return Ok(Permit { held: None });
        };
        let ip = peer.to_canonical();
        let refusal = match inner.take(ip) {
            Ok(()) => return Ok(Permit { held: Some((inner.clone(), ip)) }),
            Err(refusal) => refusal,
        };
        inner.report(ip, refusal);
        Err(refusal)
    }

    /// How many addresses hold at least one open slot now.
    pub fn addresses_open(&self) -> usize {
        self.inner.as_ref().map_or(0, |inner| inner.open_counts().len())
    }
}

impl Inner {
    fn open_counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        // The map stays consistent even if a holder panicked: every update is a single step.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an open slot, then a rate token; neither is used up when the other refuses.
    fn take(&self, ip: IpAddr) -> Result<(), Refusal> {
        let mut open = self.open_counts();
        let count = open.get(&ip).copied().unwrap_or(0);
        if self.max_concurrent > 0 && count >= self.max_concurrent {
            return Err(Refusal::Concurrency);
        }
        if let Some(rate) = &self.rate {
            if let Err(not_until) = rate.check_key(&ip) {
                let retry_after = not_until.wait_time_from(self.clock.now());
                return Err(Refusal::Rate { retry_after });
            }
            if self.admitted.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
                rate.retain_recent();
                rate.shrink_to_fit();
            }
        }
        open.insert(ip, count + 1);
        Ok(())
    }

    fn give_back(&self, ip: IpAddr) {
        let mut open = self.open_counts();
        match open.get_mut(&ip) {
            Some(count) if *count > 1 => *count -= 1,
            _ => {
                open.remove(&ip);
            }
        }
    }

    fn report(&self, ip: IpAddr, refusal: Refusal) {
        let reason = refusal.reason();
        self.metrics.rate_limited(self.listener, reason);
        let suppressed = {
            let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if reports.last.is_some_and(|last| now.duration_since(last) < REPORT_INTERVAL) {
                reports.suppressed += 1;
                return;
            }
            reports.last = Some(now);
            std::mem::take(&mut reports.suppressed)
        };
        tracing::warn!(
            listener = self.listener,
            peer = %ip,
            reason,
            suppressed,
            "client over its limit: turned away"
        );
        self.audit.record(Event::RateLimited {
            listener: self.listener,
            source: ip.to_string(),
            reason,
            suppressed,
        });
    }
}

impl Refusal {
    /// The metric and audit label: `rate` or `concurrency`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Rate { .. } => "rate",
            Self::Concurrency => "concurrency",
        }
    }

    /// When to try again, in whole seconds (at least 1), for a `Retry-After` header. A client
    /// over its concurrency cap is told 1 s: a slot frees when one of its own finishes.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Self::Rate { retry_after } => retry_after.as_secs_f64().ceil().max(1.0) as u64,
            Self::Concurrency => 1,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((inner, ip)) = self.held.take() {
            inner.give_back(ip);
        }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Limiter(off)"),
            Some(inner) => f
                .debug_struct("Limiter")
                .field("listener", &inner.listener)
                .field("rate", &inner.rate.is_some())
                .field("max_concurrent", &inner.max_concurrent)
                .finish_non_exhaustive(),
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("ip", &self.held.as_ref().map(|h| h.1)).finish()
    }
}

#[cfg(test)]
mod tests;
