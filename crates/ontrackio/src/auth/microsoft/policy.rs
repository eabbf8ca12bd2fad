//! The identity policy (DESIGN §5.2): who may sign in with Microsoft, which user they
//! become, what is provisioned. A pure function of the settings, the validated claims, the
//! Graph profile and what the database already holds — the database work happens around it.

use super::client::GraphMe;
use super::id_token::Claims;
use crate::domain::{EmailAddress, EmailDomain, Role, UserId, UserStatus};

/// The email the sign-in is about, and whether it may be trusted to identify a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenEmail {
    pub email: EmailAddress,
    pub verified: bool,
}

/// Graph `mail`, else `userPrincipalName`, else the token's `preferred_username`,
/// skipping values that are not addresses and guest `#EXT#` UPNs.
///
/// Verified (the nOAuth defence: a directory admin can set any `mail`): the token says
/// `xms_edov=true` for this very address, or the address is the user's sign-in name (whose
/// domain the directory must have verified), or the workspace pins its own directory.
pub fn choose_email(claims: &Claims, me: &GraphMe, tenant_pinned: bool) -> Option<ChosenEmail> {
    let candidates = [
        me.mail.as_deref(),
        me.user_principal_name.as_deref(),
        claims.preferred_username.as_deref(),
    ];
    let email = candidates
        .into_iter()
        .flatten()
        .filter(|v| !v.contains("#EXT#"))
        .find_map(|v| EmailAddress::parse(v).ok())?;
    let same = |v: Option<&str>| {
        v.and_then(|v| EmailAddress::parse(v).ok())
            .is_some_and(|e| e.normalized() == email.normalized())
    };
    let sign_in_name = same(
        me.user_principal_name
            .as_deref()
            .filter(|u| !u.contains("#EXT#")),
    ) || same(claims.preferred_username.as_deref());
    let edov = claims.xms_edov == Some(true) && same(claims.email.as_deref());
    Some(ChosenEmail {
        verified: edov || sign_in_name || tenant_pinned,
        email,
    })
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
}

