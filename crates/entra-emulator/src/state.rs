//! The state every handler shares: the directory, keys, switches, the emulator's clock, and the
//! short-lived grants (pending sign-ins, codes, sessions, tokens) kept in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use parking_lot::Mutex;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::Clock;
use crate::directory::{AppRegistration, Directory};
use crate::endpoints::authorize::AuthorizeRequest;
use crate::errors::{AadError, Trace};
use crate::keys::Keyring;
use crate::live::{AutoSelect, LiveDirectory, PickerQueue};
use crate::misbehaviour::{Endpoint, Misbehaviour, Switches};

pub(crate) type AppState = Arc<Shared>;

pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`: the authority host every issuer and endpoint is built from.
    pub base_url: String,
    /// `/graph`: where Graph's `/v1.0/me` lives.
    pub graph_path: String,
    pub auto_select: AutoSelect,
    pub directory: LiveDirectory<Directory>,
    pub keys: Mutex<Keyring>,
    pub switches: Mutex<Switches>,
    clock: Clock,
    pub pending: PickerQueue<AuthorizeRequest>,
    pub codes: Mutex<HashMap<String, AuthCode>>,
    pub sessions: Mutex<HashMap<String, Uuid>>,
    pub access_tokens: Mutex<HashMap<String, AccessGrant>>,
    pub refresh_tokens: Mutex<HashMap<String, RefreshGrant>>,
    /// The ID token of the last redemption, for `ReplayPreviousIdToken`.
    pub last_id_token: Mutex<Option<String>>,
    pub saml: crate::saml::endpoints::SamlState,
}

/// An issued authorization code.
pub(crate) struct AuthCode {
    pub request: AuthorizeRequest,
    pub principal: Principal,
    pub issued: OffsetDateTime,
    pub redeemed: bool,
}

/// What an access token for Graph stands for.
#[derive(Clone)]
pub(crate) struct AccessGrant {
    pub client_id: Uuid,
    /// `None` for an app-only (client credentials) token.
    pub principal: Option<Principal>,
    pub scopes: Vec<String>,
    pub expires: OffsetDateTime,
}

#[derive(Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: Uuid,
    pub principal: Principal,
    pub scopes: Vec<String>,
}

/// The user object a token speaks for: `object` in `tenant`, which for a guest is the guest
/// object in the resource tenant, while `home_*` name the account that actually signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Principal {
    pub tenant: Uuid,
    pub object: Uuid,
    pub home_tenant: Uuid,
    pub home_user: Uuid,
}

impl Principal {
    pub fn is_guest(&self) -> bool {
        self.tenant != self.home_tenant
    }
}

/// The `{tenant}` path segment, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authority {
    Tenant(Uuid),
    Common,
    Organizations,
    Consumers,
}

impl Authority {
    /// GUIDs and verified domains name a tenant; unknown values are `None` (AADSTS90002).
    pub fn resolve(directory: &Directory, segment: &str) -> Option<Authority> {
        match segment.to_ascii_lowercase().as_str() {
            "common" => return Some(Authority::Common),
            "organizations" => return Some(Authority::Organizations),
            "consumers" => return Some(Authority::Consumers),
            _ => {}
        }
        if segment.eq_ignore_ascii_case(crate::MSA_TENANT_ID) {
            return Some(Authority::Consumers);
        }
        if let Ok(id) = Uuid::parse_str(segment) {
            return directory.tenant(id).map(|t| Authority::Tenant(t.id));
        }
        directory
            .tenant_by_domain(segment)
            .map(|t| Authority::Tenant(t.id))
    }

    pub fn tenant(&self) -> Option<Uuid> {
        match self {
            Authority::Tenant(id) => Some(*id),
            _ => None,
        }
    }

    /// Whether `app` can be used at this authority at all (else AADSTS700016).
    pub fn admits_app(&self, app: &AppRegistration) -> bool {
        match self {
            Authority::Tenant(id) => app.home_tenant == *id || app.is_multi_tenant(),
            Authority::Common | Authority::Organizations => true,
            // The emulator has no personal accounts: no app is usable there.
            Authority::Consumers => false,
        }
    }

    /// The directory name AADSTS700016 quotes.
    pub fn directory_label(&self, directory: &Directory, segment: &str) -> String {
        match self {
            Authority::Tenant(id) => directory
                .tenant(*id)
                .map(|t| t.display_name.clone())
                .unwrap_or_else(|| segment.to_owned()),
            _ => segment.to_owned(),
        }
    }
}

/// Works out which user object `home_user` signs in as, or why Entra refuses (50020, 50057).
pub(crate) fn resolve_principal(
    directory: &Directory,
    authority: Authority,
    app: &AppRegistration,
    home_user: Uuid,
) -> Result<Principal, AadError> {
    let Some((home_tenant, user)) = directory.locate(home_user) else {
        return Err(AadError::invalid_grant());
    };
    if user.disabled {
        return Err(AadError::user_disabled());
    }
    let refuse = |tenant: Uuid| {
        let tenant_name = directory
            .tenant(tenant)
            .map(|t| t.display_name.clone())
            .unwrap_or_default();
        AadError::user_not_in_tenant(
            &user.user_principal_name,
            home_tenant.id,
            &tenant_name,
            app.client_id,
            &app.display_name,
        )
    };
    let principal = match authority {
        Authority::Tenant(tenant) if tenant == home_tenant.id => member(home_tenant.id, home_user),
        Authority::Tenant(tenant) => {
            let guest = directory.tenant(tenant).and_then(|t| {
                t.users.iter().find(|u| {
                    u.guest_of
                        .is_some_and(|g| g.tenant == home_tenant.id && g.user == home_user)
                })
            });
            match guest {
                Some(guest) if guest.disabled => return Err(AadError::user_disabled()),
                Some(guest) => Principal {
                    tenant,
                    object: guest.id,
                    home_tenant: home_tenant.id,
                    home_user,
                },
                None => return Err(refuse(tenant)),
            }
        }
        // Through `common`, everyone lands in their home tenant (guests included).
        Authority::Common | Authority::Organizations | Authority::Consumers => {
            member(home_tenant.id, home_user)
        }
    };
    if !app.is_multi_tenant() && principal.tenant != app.home_tenant {
        return Err(refuse(app.home_tenant));
    }
    Ok(principal)
}

fn member(tenant: Uuid, user: Uuid) -> Principal {
    Principal {
        tenant,
        object: user,
        home_tenant: tenant,
        home_user: user,
    }
}

impl Shared {
    pub fn new(
        base_url: String,
        graph_path: String,
        auto_select: bool,
        directory: Directory,
        keys: Keyring,
        saml_credential: crate::saml::SigningCredential,
    ) -> Self {
        Shared {
            base_url,
            graph_path,
            auto_select: AutoSelect::new(auto_select),
            directory: LiveDirectory::new(directory),
            keys: Mutex::new(keys),
            switches: Mutex::new(Switches::default()),
            clock: Clock::default(),
            pending: PickerQueue::default(),
            codes: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            last_id_token: Mutex::new(None),
            saml: crate::saml::endpoints::SamlState::new(saml_credential),
        }
    }

    /// The emulator's notion of now: the wall clock shifted by `advance_clock`.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Emulates a slow server when a test asked for it.
    pub async fn delay(&self, endpoint: Endpoint) {
        let delay = self.switches.lock().delay(&endpoint);
        crate::misbehaviour::pause(delay).await;
    }

    pub fn is_on(&self, client: Option<Uuid>, misbehaviour: Misbehaviour) -> bool {
        self.switches.lock().is_on(client.as_ref(), misbehaviour)
    }

    /// The port of `RedirectTokenTo`, when that switch is on for this app.
    pub fn redirect_token_port(&self, client: Uuid) -> Option<u16> {
        self.switches.lock().redirect_token_port(client)
    }

    pub fn trace(&self, headers: &HeaderMap) -> Trace {
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok());
        Trace::new(self.now(), client_request_id)
    }

    pub fn issuer(&self, tenant: impl std::fmt::Display) -> String {
        format!("{}/{tenant}/v2.0", self.base_url)
    }

    pub fn graph_base(&self) -> String {
        format!("{}{}", self.base_url, self.graph_path)
    }

    /// Drops grants nobody can use any more, so a long-running emulator doesn't grow forever.
    pub fn prune(&self) {
        let now = self.now();
        let hour = time::Duration::hours(1);
        self.codes.lock().retain(|_, c| now - c.issued < hour);
        self.access_tokens
            .lock()
            .retain(|_, t| t.expires + hour > now);
    }
}
