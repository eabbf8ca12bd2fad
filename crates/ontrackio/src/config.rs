//! Process configuration: read from the environment once, parsed into typed values.
//! A missing or malformed value stops start-up with a one-line reason naming the variable.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ipnet::IpNet;

use crate::crypto::KeyRing;

/// The public base URL: scheme, base domain and port. Workspaces live at
/// `{scheme}://{slug}.{domain}{:port}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    https: bool,
    domain: String,
    port: Option<u16>,
}

impl BaseUrl {
    pub fn parse(input: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(input.trim())
            .with_context(|| format!("“{input}” is not a URL like https://app.ontrackio.com"))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => bail!("scheme “{other}” is not http or https"),
        };
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            bail!("“{input}” must have no path, query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("“{input}” must not carry credentials");
        }
        let domain = match url.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            _ => bail!(
                "“{input}” must name a domain (workspaces are its subdomains), not an IP address"
            ),
        };
        Ok(Self {
            https,
            domain,
            port: url.port(),
        })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
    pub fn domain(&self) -> &str {
        &self.domain
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    fn port_suffix(&self) -> String {
        self.port.map(|p| format!(":{p}")).unwrap_or_default()
    }
    /// `http://acme.localhost:8080`
    pub fn workspace_origin(&self, slug: &str) -> String {
        format!(
            "{}://{slug}.{}{}",
            self.scheme(),
            self.domain,
            self.port_suffix()
        )
    }
    /// `http://localhost:8080`
    pub fn origin(&self) -> String {
        format!("{}://{}{}", self.scheme(), self.domain, self.port_suffix())
    }
}

/// Where the product keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(input: &str) -> anyhow::Result<Self> {
        let s = input.trim();
        if s.starts_with("sqlite:") {
            Ok(Self::Sqlite(s.to_string()))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self::Postgres(s.to_string()))
        } else {
            bail!("must start with sqlite:// or postgres://")
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(s) | Self::Postgres(s) => s,
        }
    }
    /// The URL without a password, for logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.as_str()) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.as_str().to_string(),
        }
    }
}

/// An outbound base URL for Microsoft: https, or http only for loopback hosts (the
/// emulator, local proxies) so a typo can never send secrets over plain text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundBase(String);

impl OutboundBase {
    pub fn parse(input: &str) -> anyhow::Result<Self> {
        let url =
            url::Url::parse(input.trim()).with_context(|| format!("“{input}” is not a URL"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => bail!("“{input}” has no host"),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => bail!("“{input}” must use https (http is accepted only for loopback hosts)"),
            other => bail!("scheme “{other}” is not https"),
        }
        if url.query().is_some() || url.fragment().is_some() {
            bail!("“{input}” must have no query or fragment");
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Copy)]
pub enum LogFormat {
    Text,
    Json,
}

/// The guide's environment fallback for Microsoft sign-in (§5.3). Kept raw here: each
/// value is validated with the same rules as the settings card where it is used, so the
/// card can show the admin which variable is wrong instead of the server refusing to start.
#[derive(Clone, Default)]
pub struct AzureEnv {
    pub client_id: Option<String>,
    pub client_secret: Option<secrecy::SecretString>,
    pub tenant_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub allowed_domains: Option<String>,
}

impl std::fmt::Debug for AzureEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureEnv")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("tenant_id", &self.tenant_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("allowed_domains", &self.allowed_domains)
            .finish()
    }
}

/// The Google card's environment fallback, raw like [`AzureEnv`] and validated where used.
#[derive(Clone, Default)]
pub struct GoogleEnv {
    pub client_id: Option<String>,
    pub client_secret: Option<secrecy::SecretString>,
    pub redirect_uri: Option<String>,
}

