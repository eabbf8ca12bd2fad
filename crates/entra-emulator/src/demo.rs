//! The built-in demo directory: Acme (the customer), Contoso (a partner whose user is a guest in
//! Acme) and an "evil" tenant whose admin set a user's `mail` to an Acme address (nOAuth).
//!
//! Every id is fixed so the product's `ontrackio demo` and its tests can name them.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::directory::{
    AppRegistration, AppRole, ClientSecret, Directory, Group, GroupMembershipClaims, GuestOf,
    OptionalClaims, SignInAudience, Tenant, User,
};

pub const ACME_TENANT_ID: &str = "3f6d9c2a-8b41-4e7d-9a15-6c2e0b7d4f81";
pub const CONTOSO_TENANT_ID: &str = "b5e2a7c4-1d93-4f6a-8e20-9c7b3d5a1e64";
pub const EVIL_TENANT_ID: &str = "e71f0d38-6a2c-4b95-b8d4-2f9a6c3e7b10";

pub const ACME_DOMAIN: &str = "acme.test";
pub const CONTOSO_DOMAIN: &str = "contoso.test";
pub const EVIL_DOMAIN: &str = "evil.test";

/// The OnTrackio app, registered in Acme for "any organizational directory".
pub const DEMO_CLIENT_ID: &str = "c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45";
pub const DEMO_CLIENT_SECRET: &str = "Qx8~mN3pL.vR7tY2wK_aZ5cB9dF4gH6jS1eU0oIz";
/// The secret's id as the portal shows it (what admins paste by mistake).
pub const DEMO_CLIENT_SECRET_ID: &str = "8e4c2a6f-1b3d-4f5e-9a7c-0d2b4f6e8a1c";

/// A second OnTrackio registration limited to Acme ("this directory only"), to show AADSTS50020.
pub const DEMO_SINGLE_TENANT_CLIENT_ID: &str = "5d3b9f1e-7c26-4a84-9e0b-3f6a2d8c1b97";
pub const DEMO_SINGLE_TENANT_CLIENT_SECRET: &str = "Lm4~Tq9Wz.Hk2Pv7Rn_Bx5Cy8Dj3Fg6Ks1Ne0Ua";
pub const DEMO_SINGLE_TENANT_CLIENT_SECRET_ID: &str = "2f7a9c1e-5d3b-4a6c-8e0f-1b3d5f7a9c2e";

/// The redirect URI both demo apps are registered with out of the box (the product's
/// default `ONTRACKIO_BASE_URL` for workspace `acme`).
pub const DEMO_REDIRECT_URI: &str = "http://acme.localhost:8080/auth/microsoft/callback";

/// Member of Acme, `mail` equal to the UPN: a first-time employee.
pub const ADELE_UPN: &str = "adele.vance@acme.test";
pub const ADELE_OID: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
/// Member of Acme; the product invites him as an admin.
pub const ALEX_UPN: &str = "alex.wilber@acme.test";
pub const ALEX_OID: &str = "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
/// Member of Acme, an employee.
pub const MEGAN_UPN: &str = "megan.bowen@acme.test";
pub const MEGAN_OID: &str = "4c8e2f6a-9b1d-4e3f-a5c7-8d0e2f4a6b8c";
/// Member of Acme without `mail` (no mailbox): Graph returns `"mail": null`.
pub const NOMAIL_UPN: &str = "nomail.user@acme.test";
pub const NOMAIL_OID: &str = "6d0f4b8e-2a5c-4f7e-9b1d-3c5e7a9b1d2f";
/// Member of Acme whose UPN is on `acme.onmicrosoft.com`, outside an `acme.test` allowlist.
pub const SAM_UPN: &str = "sam.partner@acme.onmicrosoft.com";
pub const SAM_OID: &str = "9e1a3c5b-7d2f-4b6e-8a0c-2e4b6d8f0a3b";
/// Member of Acme whose account is disabled: sign-in stops at AADSTS50057.
pub const DISABLED_UPN: &str = "diego.siciliani@acme.test";
pub const DISABLED_OID: &str = "2b4d6f8a-0c1e-4a3c-9e5b-7d9f1b3d5e7a";
/// Pat's account in Contoso, the home tenant.
pub const PAT_UPN: &str = "pat.guest@contoso.test";
pub const PAT_OID: &str = "5f7b9d1c-3e6a-4c8e-b0d2-4f6a8c0e2b4d";
/// Pat's guest object in Acme.
pub const PAT_GUEST_UPN: &str = "pat.guest_contoso.test#EXT#@acme.onmicrosoft.com";
pub const PAT_GUEST_OID: &str = "c3e5a7b9-1d4f-4b6d-8f0a-6b8d0f2a4c6e";
/// The evil tenant's user, whose admin set `mail` to Alex's Acme address.
pub const MALLORY_UPN: &str = "mallory@evil.test";
pub const MALLORY_OID: &str = "d4f6b8c0-2e5a-4c7e-9a1b-8c0e2a4c6e8f";
pub const MALLORY_MAIL: &str = "alex.wilber@acme.test";

