//! Sign-in with Microsoft Entra ID: the authorization-code flow (confidential client,
//! PKCE S256, state, nonce), ID-token validation, Graph `/me`, and the identity policy.

pub mod aadsts;
pub mod callback;
pub mod client;
pub mod id_token;
pub mod policy;
pub mod settings;

use std::sync::Arc;

use crate::config::Config;

/// Microsoft sign-ins one client IP may start per minute (per node), unless
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

/// Callbacks finishing at once on one node (token exchange, Graph, the transaction).
/// More wait their turn holding only their connection and a small future: a Monday-morning
/// burst of a thousand callbacks must not open a thousand connections to Microsoft and hold
/// a thousand token exchanges in memory (DESIGN §8: 1,000 concurrent flows in 64 MB; at 256
/// the pool grew to ~490 connections, 20 KB each). It caps a node at 64 ÷ Microsoft's
/// latency, ≈ 430 sign-ins a second at 150 ms: 50,000 employees signing in within ten
/// minutes need 83 a second (BENCHMARKS.md). `ONTRACKIO_CALLBACKS_IN_FLIGHT` changes it
/// (each callback in progress holds ≈ 25 KB).
pub const CALLBACKS_IN_FLIGHT: u32 = 64;

/// Exactly the four scopes the guide tells admins to grant.
pub const SCOPES: &str = "openid profile email User.Read";

/// Process-wide Microsoft state: the pooled client and the caches.
pub struct Microsoft {
    pub client: client::MicrosoftClient,
    /// Flow starts per client IP: a start costs nothing in the database but sends the
    /// browser to Microsoft, so a script must not use us to hammer it. Per node: with N
    /// nodes behind a balancer a client gets at most N times this.
    pub start_limiter: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    pub jwks: crate::auth::oidc::jwks::JwksCache,
    pub settings: settings::SettingsCache,
    /// Admits `ONTRACKIO_CALLBACKS_IN_FLIGHT` callbacks to their outbound calls at a time.
    pub finishing: tokio::sync::Semaphore,
    /// Audit rows of callbacks anyone can send (no valid flow): the first of each kind per
    /// workspace and minute, so that nobody can flood the audit log.
    pub unauthenticated_refusals: crate::audit::Coalescer,
}

impl Microsoft {
    pub fn new(
        config: &Config,
        listening: Arc<crate::listening::ChangeListening>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            client: client::MicrosoftClient::new(
                config.microsoft_authority.clone(),
                config.microsoft_graph.clone(),
                config.microsoft_timeout,
            )?,
            jwks: crate::auth::oidc::jwks::JwksCache::default(),
            start_limiter: governor::RateLimiter::keyed(flow_start_quota(
                config.flow_starts_per_minute,
            )),
            settings: settings::SettingsCache::new(listening),
            finishing: tokio::sync::Semaphore::new(config.callbacks_in_flight.get() as usize),
            unauthenticated_refusals: crate::audit::Coalescer::new(60),
        }))
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
