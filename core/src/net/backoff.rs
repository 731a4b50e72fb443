//! Delays between reconnection attempts: exponential growth, full jitter, a cap.
//!
//! Full jitter (a uniform draw between zero and the current ceiling) spreads the zones of a
//! restarted global over the whole window instead of having them retry in lockstep. This file
//! only computes delays; it never sleeps.

use std::time::Duration;

/// Reconnect delays for `KUMA_GENERAL_RESILIENT_COMPONENT_BASE_BACKOFF`/`_MAX_BACKOFF`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, doubling per failure up to `max` (`base` above `max` is lowered to it).
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base: base.min(max), max, attempt: 0 }
    }

    /// The delay before the next attempt: uniform in `[0, min(max, base * 2^n)]` after `n`
    /// failures since the last [`reset`](Self::reset).
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        // Without randomness the ceiling itself is a safe (if synchronised) delay.
        let draw = getrandom::u64().unwrap_or(u64::MAX);
        jitter(ceiling, draw)
    }

    /// Starts over from `base`, after a connection succeeded.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        // 2^31 times any useful base is past any useful max, so the shift cannot overflow a u32.
        let factor = 1u32 << self.attempt.min(31);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Maps a uniform random `draw` onto `[0, ceiling]`.
fn jitter(ceiling: Duration, draw: u64) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    let scaled = u128::from(nanos) * u128::from(draw) / u128::from(u64::MAX);
    // scaled <= nanos, which fit in a u64.
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(5);
    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn ceiling_doubles_then_stays_at_max() {
        let mut backoff = Backoff::new(BASE, MAX);
        let mut ceilings = Vec::new();
        for _ in 0..40 {
            ceilings.push(backoff.ceiling());
            backoff.next_delay();
        }
        let secs: Vec<u64> = ceilings.iter().take(6).map(Duration::as_secs).collect();
        assert_eq!(secs, [5, 10, 20, 40, 60, 60]);
        assert!(ceilings.iter().all(|c| *c <= MAX));
        assert_eq!(ceilings.last(), Some(&MAX));
    }

    #[test]
    fn delays_stay_within_the_ceiling_and_vary() {
        let mut backoff = Backoff::new(BASE, MAX);
        let mut delays = Vec::new();
        for _ in 0..200 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            delays.push(delay);
        }
        delays.sort();
        delays.dedup();
        assert!(delays.len() > 100, "jitter drew too few distinct values");
        // Full jitter reaches well below the ceiling.
        assert!(delays[0] < MAX / 2);
    }

    #[test]
    fn reset_starts_over_from_base() {
        let mut backoff = Backoff::new(BASE, MAX);
        for _ in 0..5 {
            backoff.next_delay();
        }
        assert_eq!(backoff.ceiling(), MAX);
        backoff.reset();
        assert_eq!(backoff.ceiling(), BASE);
    }

    #[test]
    fn base_above_max_is_capped() {
        let backoff = Backoff::new(Duration::from_secs(90), MAX);
        assert_eq!(backoff.ceiling(), MAX);
    }

    #[test]
    fn jitter_spans_zero_to_ceiling() {
        assert_eq!(jitter(MAX, 0), Duration::ZERO);
        assert_eq!(jitter(MAX, u64::MAX), MAX);
        let half = jitter(MAX, u64::MAX / 2);
        assert!(MAX / 2 - half <= Duration::from_nanos(1), "{half:?}");
    }
}