/// App roles the multi-tenant demo app declares (its `roles` claim values). Alex holds
/// `Admin`, Megan holds `Employee` through the "Acme Staff" group, Sam holds `Employee`
/// directly; everyone else has none (no `roles` claim).
pub const ROLE_EMPLOYEE: &str = "Employee";
pub const ROLE_EMPLOYEE_ID: &str = "6a1f3c2e-8d4b-4e7a-9c15-2b8e0f4d6a31";
pub const ROLE_ADMIN: &str = "Admin";
pub const ROLE_ADMIN_ID: &str = "9b3e5d7f-1a2c-4b6e-8d0f-3c5e7a9b1d42";
pub const ROLE_SUPER_ADMIN: &str = "SuperAdmin";
pub const ROLE_SUPER_ADMIN_ID: &str = "2d4f6b8a-0c1e-4f3a-b5c7-9e1a3c5e7b53";

/// Acme's security group "Acme Staff" (Megan and Alex are members); assigned `Employee`.
pub const STAFF_GROUP_ID: &str = "7e9a1c3b-5d2f-4a6c-8e0b-4d6f8a0c2e64";
/// Acme's security group "IT Admins" (Alex is a member).
pub const IT_ADMINS_GROUP_ID: &str = "3b5d7f9a-1c2e-4d4f-a6b8-5e7a9c1e3f75";
/// Acme's distribution list "Acme Announcements" (Alex is a member): only `All` emits it.
pub const ANNOUNCEMENTS_GROUP_ID: &str = "8c0e2a4b-6d1f-4e3a-9b5c-6f8b0d2a4c86";

/// OnTrackio as a SAML enterprise application in Acme, for workspace `acme` of the demo: the
/// groups claim lists security groups (Alex: "Acme Staff" and "IT Admins"; Megan: "Acme Staff").
pub const DEMO_SAML_APP_ID: &str = "e3a1c5b7-9d2f-4e6a-8c0b-1f3d5a7c9e20";
/// The demo SAML app's "Identifier (Entity ID)": the product's SP metadata URL for `acme`.
pub const DEMO_SAML_ENTITY_ID: &str = "http://acme.localhost:8080/saml/metadata";
/// The demo SAML app's "Reply URL (Assertion Consumer Service URL)".
pub const DEMO_SAML_ACS_URL: &str = "http://acme.localhost:8080/saml/acs";

/// The demo SAML app (see [`DEMO_SAML_APP_ID`]).
pub fn demo_saml_app() -> crate::saml::SamlApp {
    let mut app = crate::saml::SamlApp::new(
        id(DEMO_SAML_APP_ID),
        id(ACME_TENANT_ID),
        "OnTrackio (SAML)",
        DEMO_SAML_ENTITY_ID,
        DEMO_SAML_ACS_URL,
    );
    app.group_membership_claims = GroupMembershipClaims::SecurityGroup;
    app
}

fn id(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("demo ids are GUID literals")
}

fn far_future() -> OffsetDateTime {
    time::macros::datetime!(2099-12-31 23:59:59 UTC)
}