impl Refusal {
    /// The page text (the guide's exact words where it has them).
    pub fn message(self) -> &'static str {
        match self {
            Self::NoEmail => {
                "Microsoft did not return an email address. Ensure the User.Read scope is granted."
            }
            Self::DomainNotAllowed | Self::UnverifiedEmail => {
                "Access restricted. Ask your workspace admin to invite you first."
            }
            Self::Disabled => {
                "Your OnTrackio account is disabled. Ask your workspace admin to enable it."
            }
        }
    }
    /// The reason recorded in the audit log.
    pub fn audit_reason(self) -> &'static str {
        match self {
            Self::NoEmail => "no email address from Microsoft (User.Read not granted?)",
            Self::DomainNotAllowed => "email domain not in the allowlist",
            Self::Disabled => "account disabled",
            Self::UnverifiedEmail => {
                "email not verified by the directory; refused to match or provision by it"
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
    let Some(chosen) = input.email else {
        return Decision::Refuse(Refusal::NoEmail);
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
    // 3. Someone new.
    if !chosen.verified {
        return Decision::Refuse(Refusal::UnverifiedEmail);
    }
    if !domain_allowed(input.allowed_domains, &chosen.email) {
        return Decision::Refuse(Refusal::DomainNotAllowed);
    }
    Decision::Provision
}

/// Names for a new user: Graph `givenName`/`surname`, else the token's optional claims,
/// else the display name split at its last space.
pub fn names(me: &GraphMe, claims: &Claims) -> (String, String) {
    let clean = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>())
    };
    let first = clean(me.given_name.as_deref()).or_else(|| clean(claims.given_name.as_deref()));
    let last = clean(me.surname.as_deref()).or_else(|| clean(claims.family_name.as_deref()));
    if first.is_some() || last.is_some() {
        return (first.unwrap_or_default(), last.unwrap_or_default());
    }
    let display = clean(me.display_name.as_deref())
        .or_else(|| clean(claims.name.as_deref()))
        .unwrap_or_default();
    match display.rsplit_once(' ') {
        Some((f, l)) => (f.trim().to_string(), l.trim().to_string()),
        None => (display, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantGuid;

    fn claims(preferred: Option<&str>, email: Option<&str>, edov: Option<bool>) -> Claims {
        Claims {
            tid: TenantGuid::parse("3f6d9c2a-8b41-4e7d-9a15-6c2e0b7d4f81").unwrap(),
            oid: "oid-1".into(),
            sub: "sub".into(),
            preferred_username: preferred.map(Into::into),
            email: email.map(Into::into),
            xms_edov: edov,
            name: Some("Adele Vance".into()),
            given_name: None,
            family_name: None,
        }
    }

    fn me(mail: Option<&str>, upn: Option<&str>) -> GraphMe {
        GraphMe {
            id: Some("oid-1".into()),
            mail: mail.map(Into::into),
            user_principal_name: upn.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn the_email_comes_from_mail_then_upn_then_preferred_username() {
        // (Graph mail, Graph UPN, token preferred_username, expected email)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            (
                Some("adele@acme.test"),
                Some("adele@acme.test"),
                Some("adele@acme.test"),
                Some("adele@acme.test"),
            ),
            (
                None,
                Some("nomail@acme.test"),
                Some("nomail@acme.test"),
                Some("nomail@acme.test"),
            ),
            (None, None, Some("pref@acme.test"), Some("pref@acme.test")),
            (
                Some("not an email"),
                Some("upn@acme.test"),
                None,
                Some("upn@acme.test"),
            ),
            (
                None,
                Some("pat_contoso.test#EXT#@acme.onmicrosoft.com"),
                Some("pat@contoso.test"),
                Some("pat@contoso.test"),
            ),
            (None, None, None, None),
            (Some(""), Some("+15551234"), None, None),
        ];
        for (mail, upn, pref, want) in cases {
            let got = choose_email(&claims(*pref, None, None), &me(*mail, *upn), false)
                .map(|c| c.email.normalized().to_string());
            assert_eq!(
                got.as_deref(),
                *want,
                "mail={mail:?} upn={upn:?} pref={pref:?}"
            );
        }
    }

    #[test]
    fn an_email_is_verified_by_edov_by_being_the_sign_in_name_or_by_a_pinned_tenant() {
        // mail ≠ UPN, no edov, common tenant: the nOAuth shape.
        let evil = choose_email(
            &claims(
                Some("mallory@evil.test"),
                Some("alex@acme.test"),
                Some(false),
            ),
            &me(Some("alex@acme.test"), Some("mallory@evil.test")),
            false,
        )
        .unwrap();
        assert_eq!(
            (evil.email.normalized(), evil.verified),
            ("alex@acme.test", false)
        );
        let edov = choose_email(
            &claims(Some("m@evil.test"), Some("alex@acme.test"), Some(true)),
            &me(Some("alex@acme.test"), Some("m@evil.test")),
            false,
        )
        .unwrap();
        assert!(edov.verified);
        // edov speaks only for the token's own email claim.
        let edov_other = choose_email(
            &claims(Some("m@evil.test"), Some("other@evil.test"), Some(true)),
            &me(Some("alex@acme.test"), Some("m@evil.test")),
            false,
        )
        .unwrap();
        assert!(!edov_other.verified);
        let upn = choose_email(
            &claims(Some("Adele@acme.test"), None, None),
            &me(Some("adele@ACME.test"), Some("adele@acme.test")),
            false,
        )
        .unwrap();
        assert!(upn.verified);
        let pinned = choose_email(
            &claims(Some("m@evil.test"), None, None),
            &me(Some("alex@acme.test"), Some("m@evil.test")),
            true,
        )
        .unwrap();
        assert!(pinned.verified);
    }

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
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn names_prefer_graph_then_token_then_display_name() {
        let mut m = me(None, None);
        m.given_name = Some("Adele".into());
        m.surname = Some("Vance".into());
        assert_eq!(
            names(&m, &claims(None, None, None)),
            ("Adele".into(), "Vance".into())
        );
        let m = me(None, None);
        assert_eq!(
            names(&m, &claims(None, None, None)),
            ("Adele".into(), "Vance".into())
        );
        let mut c = claims(None, None, None);
        c.name = Some("Cher".into());
        assert_eq!(names(&m, &c), ("Cher".into(), String::new()));
    }
}
