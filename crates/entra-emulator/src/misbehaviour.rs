//! Switches that make the emulator misbehave on purpose, so a relying party's tests can prove it
//! refuses what it must refuse. Off unless a test turns them on through the handle.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::Duration;

use uuid::Uuid;

/// An endpoint of the emulator, for delays and oversized bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Discovery,
    Jwks,
    Authorize,
    Token,
    Logout,
    Graph,
}

/// One deliberate deviation from Microsoft's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Misbehaviour {
    /// Sign ID tokens with an RSA key that the JWKS does not publish.
    SignWithUnpublishedKey,
    /// `{"alg":"none"}` and an empty signature.
    AlgNone,
    /// `HS256` with the signing key's public key (SPKI PEM) as the HMAC secret.
    Hs256WithPublicKey,
    /// `iss` of another issuer host (the v1 `https://sts.windows.net/{tid}/` form).
    WrongIssuer,
    /// `iss` names another tenant than `tid` does.
    IssuerTenantMismatch,
    /// `aud` is some other application.
    WrongAudience,
    /// Issued two hours ago, expired an hour ago.
    Expired,
    /// `iat` and `nbf` an hour in the future.
    IssuedInFuture,
    MissingNonce,
    WrongNonce,
    MissingOid,
    MissingTid,
    /// Graph `/me` answers with an `id` different from the token's `oid`.
    GraphIdMismatch,
    /// Graph `/me` answers 500.
    GraphServerError,
    /// The endpoint streams a 50 MB body instead of its answer.
    OversizedBody(Endpoint),
    /// The discovery document's `issuer` names another tenant.
    DiscoveryIssuerMismatch,
    /// `tid` and `iss` both name another tenant of the directory (consistently).
    ForeignTenant,
    /// Leave this claim out of the ID token (`sub`, `aud`, `iat`…).
    RemoveClaim(&'static str),
    /// Send this ID-token claim as a number instead of a string.
    ClaimAsNumber(&'static str),
    /// Add this JOSE header parameter (`jku`, `x5u`, `jwk`, `crit`) to the ID token.
    HeaderParam(&'static str),
    /// No `kid` in the ID token's header.
    OmitKid,
    /// `nbf` an hour in the future, `iat` now.
    NotBeforeInFuture,
    /// An `id_token` that is not a JWT at all.
    MalformedIdToken,
    /// A correctly signed ID token padded to about 1 MB.
    HugeIdToken,
    /// The token response has no `id_token`.
    OmitIdToken,
    /// `token_type` is `mac`, not `Bearer`.
    WrongTokenType,
    /// Redeem codes without checking the PKCE verifier (as a careless server would).
    SkipPkceCheck,
    /// Answer with the ID token of the previous redemption instead of a fresh one.
    ReplayPreviousIdToken,
    /// The token endpoint answers `307` to this loopback port instead of a token.
    RedirectTokenTo(u16),
    /// The endpoint sends its body a byte at a time, slowly, for a minute.
    DripBody(Endpoint),
}

/// Switch state shared by all handlers: misbehaviours `M` per client `K` and for everyone,
/// and delays per endpoint `E`.
pub(crate) struct Switches<K = Uuid, M = Misbehaviour, E = Endpoint> {
    per_app: HashMap<K, HashSet<M>>,
    global: HashSet<M>,
    delays: HashMap<E, Duration>,
}

impl<K, M, E> Default for Switches<K, M, E> {
    fn default() -> Self {
        Switches {
            per_app: HashMap::new(),
            global: HashSet::new(),
            delays: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash, M: Eq + Hash + Copy, E: Eq + Hash> Switches<K, M, E> {
    pub fn set(&mut self, client_id: K, misbehaviour: M) {
        self.per_app
            .entry(client_id)
            .or_default()
            .insert(misbehaviour);
    }

    pub fn clear(&mut self, client_id: &K) {
        self.per_app.remove(client_id);
    }

    pub fn set_global(&mut self, misbehaviour: M) {
        self.global.insert(misbehaviour);
    }

    pub fn clear_global(&mut self) {
        self.global.clear();
    }

    pub fn set_delay(&mut self, endpoint: E, delay: Duration) {
        if delay.is_zero() {
            self.delays.remove(&endpoint);
        } else {
            self.delays.insert(endpoint, delay);
        }
    }

    pub fn delay(&self, endpoint: &E) -> Option<Duration> {
        self.delays.get(endpoint).copied()
    }

    /// Every switch on for this client (and globally).
    pub fn active_for(&self, client: Option<&K>) -> Vec<M> {
        let app = client
            .and_then(|c| self.per_app.get(c))
            .into_iter()
            .flatten();
        self.global.iter().chain(app).copied().collect()
    }

    /// Whether `misbehaviour` applies to a request made by `client` (or by nobody known).
    pub fn is_on(&self, client: Option<&K>, misbehaviour: M) -> bool {
        self.global.contains(&misbehaviour)
            || client
                .and_then(|c| self.per_app.get(c))
                .is_some_and(|set| set.contains(&misbehaviour))
    }
}

/// Waits out a test's delay, if it set one.
pub(crate) async fn pause(delay: Option<Duration>) {
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
}

impl Switches {
    pub fn redirect_token_port(&self, client: Uuid) -> Option<u16> {
        self.active_for(Some(&client))
            .into_iter()
            .find_map(|m| match m {
                Misbehaviour::RedirectTokenTo(port) => Some(port),
                _ => None,
            })
    }
}
