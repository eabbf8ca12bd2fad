//! The identity policy (DESIGN §5.2), for every sign-in provider: who may sign in, which
//! user they become, what is provisioned. A pure function of the allowlist, the identity's
//! email and what the database already holds — the database work happens around it
//! (`auth::sign_in`). Each provider decides on its own which email it vouches for.

use crate::auth::role_mapping::DirectoryRole;
use crate::domain::{EmailAddress, EmailDomain, Role, UserId, UserStatus};

/// The email the sign-in is about, and whether it may be trusted to identify a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenEmail {
    pub email: EmailAddress,
    pub verified: bool,
}

/// What the database knows about this person, looked up before deciding.
#[derive(Clone, Debug)]
pub struct Existing {
    pub id: UserId,
    pub role: Role,
    pub status: UserStatus,
    pub external: bool,
    pub email_normalized: String,
}

pub struct Input<'a> {
    pub allowed_domains: &'a [EmailDomain],
    pub email: Option<&'a ChosenEmail>,
    /// The organisation the provider vouches the account belongs to (Google's `hd`):
    /// when present, the allowlist is checked against it instead of the email's domain.
    pub organisation_domain: Option<&'a EmailDomain>,
    /// The provider said it has not verified the address: refused outright, even for an
    /// identity already linked (Google admits only `email_verified = true`).
    pub provider_unverified: bool,
    /// What the workspace's role mapping makes of the directory's values.
    pub directory_role: DirectoryRole,
    /// The user linked to this (tid, oid), if any.
    pub by_identity: Option<&'a Existing>,
    /// The user holding the chosen email in this workspace, if any.
    pub by_email: Option<&'a Existing>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No usable email (User.Read missing, or nothing email-shaped).
    NoEmail,
    /// The email's domain is outside the allowlist and the user is not external.
    DomainNotAllowed,
    /// The account is disabled in OnTrackio.
    Disabled,
    /// An unverified email would have matched (or created) an account: nOAuth.
    UnverifiedEmail,
    /// The provider says it has not verified the email address.
    ProviderUnverified,
    /// The workspace takes roles from the directory, refuses when none maps, and none did.
    NoRoleMapped,
}

