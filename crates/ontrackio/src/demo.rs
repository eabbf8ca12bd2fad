//! `ontrackio demo`: the whole product on one machine, seeded and ready to click through.
//! Idempotent: a second run reuses the data, the key and the credentials.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::SecretString;

use crate::config::{BaseUrl, Config, DatabaseUrl, MasterKeySource};
use crate::crypto::keyring::write_private_file;
use crate::crypto::random_token;
use crate::domain::{EmailAddress, WorkspaceSlug};
use crate::store::{self, Db};
use crate::web::Application;

pub const DATA_DIR: &str = "ontrackio-data";
pub const KEY_FILE: &str = "master.key";
const CREDENTIALS_FILE: &str = "demo-admin-password";
pub const DEMO_SLUG: &str = "acme";
pub const DEMO_ADMIN: &str = "admin@acme.test";

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
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    let password = seed(&db, &data).await?;
    let app = Application::build_with_db(config.clone(), db).await?;
    let origin = config.base_url.workspace_origin(DEMO_SLUG);
    // Printed to the terminal for the person running the demo, never to the log. A
    // closed stdout (piped into `head`, say) must not stop the server.
    let banner = format!(
        "\nOnTrackio demo is running.\n  Sign in at:      {origin}/login\n  Super-admin:     {DEMO_ADMIN}\n  \
         Password:        {}\n  Data directory:  ./{DATA_DIR}/ (delete it to start over)\nPress Ctrl-C to stop.\n",
        secrecy::ExposeSecret::expose_secret(&password)
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    app.run_until(crate::cli::shutdown_signal()).await
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
    let slug = WorkspaceSlug::parse(DEMO_SLUG).map_err(anyhow::Error::msg)?;
    if store::workspaces::find_by_slug(db.pool(), slug.as_str())
        .await?
        .is_none()
    {
        let email = EmailAddress::parse(DEMO_ADMIN)?;
        crate::cli::create_workspace(
            db,
            &slug,
            "Acme Corporation",
            &email,
            Some(password.clone()),
        )
        .await?;
    }
    Ok(password)
}