fn person(
    oid: &str,
    upn: &str,
    given: &str,
    surname: &str,
    job: Option<&str>,
    mail: Option<&str>,
) -> User {
    let mut user = User::member(id(oid), upn, &format!("{given} {surname}"));
    user.given_name = Some(given.to_owned());
    user.surname = Some(surname.to_owned());
    user.job_title = job.map(str::to_owned);
    user.mail = mail.map(str::to_owned);
    user.preferred_language = Some("en-US".to_owned());
    user
}

impl Directory {
    /// The demo directory the emulator serves when started without a config.
    pub fn demo() -> Directory {
        let alex = {
            let mut u = person(
                ALEX_OID,
                ALEX_UPN,
                "Alex",
                "Wilber",
                Some("IT Administrator"),
                Some(ALEX_UPN),
            );
            u.business_phones = vec!["+1 858 555 0110".to_owned()];
            u.office_location = Some("12/1110".to_owned());
            u.groups = vec![
                id(STAFF_GROUP_ID),
                id(IT_ADMINS_GROUP_ID),
                id(ANNOUNCEMENTS_GROUP_ID),
            ];
            u
        };
        let megan = {
            let mut u = person(
                MEGAN_OID,
                MEGAN_UPN,
                "Megan",
                "Bowen",
                Some("Marketing Manager"),
                Some(MEGAN_UPN),
            );
            u.groups = vec![id(STAFF_GROUP_ID)];
            u
        };
        let nomail = {
            let mut u = User::member(id(NOMAIL_OID), NOMAIL_UPN, "No Mail User");
            u.mail = None;
            u
        };
        let disabled = {
            let mut u = person(
                DISABLED_OID,
                DISABLED_UPN,
                "Diego",
                "Siciliani",
                Some("HR Manager"),
                Some(DISABLED_UPN),
            );
            u.disabled = true;
            u
        };
        let pat_guest = {
            let mut u = User::member(id(PAT_GUEST_OID), PAT_GUEST_UPN, "Pat Guest");
            u.mail = Some(PAT_UPN.to_owned());
            u.guest_of = Some(GuestOf {
                tenant: id(CONTOSO_TENANT_ID),
                user: id(PAT_OID),
            });
            u
        };
        let acme = Tenant {
            id: id(ACME_TENANT_ID),
            name: "acme".to_owned(),
            display_name: "Acme".to_owned(),
            verified_domains: vec![ACME_DOMAIN.to_owned()],
            users: vec![
                person(
                    ADELE_OID,
                    ADELE_UPN,
                    "Adele",
                    "Vance",
                    Some("Retail Manager"),
                    Some(ADELE_UPN),
                ),
                alex,
                megan,
                nomail,
                person(
                    SAM_OID,
                    SAM_UPN,
                    "Sam",
                    "Partner",
                    Some("Consultant"),
                    Some(SAM_UPN),
                ),
                disabled,
                pat_guest,
            ],
            groups: vec![
                Group::security(id(STAFF_GROUP_ID), "Acme Staff"),
                Group::security(id(IT_ADMINS_GROUP_ID), "IT Admins"),
                Group::distribution(id(ANNOUNCEMENTS_GROUP_ID), "Acme Announcements"),
            ],
        };
        let contoso = Tenant {
            id: id(CONTOSO_TENANT_ID),
            name: "contoso".to_owned(),
            display_name: "Contoso".to_owned(),
            verified_domains: vec![CONTOSO_DOMAIN.to_owned()],
            users: vec![person(
                PAT_OID,
                PAT_UPN,
                "Pat",
                "Guest",
                Some("Partner Lead"),
                Some(PAT_UPN),
            )],
            groups: Vec::new(),
        };
        let evil = Tenant {
            id: id(EVIL_TENANT_ID),
            name: "evil".to_owned(),
            display_name: "Evil Corp".to_owned(),
            verified_domains: vec![EVIL_DOMAIN.to_owned()],
            users: vec![person(
                MALLORY_OID,
                MALLORY_UPN,
                "Mallory",
                "Evil",
                None,
                Some(MALLORY_MAIL),
            )],
            groups: Vec::new(),
        };
        let ontrackio = AppRegistration {
            client_id: id(DEMO_CLIENT_ID),
            display_name: "OnTrackio".to_owned(),
            home_tenant: id(ACME_TENANT_ID),
            sign_in_audience: SignInAudience::AzureAdMultipleOrgs,
            redirect_uris: vec![DEMO_REDIRECT_URI.to_owned()],
            client_secrets: vec![ClientSecret {
                id: id(DEMO_CLIENT_SECRET_ID),
                value: DEMO_CLIENT_SECRET.to_owned(),
                expires: far_future(),
            }],
            delegated_permissions: vec!["User.Read".to_owned()],
            optional_claims: OptionalClaims {
                email: true,
                xms_edov: true,
                given_name: true,
                family_name: true,
            },
            // An app registered before June 2023: unverified emails still reach the token, so
            // the demo shows the product refusing Mallory on `xms_edov=false`.
            remove_unverified_email_claim: false,
            app_roles: vec![
                AppRole::new(id(ROLE_EMPLOYEE_ID), ROLE_EMPLOYEE, "Employee"),
                AppRole::new(id(ROLE_ADMIN_ID), ROLE_ADMIN, "Administrator"),
                AppRole::new(
                    id(ROLE_SUPER_ADMIN_ID),
                    ROLE_SUPER_ADMIN,
                    "Super administrator",
                ),
            ],
            role_assignments: Vec::new(),
            // Off, as for a new registration: tests turn it on with `update_directory`.
            group_membership_claims: GroupMembershipClaims::None,
        };
        let mut ontrackio = ontrackio;
        ontrackio
            .assign_app_role(id(ALEX_OID), ROLE_ADMIN)
            .assign_app_role(id(STAFF_GROUP_ID), ROLE_EMPLOYEE)
            .assign_app_role(id(SAM_OID), ROLE_EMPLOYEE);
        let single = AppRegistration {
            client_id: id(DEMO_SINGLE_TENANT_CLIENT_ID),
            display_name: "OnTrackio (Acme only)".to_owned(),
            home_tenant: id(ACME_TENANT_ID),
            sign_in_audience: SignInAudience::AzureAdMyOrg,
            redirect_uris: vec![DEMO_REDIRECT_URI.to_owned()],
            client_secrets: vec![ClientSecret {
                id: id(DEMO_SINGLE_TENANT_CLIENT_SECRET_ID),
                value: DEMO_SINGLE_TENANT_CLIENT_SECRET.to_owned(),
                expires: far_future(),
            }],
            delegated_permissions: vec!["User.Read".to_owned()],
            optional_claims: OptionalClaims::default(),
            remove_unverified_email_claim: true,
            app_roles: Vec::new(),
            role_assignments: Vec::new(),
            group_membership_claims: GroupMembershipClaims::None,
        };
        Directory {
            tenants: vec![acme, contoso, evil],
            apps: vec![ontrackio, single],
            saml_apps: vec![demo_saml_app()],
        }
    }

    /// The demo directory with extra redirect URIs registered on both demo apps.
    ///
    /// Fails when a URI breaks the registration rules (https, or http for loopback hosts).
    pub fn demo_with_redirect_uris(uris: &[String]) -> Result<Directory, crate::DirectoryError> {
        let mut directory = Directory::demo();
        for uri in uris {
            directory.add_redirect_uri(DEMO_CLIENT_ID, uri)?;
            directory.add_redirect_uri(DEMO_SINGLE_TENANT_CLIENT_ID, uri)?;
        }
        Ok(directory)
    }
}

/// A SAML app in the demo's Acme tenant for the SP `entity_id` with reply URL `acs_url`, a new
/// application id, security groups in the groups claim: what a test registers with
/// [`EmulatorBuilder::saml_app`](crate::EmulatorBuilder::saml_app).
pub fn saml_app_for(entity_id: &str, acs_url: &str) -> crate::saml::SamlApp {
    let mut app = crate::saml::SamlApp::new(
        Uuid::new_v4(),
        id(ACME_TENANT_ID),
        "OnTrackio (SAML)",
        entity_id,
        acs_url,
    );
    app.group_membership_claims = GroupMembershipClaims::SecurityGroup;
    app
}
