use super::*;

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

/// A limiter whose bucket refills once an hour, so tests see only the burst.
fn hourly(burst: u32, max_concurrent: u32) -> (Limiter, Metrics, AuditLog) {
    let (metrics, audit) = (Metrics::new(), AuditLog::memory());
    let burst = NonZeroU32::new(burst).expect("burst");
    let quota = Quota::with_period(Duration::from_secs(3600)).expect("period").allow_burst(burst);
    let limiter =
        Limiter::with_quota("test", Some(quota), max_concurrent, metrics.clone(), audit.clone());
    (limiter, metrics, audit)
}

#[test]
fn an_address_over_its_burst_is_refused_while_another_is_admitted() {
    let (limiter, metrics, _) = hourly(3, 0);
    let permits: Vec<Permit> = (0..3).map(|_| limiter.admit(A).expect("within burst")).collect();
    let refusal = limiter.admit(A).expect_err("over the burst");
    let Refusal::Rate { retry_after } = refusal else { panic!("{refusal:?}") };
    assert!(retry_after > Duration::from_secs(3000), "{retry_after:?}");
    assert_eq!(refusal.retry_after_secs(), retry_after.as_secs_f64().ceil() as u64);
    assert!(limiter.admit(B).is_ok(), "another address has its own bucket");
    assert_eq!(metrics.rate_limits("test", "rate"), 1);
    drop(permits);
    assert!(limiter.admit(A).is_err(), "giving slots back does not refill the bucket");
}

#[test]
fn the_concurrency_cap_frees_a_slot_when_a_permit_drops() {
    let (limiter, metrics, _) = hourly(100, 2);
    let first = limiter.admit(A).expect("first");
    let _second = limiter.admit(A).expect("second");
    assert_eq!(limiter.admit(A).expect_err("third at once"), Refusal::Concurrency);
    assert_eq!(Refusal::Concurrency.retry_after_secs(), 1);
    assert!(limiter.admit(B).is_ok());
    drop(first);
    let _third = limiter.admit(A).expect("a slot is free again");
    assert_eq!(metrics.rate_limits("test", "concurrency"), 1);
}

#[test]
fn a_concurrency_refusal_does_not_use_up_a_rate_token() {
    let (limiter, _, _) = hourly(2, 1);
    let held = limiter.admit(A).expect("first");
    for _ in 0..5 {
        assert_eq!(limiter.admit(A).expect_err("one at a time"), Refusal::Concurrency);
    }
    drop(held);
    let _second = limiter.admit(A).expect("the second token is still there");
}

#[test]
fn open_slots_are_forgotten_once_given_back() {
    let (limiter, _, _) = hourly(10, 10);
    let permits: Vec<Permit> = [A, A, B].into_iter().map(|ip| limiter.admit(ip).unwrap()).collect();
    assert_eq!(limiter.addresses_open(), 2);
    drop(permits);
    assert_eq!(limiter.addresses_open(), 0);
}

#[test]
fn an_ipv4_mapped_address_shares_the_ipv4_bucket() {
    let (limiter, _, _) = hourly(1, 0);
    let _permit = limiter.admit(A).unwrap();
    let mapped = IpAddr::V6(std::net::Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
    assert!(limiter.admit(mapped).is_err());
}

#[test]
fn refusals_are_audited_at_most_once_a_second_and_all_counted() {
    let (limiter, metrics, audit) = hourly(1, 0);
    let _permit = limiter.admit(A).unwrap();
    for _ in 0..50 {
        assert!(limiter.admit(A).is_err());
    }
    assert_eq!(metrics.rate_limits("test", "rate"), 50);
    let lines = audit.recorded();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "rateLimited");
    assert_eq!(lines[0]["listener"], "test");
    assert_eq!(lines[0]["source"], "127.0.0.2");
    assert_eq!(lines[0]["reason"], "rate");
}

#[test]
fn a_limiter_that_is_off_admits_everyone() {
    let limiter = Limiter::new("test", RateLimit::OFF, Metrics::new(), AuditLog::memory());
    let permits: Vec<Permit> = (0..10_000).map(|_| limiter.admit(A).unwrap()).collect();
    assert_eq!(permits.len(), 10_000);
    assert_eq!(limiter.addresses_open(), 0);
}

#[test]
fn the_config_rate_admits_the_burst_at_once() {
    let limit = RateLimit { per_second: 1, burst: 5, max_concurrent: 0 };
    let limiter = Limiter::new("test", limit, Metrics::new(), AuditLog::memory());
    let admitted = (0..20).filter(|_| limiter.admit(A).is_ok()).count();
    // One more may have refilled if the loop straddled a second; never fewer than the burst.
    assert!((5..=6).contains(&admitted), "{admitted}");
}
