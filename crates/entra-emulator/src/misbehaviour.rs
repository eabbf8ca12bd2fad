//! Switches that make the emulator misbehave on purpose, so a relying party's tests can prove it
//! refuses what it must refuse. Off unless a test turns them on through the handle.

use std::collections::{HashMap, HashSet};
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

/// Switch state shared by all handlers.
#[derive(Default)]
pub(crate) struct Switches {
    per_app: HashMap<Uuid, HashSet<Misbehaviour>>,
    global: HashSet<Misbehaviour>,
    delays: HashMap<Endpoint, Duration>,
}

impl Switches {
    pub fn set(&mut self, client_id: Uuid, misbehaviour: Misbehaviour) {
        self.per_app
            .entry(client_id)
            .or_default()
            .insert(misbehaviour);
    }

    pub fn clear(&mut self, client_id: Uuid) {
        self.per_app.remove(&client_id);
    }

    pub fn set_global(&mut self, misbehaviour: Misbehaviour) {
        self.global.insert(misbehaviour);
    }

    pub fn clear_global(&mut self) {
        self.global.clear();
    }

    pub fn set_delay(&mut self, endpoint: Endpoint, delay: Duration) {
        if delay.is_zero() {
            self.delays.remove(&endpoint);
        } else {
            self.delays.insert(endpoint, delay);
        }
    }

    pub fn delay(&self, endpoint: Endpoint) -> Option<Duration> {
        self.delays.get(&endpoint).copied()
    }

    /// Whether `misbehaviour` applies to a request made by `client` (or by nobody known).
    /// Every switch on for this app (and globally).
    pub fn active_for(&self, client: Option<Uuid>) -> Vec<Misbehaviour> {
        let app = client
            .and_then(|c| self.per_app.get(&c))
            .into_iter()
            .flatten();
        self.global.iter().chain(app).copied().collect()
    }

    pub fn redirect_token_port(&self, client: Uuid) -> Option<u16> {
        self.global
            .iter()
            .chain(self.per_app.get(&client).into_iter().flatten())
            .find_map(|m| match m {
                Misbehaviour::RedirectTokenTo(port) => Some(*port),
                _ => None,
            })
    }

    pub fn is_on(&self, client: Option<Uuid>, misbehaviour: Misbehaviour) -> bool {
        self.global.contains(&misbehaviour)
            || client
                .and_then(|c| self.per_app.get(&c))
                .is_some_and(|set| set.contains(&misbehaviour))
    }
}
