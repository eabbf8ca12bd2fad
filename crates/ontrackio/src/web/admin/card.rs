//! What the integration cards (Microsoft, Google, SAML) show alike: the health line, the
//! shared allowed email domains, where each value comes from. One copy, so the cards
//! cannot drift apart in how they say the same thing.

use crate::auth::effective::Source;
use crate::domain::EmailDomain;
use crate::web::chrome::{fmt_opt_time, fmt_time};

/// Where the allowed email domains (one list for every provider) are edited.
pub const DOMAINS_EDITED_AT: &str = "/admin/settings/integrations/microsoft#ms-domains";
/// Where the directory role mapping (shared by Microsoft and SAML) is edited.
pub const ROLE_MAPPING_EDITED_AT: &str = "/admin/settings/integrations/microsoft#ms-roles";

/// The card's health line.
pub struct Health {
    pub last_success: String,
    pub last_failure: Option<String>,
    pub last_test: Option<String>,
    pub last_test_ok: bool,
}

/// The health columns every provider's settings table has (`store::provider_settings`).
pub struct HealthColumns<'a> {
    pub last_success_at: Option<i64>,
    /// The failure already in words (each provider says it its own way).
    pub last_failure: Option<String>,
    pub last_test_at: Option<i64>,
    pub last_test_summary: Option<&'a str>,
    pub last_test_ok: Option<bool>,
}

impl Health {
    pub fn new(c: HealthColumns<'_>) -> Self {
        Self {
            last_success: fmt_opt_time(c.last_success_at),
            last_failure: c.last_failure,
            last_test: c
                .last_test_at
                .map(|at| format!("{} ({})", c.last_test_summary.unwrap_or(""), fmt_time(at))),
            last_test_ok: c.last_test_ok.unwrap_or(false),
        }
    }
}

/// "summary (time)", the summary falling back to `fallback` when none was kept.
pub fn failure_line(summary: Option<&str>, fallback: &str, at: i64) -> String {
    format!("{} ({})", summary.unwrap_or(fallback), fmt_time(at))
}

/// The shared allowed email domains, as the cards show them.
pub fn join_domains(d: &[EmailDomain]) -> String {
    d.iter()
        .map(EmailDomain::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One field's effective value and where it comes from.
pub struct InEffect {
    pub value: String,
    /// `card`, `environment` or `default` (a stable hook for styling and tests).
    pub source_key: &'static str,
    pub source_text: String,
    /// The variable is set but does not parse, so it is ignored.
    pub env_problem: Option<String>,
}

impl InEffect {
    /// `variable`: the environment variable that stands in for the field;
    /// `env_problem`: why that variable is ignored, when it is.
    pub fn new(value: String, source: Source, variable: &str, env_problem: Option<&str>) -> Self {
        Self {
            value,
            source_key: match source {
                Source::Card => "card",
                Source::Environment => "environment",
                Source::Default => "default",
            },
            source_text: match source {
                Source::Card => "this card".into(),
                Source::Environment => format!("the {variable} variable"),
                Source::Default => "the default".into(),
            },
            env_problem: env_problem.map(|m| {
                format!(
                    "{variable} is set but ignored: {}.",
                    m.trim_end_matches('.')
                )
            }),
        }
    }
}

/// One step of a set-up checklist, marked done only when the card can tell.
pub struct Mark {
    pub done: bool,
    pub text: String,
}

pub fn mark(done: bool, text: impl Into<String>) -> Mark {
    Mark {
        done,
        text: text.into(),
    }
}
