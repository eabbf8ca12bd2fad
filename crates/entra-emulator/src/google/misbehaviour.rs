//! Switches that make the Google emulator behave like a broken or hostile identity provider,
//! so the product's tests can prove it refuses what it must. Off unless a test turns them on.

/// An endpoint of the Google emulator, for delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoogleEndpoint {
    Discovery,
    Jwks,
    Authorize,
    Token,
    Userinfo,
}

/// One deliberate deviation from Google's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoogleMisbehaviour {
    /// `iss` is `https://accounts.google.com.evil.test`: neither the emulator nor Google.
    WrongIssuer,
    /// `aud` and `azp` name another client: a token Google issued to someone else's app.
    TokenForAnotherClient,
    /// `email_verified: false` whatever the account says.
    EmailVerifiedFalse,
    /// No `email_verified` claim at all.
    EmailVerifiedMissing,
    /// `email_verified: "true"`, a string (as Google's docs once showed it) instead of a boolean.
    EmailVerifiedString,
    /// A `nonce` other than the one the client sent.
    WrongNonce,
    /// No `nonce` although the client sent one.
    MissingNonce,
    /// Issued two hours ago, expired an hour ago.
    Expired,
    /// A correctly built token whose RS256 signature does not verify.
    BadSignature,
    /// Signed with a key the JWKS does not publish (its `kid` is unknown).
    UnknownKid,
    /// The token endpoint redeems a code more than once, as a broken IdP would.
    AcceptReplayedCode,
    /// The `hd` claim is copied from the authorize request's `hd` parameter: a spoofing IdP.
    HdFromRequest,
    /// The token endpoint answers 500.
    TokenServerError,
}