impl std::fmt::Debug for GoogleEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleEnv")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    pub base_url: BaseUrl,
    pub keys: KeyRing,
    pub microsoft_authority: OutboundBase,
    pub microsoft_graph: OutboundBase,
    pub trusted_proxies: Vec<IpNet>,
    pub azure: AzureEnv,
    /// Google's issuer: discovery is read from `{issuer}/.well-known/openid-configuration`
    /// and ID tokens must name it (`https://accounts.google.com`; the emulator elsewhere).
    pub google_issuer: OutboundBase,
    pub google: GoogleEnv,
    pub log_format: LogFormat,
    /// How long one call to Microsoft may take before the sign-in gives up.
    pub microsoft_timeout: std::time::Duration,
    /// Microsoft sign-ins one client IP may start per minute on this node.
    pub flow_starts_per_minute: NonZeroU32,
    /// Microsoft callbacks this node finishes at once (the rest wait their turn).
    pub callbacks_in_flight: NonZeroU32,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./ontrackio-data/ontrackio.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_BASE_URL: &str = "http://localhost:8080";

/// Reads one variable; empty counts as unset so `FOO= ontrackio serve` means "default".
fn var(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
    }
}

fn parsed<T>(
    name: &str,
    default: &str,
    f: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let raw = var(name)?.unwrap_or_else(|| default.to_string());
    f(&raw).map_err(|e| anyhow::anyhow!("{name}: {e:#}"))
}

/// A whole number from 1 to `max`.
fn whole_number(s: &str, max: u32) -> anyhow::Result<NonZeroU32> {
    let n = s
        .trim()
        .parse::<NonZeroU32>()
        .ok()
        .filter(|n| n.get() <= max);
    match (n, max) {
        (Some(n), _) => Ok(n),
        (None, u32::MAX) => bail!("“{s}” is not a whole number of at least 1"),
        (None, _) => bail!("“{s}” is not a whole number from 1 to {max}"),
    }
}

/// How the master key is found when the environment names none.
pub enum MasterKeySource {
    /// `serve`, `migrate` and the CLI: the variable is required.
    Required,
    /// `demo`: generated into this file on first run (mode 0600) and reused after.
    GenerateInto(PathBuf),
    /// Commands that seal nothing: a throwaway key if none is configured.
    NotNeeded,
}

impl Config {
    /// Reads the whole configuration from the environment.
    pub fn from_env(key_source: MasterKeySource) -> anyhow::Result<Self> {
        let database_url = parsed(
            "ONTRACKIO_DATABASE_URL",
            DEFAULT_DATABASE_URL,
            DatabaseUrl::parse,
        )?;
        let listen = parsed("ONTRACKIO_LISTEN", DEFAULT_LISTEN, |s| {
            s.trim()
                .parse::<SocketAddr>()
                .with_context(|| format!("“{s}” is not a socket address like 127.0.0.1:8080"))
        })?;
        let base_url = parsed("ONTRACKIO_BASE_URL", DEFAULT_BASE_URL, BaseUrl::parse)?;
        let keys = Self::master_keys(key_source)?;
        let microsoft_authority = parsed(
            "ONTRACKIO_MICROSOFT_AUTHORITY",
            "https://login.microsoftonline.com",
            OutboundBase::parse,
        )?;
        let microsoft_graph = parsed(
            "ONTRACKIO_MICROSOFT_GRAPH",
            "https://graph.microsoft.com",
            OutboundBase::parse,
        )?;
        let trusted_proxies = match var("ONTRACKIO_TRUSTED_PROXIES")? {
            None => Vec::new(),
            Some(raw) => {
                parse_cidrs(&raw).map_err(|e| anyhow::anyhow!("ONTRACKIO_TRUSTED_PROXIES: {e}"))?
            }
        };
        let azure = AzureEnv {
            client_id: var("AZURE_CLIENT_ID")?,
            client_secret: var("AZURE_CLIENT_SECRET")?.map(secrecy::SecretString::from),
            tenant_id: var("AZURE_TENANT_ID")?,
            redirect_uri: var("AZURE_REDIRECT_URI")?,
            allowed_domains: var("AZURE_ALLOWED_DOMAINS")?,
        };
        let google_issuer = parsed(
            "ONTRACKIO_GOOGLE_ISSUER",
            "https://accounts.google.com",
            OutboundBase::parse,
        )?;
        let google = GoogleEnv {
            client_id: var("GOOGLE_CLIENT_ID")?,
            client_secret: var("GOOGLE_CLIENT_SECRET")?.map(secrecy::SecretString::from),
            redirect_uri: var("GOOGLE_REDIRECT_URI")?,
        };
        let flow_starts_per_minute = parsed(
            "ONTRACKIO_FLOW_STARTS_PER_MINUTE",
            &crate::auth::oidc::FLOW_STARTS_PER_MINUTE.to_string(),
            |s| whole_number(s, u32::MAX),
        )?;
        let callbacks_in_flight = parsed(
            "ONTRACKIO_CALLBACKS_IN_FLIGHT",
            &crate::auth::oidc::CALLBACKS_IN_FLIGHT.to_string(),
            |s| whole_number(s, 4096),
        )?;
        let log_format = match var("ONTRACKIO_LOG_FORMAT")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("ONTRACKIO_LOG_FORMAT: “{other}” is not text or json"),
        };
        Ok(Self {
            database_url,
            listen,
            base_url,
            keys,
            microsoft_authority,
            microsoft_graph,
            trusted_proxies,
            azure,
            google_issuer,
            google,
            log_format,
            microsoft_timeout: std::time::Duration::from_secs(10),
            flow_starts_per_minute,
            callbacks_in_flight,
        })
    }

    fn master_keys(source: MasterKeySource) -> anyhow::Result<KeyRing> {
        if let Some(raw) = var("ONTRACKIO_MASTER_KEY")? {
            return KeyRing::parse(&raw).map_err(|e| anyhow::anyhow!("ONTRACKIO_MASTER_KEY: {e}"));
        }
        if let Some(path) = var("ONTRACKIO_MASTER_KEY_FILE")? {
            let raw = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!("ONTRACKIO_MASTER_KEY_FILE: cannot read {path}: {e}")
            })?;
            return KeyRing::parse(&raw)
                .map_err(|e| anyhow::anyhow!("ONTRACKIO_MASTER_KEY_FILE ({path}): {e}"));
        }
        match source {
            MasterKeySource::Required => bail!(
                "ONTRACKIO_MASTER_KEY or ONTRACKIO_MASTER_KEY_FILE is required; create one with `ontrackio secrets generate-key`"
            ),
            MasterKeySource::GenerateInto(path) => KeyRing::load_or_generate(&path),
            MasterKeySource::NotNeeded => KeyRing::parse(&KeyRing::generate_encoded()),
        }
    }
}

