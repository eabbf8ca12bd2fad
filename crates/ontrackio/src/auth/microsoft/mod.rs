//! Sign-in with Microsoft Entra ID: the authorization-code flow (confidential client,
//! PKCE S256, state, nonce), ID-token validation, Graph `/me`, and the identity policy.

pub mod aadsts;
pub mod client;
pub mod flow;
pub mod id_token;
pub mod jwks;
pub mod policy;
pub mod rs256;
pub mod settings;

use std::sync::Arc;

use crate::config::Config;

/// Microsoft sign-ins one client IP may start per minute (per node), unless
/// `ONTRACKIO_FLOW_STARTS_PER_MINUTE` says otherwise (a load test from one address, an
/// office behind one NAT address).
pub const FLOW_STARTS_PER_MINUTE: u32 = 30;

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
    pub jwks: jwks::JwksCache,
    pub settings: settings::SettingsCache,
    /// Admits `ONTRACKIO_CALLBACKS_IN_FLIGHT` callbacks to their outbound calls at a time.
    pub finishing: tokio::sync::Semaphore,
    /// Audit rows of callbacks anyone can send (no valid flow): the first of each kind per
    /// workspace and minute, so that nobody can flood the audit log.
    pub unauthenticated_refusals: crate::audit::Coalescer,
}

impl Microsoft {
    pub fn new(config: &Config) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            client: client::MicrosoftClient::new(
                config.microsoft_authority.clone(),
                config.microsoft_graph.clone(),
                config.microsoft_timeout,
            )?,
            jwks: jwks::JwksCache::default(),
            start_limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(
                config.flow_starts_per_minute,
            )),
            settings: settings::SettingsCache::new(),
            finishing: tokio::sync::Semaphore::new(config.callbacks_in_flight.get() as usize),
            unauthenticated_refusals: crate::audit::Coalescer::new(60),
        }))
    }
}