impl Refusal {
    /// The page text (the guide's exact words where it has them). A provider words
    /// `NoEmail` itself (`sign_in::Provider::refusal_message`).
    pub fn message(self) -> &'static str {
        match self {
            Self::NoEmail => "The identity provider did not return an email address.",
            Self::DomainNotAllowed | Self::UnverifiedEmail | Self::ProviderUnverified => {
                "Access restricted. Ask your workspace admin to invite you first."
            }
            Self::Disabled => {
                "Your OnTrackio account is disabled. Ask your workspace admin to enable it."
            }
            Self::NoRoleMapped => {
                "Your directory gives you no role in OnTrackio. Ask your workspace admin to assign you one."
            }
        }
    }
    /// The reason recorded in the audit log.
    pub fn audit_reason(self) -> &'static str {
        match self {
            Self::NoEmail => "no email address from the identity provider",
            Self::DomainNotAllowed => "email domain not in the allowlist",
            Self::Disabled => "account disabled",
            Self::UnverifiedEmail => {
                "email not verified by the directory; refused to match or provision by it"
            }
            Self::ProviderUnverified => "the provider has not verified the email address",
            Self::NoRoleMapped => {
                "no directory role maps to a workspace role, and the mapping is strict"
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An existing user signs in; `link` when the (tid, oid) is new for them.
    SignIn {
        user: UserId,
        link: bool,
        update_email: bool,
        role: Role,
    },
    /// Just-in-time provisioning of a new employee.
    Provision,
    Refuse(Refusal),
}

fn domain_allowed(allowed: &[EmailDomain], email: &EmailAddress) -> bool {
    allowed.is_empty() || allowed.contains(&email.domain())
}

pub fn decide(input: &Input<'_>) -> Decision {
    match decide_account(input) {
        // Only someone who would otherwise get in learns that no role maps.
        Decision::SignIn { .. } | Decision::Provision if input.directory_role.refuses() => {
            Decision::Refuse(Refusal::NoRoleMapped)
        }
        d => d,
    }
}

fn decide_account(input: &Input<'_>) -> Decision {
    let Some(chosen) = input.email else {
        return Decision::Refuse(Refusal::NoEmail);
    };
    if input.provider_unverified {
        return Decision::Refuse(Refusal::ProviderUnverified);
    }
    let domain_allowed =
        |allowed: &[EmailDomain], email: &EmailAddress| match input.organisation_domain {
            Some(org) => allowed.is_empty() || allowed.contains(org),
            None => domain_allowed(allowed, email),
        };
    // 1. The durable key: this directory's object id.
    if let Some(u) = input.by_identity {
        if u.status == UserStatus::Disabled {
            return Decision::Refuse(Refusal::Disabled);
        }
        if !u.external && !domain_allowed(input.allowed_domains, &chosen.email) {
            return Decision::Refuse(Refusal::DomainNotAllowed);
        }
        // Keep the cached email current, unless the new one is unverified or taken.
        let changed = u.email_normalized != chosen.email.normalized();
        let taken = input.by_email.is_some_and(|o| o.id != u.id);
        return Decision::SignIn {
            user: u.id.clone(),
            link: false,
            update_email: changed && chosen.verified && !taken,
            role: u.role,
        };
    }
    // 2. By email — only a verified one.
    if let Some(u) = input.by_email {
        if !chosen.verified {
            return Decision::Refuse(Refusal::UnverifiedEmail);
        }
        if u.status == UserStatus::Disabled {
            return Decision::Refuse(Refusal::Disabled);
        }
        if !u.external && !domain_allowed(input.allowed_domains, &chosen.email) {
            return Decision::Refuse(Refusal::DomainNotAllowed);
        }
        return Decision::SignIn {
            user: u.id.clone(),
            link: true,
            update_email: false,
            role: u.role,
        };
    }
    // 3. Someone new. (Outside the allowlist says more than unverified, when both hold;
    // the page says the same for either.)
    if !domain_allowed(input.allowed_domains, &chosen.email) {
        return Decision::Refuse(Refusal::DomainNotAllowed);
    }
    if !chosen.verified {
        return Decision::Refuse(Refusal::UnverifiedEmail);
    }
    Decision::Provision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing(id: &str, role: Role, status: UserStatus, external: bool, email: &str) -> Existing {
        Existing {
            id: UserId::from_db(id.into()),
            role,
            status,
            external,
            email_normalized: email.into(),
        }
    }

    fn chosen(e: &str, verified: bool) -> ChosenEmail {
        ChosenEmail {
            email: EmailAddress::parse(e).unwrap(),
            verified,
        }
    }

    #[test]
    fn decisions_follow_the_policy_table() {
        let acme = [EmailDomain::parse("acme.test").unwrap()];
        let none: [EmailDomain; 0] = [];
        let adele = existing(
            "u1",
            Role::Employee,
            UserStatus::Active,
            false,
            "adele@acme.test",
        );
        let admin = existing(
            "u2",
            Role::Admin,
            UserStatus::Invited,
            false,
            "alex@acme.test",
        );
        let disabled = existing(
            "u3",
            Role::Employee,
            UserStatus::Disabled,
            false,
            "d@acme.test",
        );
        let contractor = existing(
            "u4",
            Role::Employee,
            UserStatus::Invited,
            true,
            "pat@contoso.test",
        );
        let pat_plain = existing(
            "u5",
            Role::Employee,
            UserStatus::Invited,
            false,
            "pat@contoso.test",
        );
        let sign_in = |u: &Existing, link: bool, update: bool| Decision::SignIn {
            user: u.id.clone(),
            link,
            update_email: update,
            role: u.role,
        };
        let verified = chosen("adele@acme.test", true);
        let renamed = chosen("adele.vance@acme.test", true);
        let unverified_alex = chosen("alex@acme.test", false);
        let alex = chosen("alex@acme.test", true);
        let pat = chosen("pat@contoso.test", true);
        let new_acme = chosen("new@acme.test", true);
        let new_other = chosen("new@other.test", true);
        let d = chosen("d@acme.test", true);
        type Case<'a> = (
            &'a str,
            &'a [EmailDomain],
            Option<&'a ChosenEmail>,
            Option<&'a Existing>,
            Option<&'a Existing>,
            Decision,
        );
        let cases: Vec<Case> = vec![
            (
                "no email",
                &acme,
                None,
                None,
                None,
                Decision::Refuse(Refusal::NoEmail),
            ),
            (
                "returning by oid",
                &acme,
                Some(&verified),
                Some(&adele),
                Some(&adele),
                sign_in(&adele, false, false),
            ),
            (
                "oid survives an email change",
                &acme,
                Some(&renamed),
                Some(&adele),
                None,
                sign_in(&adele, false, true),
            ),
            (
                "invited admin linked by verified email",
                &acme,
                Some(&alex),
                None,
                Some(&admin),
                sign_in(&admin, true, false),
            ),
            (
                "unverified email never matches",
                &acme,
                Some(&unverified_alex),
                None,
                Some(&admin),
                Decision::Refuse(Refusal::UnverifiedEmail),
            ),
            (
                "unverified email never provisions",
                &acme,
                Some(&unverified_alex),
                None,
                None,
                Decision::Refuse(Refusal::UnverifiedEmail),
            ),
            (
                "new user in allowlist",
                &acme,
                Some(&new_acme),
                None,
                None,
                Decision::Provision,
            ),
            (
                "new user outside allowlist",
                &acme,
                Some(&new_other),
                None,
                None,
                Decision::Refuse(Refusal::DomainNotAllowed),
            ),
            (
                "empty allowlist admits any verified email",
                &none,
                Some(&new_other),
                None,
                None,
                Decision::Provision,
            ),
            (
                "external bypasses the domain check",
                &acme,
                Some(&pat),
                None,
                Some(&contractor),
                sign_in(&contractor, true, false),
            ),
            (
                "non-external outside domain refused",
                &acme,
                Some(&pat),
                None,
                Some(&pat_plain),
                Decision::Refuse(Refusal::DomainNotAllowed),
            ),
            (
                "disabled by oid",
                &acme,
                Some(&d),
                Some(&disabled),
                None,
                Decision::Refuse(Refusal::Disabled),
            ),
            (
                "disabled by email",
                &acme,
                Some(&d),
                None,
                Some(&disabled),
                Decision::Refuse(Refusal::Disabled),
            ),
            (
                "email taken by another user is not copied",
                &acme,
                Some(&alex),
                Some(&adele),
                Some(&admin),
                sign_in(&adele, false, false),
            ),
        ];
        for (name, allowed, email, by_identity, by_email, want) in cases {
            let got = decide(&Input {
                allowed_domains: allowed,
                email,
                by_identity,
                by_email,
                organisation_domain: None,
                provider_unverified: false,
                directory_role: DirectoryRole::NotManaged,
            });
            assert_eq!(got, want, "{name}");
        }
    }

    /// Google's rules: an address the provider has not verified is refused outright, and
    /// a Workspace account's `hd` (not its email's domain) is checked against the allowlist.
    #[test]
    fn an_organisation_domain_decides_the_allowlist_and_provider_unverified_is_refused() {
        let acme = [EmailDomain::parse("acme.test").unwrap()];
        let returning = Existing {
            id: UserId::new(),
            role: Role::Employee,
            status: UserStatus::Active,
            external: false,
            email_normalized: "dana@acme.test".into(),
        };
        let verified = ChosenEmail {
            email: EmailAddress::parse("dana@acme.test").unwrap(),
            verified: true,
        };
        let unverified = ChosenEmail {
            verified: false,
            ..verified.clone()
        };
        let alias = ChosenEmail {
            email: EmailAddress::parse("dana@acme-alias.test").unwrap(),
            verified: true,
        };
        let acme_org = EmailDomain::parse("acme.test").unwrap();
        let other_org = EmailDomain::parse("evil.test").unwrap();
        let decide_with = |email: &ChosenEmail,
                           by_identity: Option<&Existing>,
                           org: Option<&EmailDomain>,
                           require: bool| {
            decide(&Input {
                allowed_domains: &acme,
                email: Some(email),
                by_identity,
                by_email: None,
                organisation_domain: org,
                provider_unverified: require,
                directory_role: DirectoryRole::NotManaged,
            })
        };
        // Refused even for a linked identity, when the provider says it is unverified.
        assert_eq!(
            decide_with(&unverified, Some(&returning), None, true),
            Decision::Refuse(Refusal::ProviderUnverified)
        );
        assert!(matches!(
            decide_with(&unverified, Some(&returning), None, false),
            Decision::SignIn { .. }
        ));
        // A Workspace account of an allowed organisation, with an address on an alias domain.
        assert_eq!(
            decide_with(&alias, None, Some(&acme_org), false),
            Decision::Provision
        );
        // An allowed-looking address in another organisation's Workspace is refused.
        assert_eq!(
            decide_with(&verified, None, Some(&other_org), false),
            Decision::Refuse(Refusal::DomainNotAllowed)
        );
        // No organisation (a consumer account): the email's own domain must be allowed.
        assert_eq!(
            decide_with(&verified, None, None, false),
            Decision::Provision
        );
        assert_eq!(
            decide_with(&alias, None, None, false),
            Decision::Refuse(Refusal::DomainNotAllowed)
        );
    }

    /// A strict role mapping refuses only someone who would otherwise get in: a person
    /// outside the allowlist still learns only that.
    #[test]
    fn a_strict_mapping_with_no_role_refuses_only_who_would_otherwise_get_in() {
        let acme = [EmailDomain::parse("acme.test").unwrap()];
        let strict_none = DirectoryRole::NoneMapped {
            strict: true,
            manages_super_admin: false,
        };
        let decide_for = |email: &str, directory_role| {
            let chosen = ChosenEmail {
                email: EmailAddress::parse(email).unwrap(),
                verified: true,
            };
            decide(&Input {
                allowed_domains: &acme,
                email: Some(&chosen),
                by_identity: None,
                by_email: None,
                organisation_domain: None,
                provider_unverified: false,
                directory_role,
            })
        };
        assert_eq!(
            decide_for("new@acme.test", strict_none),
            Decision::Refuse(Refusal::NoRoleMapped)
        );
        assert_eq!(
            decide_for("new@other.test", strict_none),
            Decision::Refuse(Refusal::DomainNotAllowed)
        );
        let lenient = DirectoryRole::NoneMapped {
            strict: false,
            manages_super_admin: false,
        };
        assert_eq!(decide_for("new@acme.test", lenient), Decision::Provision);
    }
}