pub fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("“{s}” is not an IP address or CIDR like 10.0.0.0/8"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse_into_scheme_domain_and_port() {
        let b = BaseUrl::parse("http://localhost:8080").unwrap();
        assert_eq!(b.workspace_origin("acme"), "http://acme.localhost:8080");
        assert_eq!(b.origin(), "http://localhost:8080");
        let b = BaseUrl::parse("https://app.ontrackio.com").unwrap();
        assert!(b.is_https());
        assert_eq!(b.workspace_origin("acme"), "https://acme.app.ontrackio.com");
        assert_eq!(b.port(), None);
        for bad in [
            "ftp://x.test",
            "https://app.test/path",
            "https://1.2.3.4",
            "not a url",
            "https://u:p@app.test",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outbound_bases_require_https_except_on_loopback() {
        assert!(OutboundBase::parse("https://login.microsoftonline.com").is_ok());
        assert!(OutboundBase::parse("http://127.0.0.1:9000").is_ok());
        assert!(OutboundBase::parse("http://localhost:9000/").is_ok());
        assert!(OutboundBase::parse("http://login.microsoftonline.com").is_err());
        assert!(OutboundBase::parse("http://10.0.0.1").is_err());
        assert_eq!(
            OutboundBase::parse("http://127.0.0.1:9/graph/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/graph"
        );
    }

    #[test]
    fn database_urls_name_their_backend_and_redact_passwords() {
        assert!(matches!(
            DatabaseUrl::parse("sqlite://x.db"),
            Ok(DatabaseUrl::Sqlite(_))
        ));
        let pg = DatabaseUrl::parse("postgres://u:secret@db/x").unwrap();
        assert!(!pg.redacted().contains("secret"));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn trusted_proxies_parse_as_cidrs_or_addresses() {
        let v = parse_cidrs("10.0.0.0/8, 127.0.0.1 ,::1").unwrap();
        assert_eq!(v.len(), 3);
        assert!(parse_cidrs("10.0.0.0/33").is_err());
        assert!(parse_cidrs("proxy.local").is_err());
    }
}
