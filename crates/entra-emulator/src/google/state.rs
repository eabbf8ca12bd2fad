//! The state every Google handler shares: the directory, keys, switches, the clock, and the
//! short-lived grants (picker requests, codes, access tokens) kept in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::directory::GoogleDirectory;
use super::misbehaviour::{GoogleEndpoint, GoogleMisbehaviour};
use crate::clock::Clock;
use crate::endpoints::authorize::Pkce;
use crate::keys::Keyring;
use crate::live::{AutoSelect, LiveDirectory, PickerQueue};
use crate::misbehaviour::Switches;

pub(crate) type GoogleState = Arc<GoogleShared>;

/// Authorization codes are single use and live 10 minutes.
pub(crate) const CODE_LIFETIME: time::Duration = time::Duration::minutes(10);
/// Google's access tokens say `expires_in: 3599`.
pub(crate) const ACCESS_TOKEN_LIFETIME_SECS: i64 = 3599;

/// The query of one authorize request, as the client sent it: what tests inspect to see that
/// the product sent `hd`, `prompt`, `nonce`…
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizeParams {
    pairs: Vec<(String, String)>,
}

impl AuthorizeParams {
    /// The first value of `name`, if the request had it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the order sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// An authorize request that passed validation.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub client_id: String,
    pub redirect_uri: String,
    /// The `scope` values as sent.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub pkce: Option<Pkce>,
    pub login_hint: Option<String>,
    /// The `hd` parameter: a hint for the picker, never a claim.
    pub hd: Option<String>,
    pub prompt: Option<String>,
}

/// An issued authorization code.
pub(crate) struct Code {
    pub request: Request,
    pub sub: String,
    pub issued: OffsetDateTime,
    pub redeemed: bool,
}

/// What an access token stands for.
#[derive(Clone)]
pub(crate) struct Grant {
    pub request: Request,
    pub sub: String,
    pub expires: OffsetDateTime,
}

pub(crate) struct GoogleShared {
    /// `http://127.0.0.1:PORT`: the issuer and the base of every endpoint.
    pub base_url: String,
    pub auto_select: AutoSelect,
    /// Write `iss` without its scheme, as Google's legacy `accounts.google.com`.
    pub legacy_issuer: AtomicBool,
    pub directory: LiveDirectory<GoogleDirectory>,
    pub keys: Mutex<Keyring<()>>,
    pub switches: Mutex<Switches<String, GoogleMisbehaviour, GoogleEndpoint>>,
    pub clock: Clock,
    pub pending: PickerQueue<Request>,
    pub codes: Mutex<HashMap<String, Code>>,
    pub access_tokens: Mutex<HashMap<String, Grant>>,
    pub last_authorize: Mutex<Option<AuthorizeParams>>,
}

impl GoogleShared {
    pub fn new(
        base_url: String,
        auto_select: bool,
        directory: GoogleDirectory,
        keys: Keyring<()>,
    ) -> Self {
        GoogleShared {
            base_url,
            auto_select: AutoSelect::new(auto_select),
            legacy_issuer: AtomicBool::default(),
            directory: LiveDirectory::new(directory),
            keys: Mutex::new(keys),
            switches: Mutex::default(),
            clock: Clock::default(),
            pending: PickerQueue::default(),
            codes: Mutex::default(),
            access_tokens: Mutex::default(),
            last_authorize: Mutex::default(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The issuer: the base URL, or the base URL without its scheme in legacy mode (Google's
    /// `accounts.google.com`).
    pub fn issuer(&self) -> String {
        if self.legacy_issuer.load(Ordering::Relaxed) {
            let bare = self.base_url.split_once("://").map(|(_, rest)| rest);
            bare.unwrap_or(&self.base_url).to_owned()
        } else {
            self.base_url.clone()
        }
    }

    pub fn is_on(&self, client: Option<&str>, misbehaviour: GoogleMisbehaviour) -> bool {
        let client = client.map(str::to_owned);
        self.switches.lock().is_on(client.as_ref(), misbehaviour)
    }

    pub fn remember_authorize(&self, pairs: &[(String, String)]) {
        *self.last_authorize.lock() = Some(AuthorizeParams {
            pairs: pairs.to_vec(),
        });
    }

    /// Emulates a slow server when a test asked for it.
    pub async fn delay(&self, endpoint: GoogleEndpoint) {
        let delay = self.switches.lock().delay(&endpoint);
        crate::misbehaviour::pause(delay).await;
    }

    /// Keeps `code` for redemption, forgetting codes and tokens nobody can use any more (so a
    /// long-running emulator doesn't grow forever).
    pub fn keep_code(&self, code: String, grant: Code) {
        let now = self.now();
        self.access_tokens.lock().retain(|_, t| t.expires > now);
        let mut codes = self.codes.lock();
        codes.retain(|_, c| now - c.issued < CODE_LIFETIME);
        codes.insert(code, grant);
    }
}
