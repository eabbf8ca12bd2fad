//! An authenticated assertion → the identity core's [`ExternalIdentity`]: which attribute
//! is the email, the durable subject, the names, and the role the workspace's mapping
//! gives the groups. Pure; the ACS handler does the HTTP and the core does the accounts.

use crate::auth::policy::ChosenEmail;
use crate::auth::role_mapping::RoleMapping;
use crate::auth::sign_in::{ExternalIdentity, Provider};
use crate::domain::EmailAddress;

use super::response::Assertion;

/// Entra's claim URIs (also what most IdPs' "Entra-compatible" templates send).
pub mod claims {
    pub const EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
    pub const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
    pub const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
    pub const DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
    pub const OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
    pub const GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
    /// Entra's overage: more groups than fit (150 in SAML); the list is elsewhere.
    pub const GROUPS_LINK: &str = "http://schemas.microsoft.com/claims/groups.link";
}

const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// What the SAML card says about reading an assertion.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading<'a> {
    /// The attribute holding the email; `None`: the NameID (then Entra's email claim).
    pub email_attribute: Option<&'a str>,
    /// The attribute holding group ids or names; `None`: groups are not read.
    pub group_attribute: Option<&'a str>,
}

/// Why an authenticated assertion still cannot name a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error(
        "the assertion's NameID is transient and it carries no object identifier: nobody to link it to"
    )]
    NoDurableSubject,
}

/// The person the assertion describes, for the identity core.
pub fn external_identity(
    a: &Assertion,
    reading: Reading<'_>,
    mapping: &RoleMapping,
) -> Result<ExternalIdentity, Unusable> {
    // The object id survives a rename of the UPN; a persistent NameID is durable by
    // definition; a transient one is not a subject at all.
    let subject = match a.first(claims::OBJECT_ID).filter(|s| !s.is_empty()) {
        Some(oid) => oid.to_ascii_lowercase(),
        None if a.name_id_format.as_deref() == Some(TRANSIENT) => {
            return Err(Unusable::NoDurableSubject);
        }
        None => a.name_id.clone(),
    };
    let raw_email = match reading.email_attribute {
        Some(attr) => a.first(attr),
        None => Some(a.name_id.as_str())
            .filter(|v| EmailAddress::parse(v).is_ok())
            .or_else(|| a.first(claims::EMAIL)),
    };
    // The workspace's own IdP, configured by its super-admin, is its directory: like a
    // pinned Entra tenant, it vouches for its users' addresses (docs/decisions.md).
    let email = raw_email
        .and_then(|e| EmailAddress::parse(e).ok())
        .map(|email| ChosenEmail {
            email,
            verified: true,
        });
    let names = names(a);
    let directory_role = match reading.group_attribute {
        None => mapping.resolve_roles_and_groups(&[], None, false),
        Some(_) if a.values(claims::GROUPS_LINK).is_some() => {
            mapping.resolve_roles_and_groups(&[], None, true)
        }
        Some(attr) => {
            let groups = a.values(attr).unwrap_or_default();
            mapping.resolve_roles_and_groups(&[], Some(groups), false)
        }
    };
    Ok(ExternalIdentity {
        provider: Provider::Saml,
        issuer: a.issuer.clone(),
        subject,
        email,
        email_unverified_by_provider: false,
        directory_names: names.clone(),
        new_user_names: names.unwrap_or_default(),
        organisation_domain: None,
        directory_role,
    })
}

fn names(a: &Assertion) -> Option<(String, String)> {
    crate::auth::sign_in::person_names(
        a.first(claims::GIVEN_NAME),
        a.first(claims::SURNAME),
        a.first(claims::DISPLAY_NAME),
    )
}

