//! What every OpenID Connect provider's sign-in shares: the flow's state in an encrypted
//! cookie, the outbound HTTP client, signing keys, the ID token's provider-neutral checks,
//! and the RS256 primitive. A provider module (`microsoft`, `google`) adds only its own
//! endpoints, issuer rules and claims.

pub mod flow;
pub mod http;
pub mod id_token;
pub mod jwks;
pub mod rs256;
