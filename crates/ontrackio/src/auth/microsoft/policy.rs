//! Microsoft's half of the identity policy (DESIGN §5.2): which email a Microsoft sign-in
//! is about, whether the directory vouches for it (the nOAuth defence), and the names of a
//! new user. Who may sign in and which user they become is decided by the provider-neutral
//! `auth::policy`.

use super::client::GraphMe;
use super::id_token::Claims;
pub use crate::auth::policy::ChosenEmail;
use crate::domain::EmailAddress;

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
            roles: Vec::new(),
            groups: Default::default(),
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
    fn a_malformed_sign_in_name_neither_is_chosen_nor_verifies_the_address_it_resembles() {
        for odd in [
            "root@acme.test.",
            "root@acme.test..",
            " root@acme.test",
            "root@acme.test ",
        ] {
            // mail is the real spelling, the sign-in name a malformed one: not the sign-in
            // name, so not verified (under `common`).
            let c = choose_email(
                &claims(Some(odd), None, None),
                &me(Some("root@acme.test"), Some(odd)),
                false,
            )
            .unwrap();
            assert_eq!(c.email.normalized(), "root@acme.test", "{odd:?}");
            assert!(!c.verified, "{odd:?} verified root@acme.test");
            // Nothing usable at all when the malformed value is the only candidate.
            assert_eq!(
                choose_email(&claims(Some(odd), None, None), &me(None, None), true),
                None,
                "{odd:?}"
            );
        }
    }

    #[test]
    fn a_malformed_candidate_is_skipped_and_vouches_for_nothing() {
        // (Graph mail, Graph UPN, token preferred_username, token email with
        // xms_edov=true, expected email and whether it is verified), under `common`.
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<(&'a str, bool)>,
        );
        let cases: &[Case] = &[
            // A malformed mail is skipped for the sign-in name, which verifies itself.
            (
                Some("root@acme.test."),
                Some("insider@acme.test"),
                Some("insider@acme.test"),
                None,
                Some(("insider@acme.test", true)),
            ),
            (
                Some(" root@acme.test"),
                Some("insider@acme.test"),
                None,
                None,
                Some(("insider@acme.test", true)),
            ),
            // xms_edov vouches for the token's `email` exactly as spelled: a malformed one
            // vouches for nothing, not for the address it resembles.
            (
                Some("root@acme.test"),
                Some("insider@acme.test"),
                Some("insider@acme.test"),
                Some("root@acme.test."),
                Some(("root@acme.test", false)),
            ),
            (
                Some("root@acme.test"),
                Some("insider@acme.test"),
                Some("insider@acme.test"),
                Some("root@acme.test"),
                Some(("root@acme.test", true)),
            ),
            // One malformed sign-in name does not stop the other from verifying.
            (
                Some("root@acme.test"),
                Some("root@acme.test.."),
                Some("root@acme.test"),
                None,
                Some(("root@acme.test", true)),
            ),
            // Every candidate malformed: no address at all.
            (
                Some("root@acme.test."),
                Some("\troot@acme.test"),
                Some("root@acme..test"),
                Some("root@acme.test."),
                None,
            ),
        ];
        for (mail, upn, pref, edov_email, want) in cases {
            let got = choose_email(
                &claims(*pref, *edov_email, Some(true)),
                &me(*mail, *upn),
                false,
            )
            .map(|c| (c.email.normalized().to_string(), c.verified));
            assert_eq!(
                got.as_ref().map(|(e, v)| (e.as_str(), *v)),
                *want,
                "mail={mail:?} upn={upn:?} pref={pref:?} email={edov_email:?}"
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
