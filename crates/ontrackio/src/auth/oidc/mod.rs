//! What every OpenID Connect provider's sign-in shares: the flow's state in an encrypted
//! cookie, the outbound HTTP client, signing keys, the ID token's provider-neutral checks,
//! and the RS256 primitive. A provider module (`microsoft`, `google`) adds only its own
//! endpoints, issuer rules and claims.

pub mod flow;
pub mod http;
pub mod id_token;
pub mod jwks;
pub mod rs256;

/// External sign-ins (any provider) one client IP may start per minute (per node), unless
/// `ONTRACKIO_FLOW_STARTS_PER_MINUTE` says otherwise. Sized for an office of 1,000 people
/// behind one NAT address arriving at 9:00 (docs/operations.md §5): with the burst of
/// [`flow_start_quota`], one node admits all of them within four minutes, while a script
/// from one address gets 4 starts a second after its first 120.
pub const FLOW_STARTS_PER_MINUTE: u32 = 240;

/// The flow-start quota: `per_minute` on average, and a burst of half a minute's worth at
/// once, so that a whole office arriving together is not refused in its first seconds.
pub fn flow_start_quota(per_minute: std::num::NonZeroU32) -> governor::Quota {
    let burst = std::num::NonZeroU32::new(per_minute.get().div_ceil(2)).unwrap_or(per_minute);
    governor::Quota::per_minute(per_minute).allow_burst(burst)
}

/// Callbacks finishing at once on one node, any provider (token exchange, Graph, the
/// transaction).
/// More wait their turn holding only their connection and a small future: a Monday-morning
/// burst of a thousand callbacks must not open a thousand connections to the provider and hold
/// a thousand token exchanges in memory (DESIGN §8: 1,000 concurrent flows in 64 MB; at 256
/// the pool grew to ~490 connections, 20 KB each). It caps a node at 64 ÷ Microsoft's
/// latency, ≈ 430 sign-ins a second at 150 ms: 50,000 employees signing in within ten
/// minutes need 83 a second (BENCHMARKS.md). `ONTRACKIO_CALLBACKS_IN_FLIGHT` changes it
/// (each callback in progress holds ≈ 25 KB).
pub const CALLBACKS_IN_FLIGHT: u32 = 64;

/// What every provider's flows share on one node: who may start one, how many finish at
/// once, and how often anonymous refusals are written.
pub struct Flows {
    /// Flow starts per client IP, all providers together: a start costs nothing in the
    /// database but sends the browser to the provider, so a script must not use us to
    /// hammer it. Per node: with N nodes behind a balancer a client gets at most N times this.
    pub start_limiter: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Admits `ONTRACKIO_CALLBACKS_IN_FLIGHT` callbacks to their outbound calls at a time.
    pub finishing: tokio::sync::Semaphore,
    /// Audit rows of callbacks anyone can send (no valid flow): the first of each kind per
    /// workspace and minute, so that nobody can flood the audit log.
    pub unauthenticated_refusals: crate::audit::Coalescer,
}

impl Flows {
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            start_limiter: governor::RateLimiter::keyed(flow_start_quota(
                config.flow_starts_per_minute,
            )),
            finishing: tokio::sync::Semaphore::new(config.callbacks_in_flight.get() as usize),
            unauthenticated_refusals: crate::audit::Coalescer::new(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use governor::RateLimiter;
    use governor::clock::FakeRelativeClock;

    use super::*;

    /// docs/operations.md §5: 1,000 people behind one address, arriving over the first
    /// minutes after 9:00, each starting one sign-in, on one node with the defaults.
    #[test]
    fn an_office_of_a_thousand_behind_one_address_all_start_within_four_minutes() {
        let clock = FakeRelativeClock::default();
        let quota = flow_start_quota(NonZeroU32::new(FLOW_STARTS_PER_MINUTE).unwrap());
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let mut admitted = 0;
        let mut refused = 0;
        // Everyone tries as soon as they can: a refused start is retried 250 ms later.
        while admitted < 1_000 {
            match limiter.check() {
                Ok(()) => admitted += 1,
                Err(_) => {
                    refused += 1;
                    clock.advance(Duration::from_millis(250));
                }
            }
        }
        let took = Duration::from_millis(250) * refused;
        assert!(
            took <= Duration::from_secs(4 * 60),
            "the last of 1,000 started after {took:?} ({refused} refusals)"
        );
    }

    #[test]
    fn a_burst_from_one_address_is_cut_at_half_a_minutes_worth() {
        let clock = FakeRelativeClock::default();
        let quota = flow_start_quota(NonZeroU32::new(FLOW_STARTS_PER_MINUTE).unwrap());
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        // 600 at the same instant: the burst passes, the rest are refused.
        let admitted = (0..600).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(admitted, (FLOW_STARTS_PER_MINUTE / 2) as usize);
        // Then four a second.
        clock.advance(Duration::from_secs(1));
        let admitted = (0..600).filter(|_| limiter.check().is_ok()).count();
        assert_eq!(admitted, 4);
    }
}
