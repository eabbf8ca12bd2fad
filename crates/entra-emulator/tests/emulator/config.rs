use entra_emulator::demo::*;
use entra_emulator::{Directory, DirectoryError, SignInAudience};

use crate::support::*;

const EXAMPLE: &str = include_str!("../../examples/directory.toml");

#[test]
fn the_example_config_parses_and_validates() {
    let directory = Directory::from_toml_str(EXAMPLE).expect("example parses");
    assert_eq!(directory.tenants.len(), 2);
    assert_eq!(directory.tenants[0].users.len(), 4);
    let app = &directory.apps[0];
    assert_eq!(app.sign_in_audience, SignInAudience::AzureAdMultipleOrgs);
    assert_eq!(app.client_secrets.len(), 2);
    assert!(app.optional_claims.xms_edov && app.remove_unverified_email_claim);
    assert!(directory.tenants[0].users[1].mail.is_none());
    assert!(directory.tenants[0].users[3].guest_of.is_some());
    // Roles and groups.
    assert_eq!(directory.tenants[0].groups.len(), 2);
    assert!(!directory.tenants[0].groups[1].security_enabled);
    assert_eq!(directory.tenants[0].users[0].groups.len(), 2);
    assert_eq!(
        app.group_membership_claims,
        entra_emulator::GroupMembershipClaims::SecurityGroup
    );
    assert_eq!(app.app_roles.len(), 2);
    assert_eq!(app.role_assignments.len(), 2);
    // Jo holds Admin directly and Employee through Fabrikam IT.
    assert_eq!(
        app.roles_of(&directory.tenants[0].users[0]),
        ["Admin", "Employee"]
    );
}

#[test]
fn the_example_config_has_a_saml_app_and_saml_mistakes_are_refused() {
    let directory = Directory::from_toml_str(EXAMPLE).expect("example parses");
    let app = &directory.saml_apps[0];
    assert_eq!(app.tenant, directory.tenants[0].id);
    assert_eq!(
        app.identifiers,
        ["https://fabrikam.app.ontrackio.test/saml/metadata"]
    );
    assert_eq!(
        app.group_membership_claims,
        entra_emulator::GroupMembershipClaims::SecurityGroup
    );
    assert_eq!(app.signing, entra_emulator::saml::SigningOption::Assertion);
    let refused = |from: &str, to: &str| {
        assert!(EXAMPLE.contains(from), "{from}");
        format!(
            "{:#}",
            Directory::from_toml_str(&EXAMPLE.replace(from, to)).unwrap_err()
        )
    };
    let message = refused(
        "reply_urls = [\"https://fabrikam.app.ontrackio.test/saml/acs\"]",
        "reply_urls = [\"http://fabrikam.app.ontrackio.test/saml/acs\"]",
    );
    assert!(message.contains("http is only allowed"), "{message}");
    let message = refused(
        "reply_urls = [\"https://fabrikam.app.ontrackio.test/saml/acs\"]",
        "reply_urls = []",
    );
    assert!(message.contains("at least one reply URL"), "{message}");
    let message = refused("# signing = \"Assertion\"", "signing = \"Sometimes\"");
    assert!(message.contains("Sometimes"), "{message}");
}

#[test]
fn role_and_group_mistakes_in_a_config_are_refused_with_the_reason() {
    let refused = |from: &str, to: &str| {
        assert!(EXAMPLE.contains(from), "{from}");
        format!(
            "{:#}",
            Directory::from_toml_str(&EXAMPLE.replace(from, to)).unwrap_err()
        )
    };
    let message = refused("role = \"Admin\"", "role = \"Owner\"");
    assert!(
        message.contains("no app role has the id or value `Owner`"),
        "{message}"
    );
    let message = refused(
        "group_membership_claims = \"SecurityGroup\"",
        "group_membership_claims = \"DirectoryRole\"",
    );
    assert!(message.contains("DirectoryRole"), "{message}");
    let message = refused("value = \"Admin\"", "value = \"Team Admin\"");
    assert!(message.contains("no spaces"), "{message}");
    let message = refused(
        "groups = [\"a1b2c3d4-0000-4a00-8a00-000000000001\"",
        "groups = [\"a1b2c3d4-0000-4a00-8a00-000000000009\"",
    );
    assert!(
        message.contains("not a group of the user's tenant"),
        "{message}"
    );
    assert!(
        Directory::from_toml_str(&EXAMPLE.replace("mail_enabled = true", "mailEnabled = true"))
            .is_err()
    );
}

#[test]
fn a_upn_on_a_domain_the_tenant_has_not_verified_is_refused() {
    let config = EXAMPLE.replace(
        "jo.admin@fabrikam.test\"    #",
        "jo.admin@contoso.com\"    #",
    );
    let error = Directory::from_toml_str(&config).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("jo.admin@contoso.com") && message.contains("not a verified domain"),
        "{message}"
    );
}

#[test]
fn http_redirect_uris_are_refused_except_for_loopback_hosts() {
    let config = EXAMPLE.replace(
        "https://app.fabrikam.test/auth/callback",
        "http://app.fabrikam.test/auth/callback",
    );
    assert!(
        format!("{:#}", Directory::from_toml_str(&config).unwrap_err())
            .contains("http is only allowed")
    );
    let wildcard = EXAMPLE.replace(
        "https://app.fabrikam.test/auth/callback",
        "https://*.fabrikam.test/cb",
    );
    assert!(Directory::from_toml_str(&wildcard).is_err());
    let mut demo = Directory::demo();
    for ok in [
        "http://localhost:1/cb",
        "http://127.0.0.1/cb",
        "http://globex.localhost:8080/auth/microsoft/callback",
    ] {
        demo.add_redirect_uri(DEMO_CLIENT_ID, ok).unwrap();
    }
}

#[test]
fn unknown_fields_and_optional_claims_are_refused() {
    assert!(Directory::from_toml_str(&EXAMPLE.replace("job_title =", "jobtitle =")).is_err());
    assert!(Directory::from_toml_str(&EXAMPLE.replace("\"xms_edov\",", "\"upn\",")).is_err());
}

#[test]
fn the_demo_directory_is_valid_and_takes_extra_redirect_uris() {
    Directory::demo().validate().unwrap();
    let uri = "http://acme.localhost:9090/auth/microsoft/callback".to_owned();
    let directory = Directory::demo_with_redirect_uris(std::slice::from_ref(&uri)).unwrap();
    assert!(
        directory
            .app(DEMO_CLIENT_ID)
            .unwrap()
            .redirect_uris
            .contains(&uri)
    );
    assert!(
        directory
            .app(DEMO_SINGLE_TENANT_CLIENT_ID)
            .unwrap()
            .redirect_uris
            .contains(&uri)
    );
    let mallory = directory.user_by_upn(MALLORY_UPN).unwrap();
    assert_eq!(mallory.mail.as_deref(), Some("alex.wilber@acme.test"));
    assert!(directory.user_by_upn(NOMAIL_UPN).unwrap().mail.is_none());
    assert_eq!(DEMO_CLIENT_SECRET.len(), 40);
}

#[tokio::test]
async fn an_invalid_runtime_change_is_refused_and_changes_nothing() {
    let emu = start().await;
    let result = emu.update_directory(|d| {
        d.user_by_upn_mut(ADELE_UPN).unwrap().user_principal_name = "adele@elsewhere.example".into()
    });
    assert!(matches!(
        result,
        Err(DirectoryError::UnverifiedUpnDomain { .. })
    ));
    assert!(emu.directory().user_by_upn(ADELE_UPN).is_some());
}