/// `_` + the flow's random state: an `xs:ID` (an NCName) that nobody else can predict.
pub fn request_id(flow_state: &str) -> String {
    format!("_{flow_state}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::role_mapping::DirectoryRole;
    use crate::domain::Role;

    fn assertion(name_id: &str, format: Option<&str>, attrs: &[(&str, &[&str])]) -> Assertion {
        Assertion {
            id: "_a".into(),
            issuer: "https://sts.windows.net/t/".into(),
            name_id: name_id.into(),
            name_id_format: format.map(str::to_string),
            expires_at: 0,
            attributes: attrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn the_object_id_is_the_subject_and_the_name_id_the_email() {
        let a = assertion(
            "Ada@Acme.com",
            None,
            &[
                (claims::OBJECT_ID, &["5F1C0D3E-0000-4000-8000-000000000001"]),
                (claims::GIVEN_NAME, &["Ada"]),
                (claims::SURNAME, &["Lovelace"]),
            ],
        );
        let id = external_identity(&a, Reading::default(), &RoleMapping::default()).unwrap();
        assert_eq!(id.subject, "5f1c0d3e-0000-4000-8000-000000000001");
        // Domains are case-insensitive: the address keeps its local part, lower-cases the domain.
        assert_eq!(id.email.unwrap().email.as_str(), "Ada@acme.com");
        assert_eq!(id.new_user_names, ("Ada".into(), "Lovelace".into()));
        assert_eq!(id.provider, Provider::Saml);
    }

    #[test]
    fn a_transient_name_id_without_object_id_names_nobody() {
        let a = assertion("x7f3", Some(TRANSIENT), &[(claims::EMAIL, &["a@acme.com"])]);
        let r = external_identity(&a, Reading::default(), &RoleMapping::default());
        assert_eq!(r.unwrap_err(), Unusable::NoDurableSubject);
    }

    #[test]
    fn the_configured_email_attribute_wins_and_a_non_email_name_id_falls_back() {
        let a = assertion(
            "opaque-id",
            None,
            &[("mail", &["b@acme.com"]), (claims::EMAIL, &["c@acme.com"])],
        );
        let cfg = Reading {
            email_attribute: Some("mail"),
            group_attribute: None,
        };
        let id = external_identity(&a, cfg, &RoleMapping::default()).unwrap();
        assert_eq!(id.email.unwrap().email.as_str(), "b@acme.com");
        let id = external_identity(&a, Reading::default(), &RoleMapping::default()).unwrap();
        assert_eq!(id.email.unwrap().email.as_str(), "c@acme.com");
        let a = assertion("opaque-id", None, &[]);
        let id = external_identity(&a, Reading::default(), &RoleMapping::default()).unwrap();
        assert!(id.email.is_none());
    }

    #[test]
    fn groups_map_to_roles_and_an_overage_is_unknown() {
        let gid = "0f5bd3a5-52a3-4bd7-9d47-2f6a7b3bd1d1";
        let mapping = RoleMapping::parse(&format!("{gid} = admin"), false, false).unwrap();
        let reading = Reading {
            email_attribute: None,
            group_attribute: Some(claims::GROUPS),
        };
        let a = assertion("a@acme.com", None, &[(claims::GROUPS, &[gid])]);
        let id = external_identity(&a, reading, &mapping).unwrap();
        assert!(matches!(
            id.directory_role,
            DirectoryRole::Mapped {
                role: Role::Admin,
                ..
            }
        ));
        let a = assertion(
            "a@acme.com",
            None,
            &[(
                claims::GROUPS_LINK,
                &["https://graph.microsoft.com/v1.0/users/x/getMemberObjects"],
            )],
        );
        let id = external_identity(&a, reading, &mapping).unwrap();
        assert_eq!(id.directory_role, DirectoryRole::Unknown);
        // Groups not read: the mapping sees no values.
        let a = assertion("a@acme.com", None, &[(claims::GROUPS, &[gid])]);
        let id = external_identity(&a, Reading::default(), &mapping).unwrap();
        assert!(matches!(
            id.directory_role,
            DirectoryRole::NoneMapped { .. }
        ));
    }
}
