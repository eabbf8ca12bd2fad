//! `ontrackio demo`: the whole product on one machine, seeded and ready to click through.
//! Idempotent: a second run reuses the data, the key and the credentials.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::SecretString;

use crate::accounts::{AccountError, Accounts, By, Invitation, NewWorkspace, NoCache};
use crate::auth::microsoft::settings;
use crate::config::{BaseUrl, Config, DatabaseUrl, MasterKeySource, OutboundBase};
use crate::crypto::keyring::write_private_file;
use crate::crypto::random_token;
use crate::domain::{EmailAddress, WorkspaceSlug};
use crate::domain::{EmailDomain, PersonName, Role};
use crate::store::{self, Db};
use crate::web::Application;
use entra_emulator::demo as ms;
use entra_emulator::google::demo as google;

pub const DATA_DIR: &str = "ontrackio-data";
pub const KEY_FILE: &str = "master.key";
const CREDENTIALS_FILE: &str = "demo-admin-password";
pub const DEMO_SLUG: &str = "acme";
pub const DEMO_ADMIN: &str = "admin@acme.test";
/// The actor of the seeding's audit rows.
const DEMO: &str = "ontrackio demo";

pub async fn run(port: u16) -> anyhow::Result<()> {
    let data = PathBuf::from(DATA_DIR);
    create_private_dir(&data)?;
    // The demo is self-contained: its own database, key and addresses, whatever the
    // environment says about production ones.
    let mut config = Config::from_env(MasterKeySource::GenerateInto(data.join(KEY_FILE)))?;
    config.database_url = DatabaseUrl::Sqlite(format!("sqlite://./{DATA_DIR}/ontrackio.db"));
    config.listen = ([127, 0, 0, 1], port).into();
    config.base_url = BaseUrl::parse(&format!("http://localhost:{port}"))?;
    crate::telemetry::init(config.log_format);

    crate::install_crypto_provider();
    // The Entra emulator in-process, with its demo directory and this port's redirect URI.
    let origin = config.base_url.workspace_origin(DEMO_SLUG);
    let mut directory = entra_emulator::Directory::demo_with_redirect_uris(&[format!(
        "{origin}/auth/microsoft/callback"
    )])?;
    // The emulator's demo SAML app knows port 8080; on another port it must know this one.
    let saml_app_id = uuid::Uuid::parse_str(ms::DEMO_SAML_APP_ID)?;
    if let Some(app) = directory.saml_app_mut(saml_app_id) {
        app.identifiers = vec![format!("{origin}/saml/metadata")];
        app.reply_urls = vec![format!("{origin}/saml/acs")];
    }
    let emulator = entra_emulator::Emulator::builder()
        .directory(directory)
        .start()
        .await?;
    config.microsoft_authority = OutboundBase::parse(&emulator.authority())?;
    config.microsoft_graph = OutboundBase::parse(&emulator.graph_base())?;
    // And the Google emulator, whose demo client knows this port's redirect URI.
    let google_emulator = entra_emulator::google::GoogleEmulator::builder()
        .directory(
            entra_emulator::google::GoogleDirectory::demo_with_redirect_uris(&[format!(
                "{origin}/auth/google/callback"
            )]),
        )
        .start()
        .await?;
    config.google_issuer = OutboundBase::parse(&google_emulator.issuer())?;

    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let password = seed(&db, &data).await?;
    seed_microsoft(&db, &config).await?;
    seed_google(&db, &config).await?;
    seed_saml(&db, &emulator).await?;
    let app = Application::build_with_db(config.clone(), db).await?;
    // Printed to the terminal for the person running the demo, never to the log. A
    // closed stdout (piped into `head`, say) must not stop the server.
    let banner = format!(
        "\nOnTrackio demo is running.\n  Sign in at:      {origin}/login\n  Super-admin:     {DEMO_ADMIN}\n  \
         Password:        {}\n  Data directory:  ./{DATA_DIR}/ (delete it to start over)\n\n\
         Continue with Microsoft signs in through the built-in Entra emulator at {}\n\
         (accounts to try: {}, {}, {}, {}, {}, {}).\n\
         Continue with Google signs in through the built-in Google emulator at {}\n\
         (accounts to try: {}, {}, {}).\n\
         Continue with SAML SSO signs in through the Entra emulator's SAML endpoint\n\
         (the same Entra accounts, e.g. {}; groups arrive as object ids).\n\
         Press Ctrl-C to stop.\n",
        secrecy::ExposeSecret::expose_secret(&password),
        emulator.authority(),
        ms::ADELE_UPN,
        ms::ALEX_UPN,
        ms::NOMAIL_UPN,
        ms::SAM_UPN,
        ms::PAT_UPN,
        ms::MALLORY_UPN,
        google_emulator.issuer(),
        google::WORKSPACE_EMAIL,
        google::CONSUMER_EMAIL,
        google::UNVERIFIED_EMAIL,
        ms::ALEX_UPN,
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    app.run_until(crate::shutdown::signal()).await
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    Ok(())
}

/// Makes sure workspace `acme` and its super-admin exist; returns the admin's password.
async fn seed(db: &Db, data: &Path) -> anyhow::Result<SecretString> {
    let cred_path = data.join(CREDENTIALS_FILE);
    let password = if cred_path.exists() {
        let raw = std::fs::read_to_string(&cred_path)
            .with_context(|| format!("cannot read {}", cred_path.display()))?;
        SecretString::from(raw.trim().to_string())
    } else {
        let pw = random_token()[..20].to_string();
        write_private_file(&cred_path, pw.as_bytes())?;
        SecretString::from(pw)
    };
    let slug = WorkspaceSlug::parse(DEMO_SLUG)?;
    if store::workspaces::find_by_slug(db.pool(), slug.as_str())
        .await?
        .is_none()
    {
        let email = EmailAddress::parse(DEMO_ADMIN)?;
        let new = NewWorkspace {
            slug: &slug,
            name: "Acme Corporation",
            super_admin: &email,
            password: Some(password.clone()),
        };
        Accounts::new(db, &NoCache)
            .create_workspace(&By::operator(DEMO), new)
            .await?;
    }
    Ok(password)
}

/// Configures acme's Microsoft Entra ID card against the emulator's demo app, once: an
/// admin's later changes on the card are kept. Also invites the people whose stories the
/// README tells (a returning admin, an external collaborator from another directory).
async fn seed_microsoft(db: &Db, config: &Config) -> anyhow::Result<()> {
    let ws = store::workspaces::find_by_slug(db.pool(), DEMO_SLUG)
        .await?
        .context("the demo workspace exists")?;
    let stored = store::microsoft_settings::get(db.pool(), &ws.id).await?;
    if stored.is_some_and(|s| s.card_saved()) {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    let fields = store::microsoft_settings::CardFields {
        enabled: true,
        tenant_id: Some("common"),
        client_id: Some(ms::DEMO_CLIENT_ID),
        redirect_uri: None,
        secret_expires_on: None,
        saved_by: "ontrackio demo",
    };
    store::microsoft_settings::save_card(&mut *tx, &ws.id, &fields).await?;
    let sealed = settings::seal_secret(
        &config.keys,
        &ws.id,
        &SecretString::from(ms::DEMO_CLIENT_SECRET),
    );
    store::microsoft_settings::set_secret(
        &mut *tx,
        &ws.id,
        &sealed,
        config.keys.sealing_key_id(),
        "ontrackio demo",
    )
    .await?;
    store::workspaces::set_allowed_domains(
        &mut *tx,
        &ws.id,
        &[EmailDomain::parse(ms::ACME_DOMAIN)?],
    )
    .await?;
    tx.commit().await?;
    let accounts = Accounts::new(db, &NoCache);
    let by = By::operator(DEMO);
    let no_name = PersonName::default();
    for (email, role, external) in [
        (ms::ALEX_UPN, Role::Admin, false),
        (ms::PAT_UPN, Role::Employee, true),
    ] {
        let email = EmailAddress::parse(email)?;
        let invitation = Invitation {
            email: &email,
            first_name: &no_name,
            last_name: &no_name,
            role,
            external,
        };
        match accounts.invite(&by, &ws, invitation).await {
            Ok(_) | Err(AccountError::AlreadyUser(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Configures acme's Google card against the Google emulator's demo client, once: an
/// admin's later changes on the card are kept. The allowed domains are the workspace's,
/// set with the Microsoft card's seeding.
async fn seed_google(db: &Db, config: &Config) -> anyhow::Result<()> {
    let ws = store::workspaces::find_by_slug(db.pool(), DEMO_SLUG)
        .await?
        .context("the demo workspace exists")?;
    let stored = store::google_settings::get(db.pool(), &ws.id).await?;
    if stored.is_some_and(|s| s.card_saved()) {
        return Ok(());
    }
    let sealed = crate::auth::google::settings::seal_secret(
        &config.keys,
        &ws.id,
        &SecretString::from(google::DEMO_CLIENT_SECRET),
    );
    let fields = store::google_settings::CardFields {
        enabled: true,
        client_id: Some(google::DEMO_CLIENT_ID),
        redirect_uri: None,
        saved_by: DEMO,
    };
    let secret = store::google_settings::NewSecret {
        sealed: &sealed,
        key_id: config.keys.sealing_key_id(),
    };
    let mut tx = db.begin().await?;
    store::google_settings::save(&mut tx, db.backend(), &ws.id, &fields, Some(secret)).await?;
    tx.commit().await?;
    Ok(())
}

/// Configures acme's SAML card against the Entra emulator's SAML endpoint. The emulator
/// makes a new signing certificate each run, so the IdP's values are written on every
/// start while the card still points at this emulator (as a metadata refresh would);
/// the admin's other choices are kept once the card was saved.
async fn seed_saml(db: &Db, emulator: &entra_emulator::EmulatorHandle) -> anyhow::Result<()> {
    let ws = store::workspaces::find_by_slug(db.pool(), DEMO_SLUG)
        .await?
        .context("the demo workspace exists")?;
    let tenant = ms::ACME_TENANT_ID;
    let metadata_url = emulator.saml_metadata_url(tenant, Some(ms::DEMO_SAML_APP_ID));
    let stored = store::saml_settings::get(db.pool(), &ws.id).await?;
    let kept = stored
        .filter(|s| s.card_saved())
        .filter(|s| s.metadata_url.as_deref() == Some(metadata_url.as_str()));
    let sso = emulator.saml_sso_url(tenant);
    let entity_id = emulator.saml_entity_id(tenant);
    let certificate = emulator.saml_certificate_pem();
    let groups = crate::auth::saml::identity::claims::GROUPS;
    let fields = store::saml_settings::CardFields {
        enabled: kept.as_ref().is_none_or(|k| k.enabled),
        idp_entity_id: Some(&entity_id),
        sso_url: Some(&sso),
        certificates: Some(&certificate),
        metadata_url: Some(&metadata_url),
        metadata_fetched_at: Some(store::now()),
        email_attribute: kept.as_ref().and_then(|k| k.email_attribute.as_deref()),
        group_attribute: match &kept {
            Some(k) => k.group_attribute.as_deref(),
            None => Some(groups),
        },
        allow_idp_initiated: kept.as_ref().is_some_and(|k| k.allow_idp_initiated),
        saved_by: DEMO,
    };
    let mut tx = db.begin().await?;
    store::saml_settings::save(&mut tx, db.backend(), &ws.id, &fields).await?;
    tx.commit().await?;
    Ok(())
}
