//! The command line. Every command has `--help`, exits non-zero with a one-line reason on
//! bad input, and never prints a secret except the ones it was asked to create.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::audit::{self, Actor, Origin, actions};
use crate::auth::password;
use crate::config::{Config, MasterKeySource};
use crate::crypto::{KeyRing, hash_token, random_token};
use crate::domain::{EmailAddress, PersonName, Role, UserStatus, WorkspaceSlug};
use crate::store::{self, Db, users::User, workspaces::Workspace};
use crate::web::Application;

#[derive(Parser)]
#[command(
    name = "ontrackio",
    version,
    about = "OnTrackio: workspace sign-in with passwords and Microsoft Entra ID"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on this machine: SQLite under ./ontrackio-data/, a seeded workspace `acme`.
    Demo {
        /// Port to serve on (the workspace is then http://acme.localhost:PORT).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Run the production server, configured from the environment.
    Serve {
        /// Do not apply pending migrations at start-up.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage users of a workspace.
    #[command(subcommand)]
    User(UserCommand),
    /// Master keys for sealing secrets and cookies.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Run the Microsoft Entra ID + Graph emulator on its own (for testing against it).
    EntraEmulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
        /// A TOML directory (tenants, users, apps); without it the built-in demo directory.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Skip the account picker when the authorize request's login_hint names an account
        /// (scripted clients and load tests; a browser still sees the picker without a hint).
        #[arg(long)]
        auto_select: bool,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace and its first super-admin.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        /// Email of the first super-admin.
        #[arg(long = "super-admin")]
        super_admin: String,
        /// Read the super-admin's password from standard input; otherwise a one-time setup link is printed.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Invite a user (status `invited` until their first sign-in).
    Add {
        slug: String,
        email: String,
        #[arg(long, default_value = "employee", value_parser = ["employee", "admin", "super-admin"])]
        role: String,
        /// External collaborator: skips the workspace's email-domain allowlist.
        #[arg(long)]
        external: bool,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
    },
    /// List a workspace's users.
    List { slug: String },
    /// Change a user's role or external flag.
    Set {
        slug: String,
        email: String,
        #[arg(long, value_parser = ["employee", "admin", "super-admin"])]
        role: Option<String>,
        #[arg(long)]
        external: Option<bool>,
    },
    /// Disable a user and end all their sessions.
    Disable { slug: String, email: String },
    /// Enable a disabled user.
    Enable { slug: String, email: String },
    /// Print a new one-time link with which the user chooses a password.
    SetupLink { slug: String, email: String },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print a new master key (base64 of 32 random bytes) for ONTRACKIO_MASTER_KEY.
    GenerateKey,
    /// Re-seal every stored secret under the newest (first) key of ONTRACKIO_MASTER_KEY.
    ///
    /// Put the new key first and keep the old ones (`new:…,old:…`) on every node, then run
    /// this; afterwards the old key can be removed.
    RotateKey,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of reasons, outermost first, never a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo { port } => crate::demo::run(port).await,
        Command::Serve { no_migrate } => {
            let config = Config::from_env(MasterKeySource::Required)?;
            crate::telemetry::init(config.log_format);
            let app = Application::build(config.clone(), !no_migrate).await?;
            tracing::info!(listen = %app.local_addr(), base_url = %config.base_url.origin(), database = %config.database_url.redacted(), "serving");
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            let db = connect().await?;
            db.migrate().await?;
            println!("Migrations applied.");
            Ok(())
        }
        Command::Secrets(SecretsCommand::GenerateKey) => {
            println!("{}", KeyRing::generate_encoded());
            Ok(())
        }
        Command::Secrets(SecretsCommand::RotateKey) => {
            let config = Config::from_env(MasterKeySource::Required)?;
            crate::install_crypto_provider();
            let db = Db::connect(&config.database_url).await?;
            db.migrate().await?;
            let r = crate::auth::microsoft::settings::rotate_key(&db, &config.keys).await?;
            println!(
                "Re-sealed {} secret(s) under key {}; {} already used it.",
                r.resealed, r.key_id, r.already_current
            );
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Create {
            slug,
            name,
            super_admin,
            password_stdin,
        }) => {
            let slug = WorkspaceSlug::parse(&slug).map_err(anyhow::Error::msg)?;
            let email = EmailAddress::parse(&super_admin)
                .map_err(|e| anyhow::anyhow!("--super-admin: {e}"))?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                bail!("--name must be 1–100 printable characters");
            }
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let (config, db) = connect_with_config().await?;
            let created = create_workspace(&db, &slug, name, &email, password).await?;
            println!(
                "Created workspace {slug} ({name}) at {}",
                config.base_url.workspace_origin(slug.as_str())
            );
            match created.setup_token {
                Some(token) => println!(
                    "Super-admin {email} chooses a password at (valid 24 hours, once):\n  {}",
                    setup_url(&config, &slug, &token)
                ),
                None => println!(
                    "Super-admin {email} can sign in at {}/login",
                    config.base_url.workspace_origin(slug.as_str())
                ),
            }
            Ok(())
        }
        Command::User(cmd) => user_command(cmd).await,
        Command::EntraEmulator {
            listen,
            config,
            auto_select,
        } => {
            crate::telemetry::init(crate::config::LogFormat::Text);
            entra_emulator::run_cli(listen, config, auto_select).await
        }
    }
}

async fn connect() -> anyhow::Result<Db> {
    Ok(connect_with_config().await?.1)
}

async fn connect_with_config() -> anyhow::Result<(Config, Db)> {
    // These commands seal nothing, so they need no master key.
    let config = Config::from_env(MasterKeySource::NotNeeded)?;
    crate::install_crypto_provider();
    let db = Db::connect(&config.database_url).await?;
    db.migrate().await?;
    Ok((config, db))
}

/// Tells a server running on the same SQLite file that a user changed, so that it rereads
/// their sessions (see `auth::session_cache`). The change itself is committed either way; a
/// server that misses the announcement rereads within `MAX_AGE_SECS`, hence only a warning.
fn announce_user_change(config: &Config) {
    if let Some(path) = store::sqlite_path(&config.database_url)
        && let Err(e) = crate::auth::session_cache::OutsideChanges::announce(&path)
    {
        eprintln!(
            "warning: could not tell a running server about the change ({}: {e}); it applies within {} s",
            crate::auth::session_cache::OutsideChanges::path_for(&path).display(),
            crate::auth::session_cache::MAX_AGE_SECS
        );
    }
}

fn setup_url(config: &Config, slug: &WorkspaceSlug, token: &str) -> String {
    format!(
        "{}/setup?token={token}",
        config.base_url.workspace_origin(slug.as_str())
    )
}

fn read_password_stdin() -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Password (input is shown; press Enter when done):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    password::check_strength(&pw).map_err(|e| anyhow::anyhow!("password: {e}"))?;
    Ok(SecretString::from(pw))
}

pub struct CreatedWorkspace {
    pub workspace: Workspace,
    pub setup_token: Option<String>,
}

/// Creates a workspace and its first super-admin in one transaction.
pub async fn create_workspace(
    db: &Db,
    slug: &WorkspaceSlug,
    name: &str,
    email: &EmailAddress,
    password: Option<SecretString>,
) -> anyhow::Result<CreatedWorkspace> {
    let hash = match password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let ws = match store::workspaces::insert(&mut *tx, slug, name).await {
        Ok(ws) => ws,
        Err(e) if store::is_unique_violation(&e) => {
            bail!("a workspace named {slug} already exists")
        }
        Err(e) => return Err(e).context("Failed to create the workspace"),
    };
    let status = if hash.is_some() {
        UserStatus::Active
    } else {
        UserStatus::Invited
    };
    let user_id = store::users::insert(
        &mut *tx,
        &ws.id,
        store::users::NewUser {
            email,
            first_name: "",
            last_name: "",
            role: Role::SuperAdmin,
            external: false,
            status,
            email_verified: false,
            password_hash: hash.as_deref(),
        },
    )
    .await
    .context("Failed to create the super-admin")?;
    let setup_token = if hash.is_none() {
        let token = random_token();
        store::setup_tokens::insert(
            &mut *tx,
            &hash_token(&token),
            &user_id,
            store::now() + 24 * 3600,
        )
        .await?;
        Some(token)
    } else {
        None
    };
    audit::record(
        &mut tx,
        &ws.id,
        Actor::System("cli"),
        actions::WORKSPACE_CREATED,
        slug.as_str(),
        Origin::default(),
        serde_json::json!({"super_admin": email.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedWorkspace {
        workspace: ws,
        setup_token,
    })
}

async fn find_workspace(db: &Db, slug: &str) -> anyhow::Result<Workspace> {
    let slug = WorkspaceSlug::parse(slug).map_err(anyhow::Error::msg)?;
    store::workspaces::find_by_slug(db.pool(), slug.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no workspace named {slug}"))
}

async fn find_user(db: &Db, ws: &Workspace, email: &str) -> anyhow::Result<User> {
    let email = EmailAddress::parse(email)?;
    store::users::find_by_email(db.pool(), &ws.id, &email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{email} is not a user of {}", ws.slug))
}

async fn user_command(cmd: UserCommand) -> anyhow::Result<()> {
    let (config, db) = connect_with_config().await?;
    match cmd {
        UserCommand::Add {
            slug,
            email,
            role,
            external,
            first_name,
            last_name,
        } => {
            let ws = find_workspace(&db, &slug).await?;
            let email = EmailAddress::parse(&email)?;
            let role = Role::parse(&role).map_err(anyhow::Error::msg)?;
            let first =
                PersonName::parse(&first_name, "--first-name").map_err(anyhow::Error::msg)?;
            let last = PersonName::parse(&last_name, "--last-name").map_err(anyhow::Error::msg)?;
            let mut tx = db.begin().await?;
            let new = store::users::NewUser {
                email: &email,
                first_name: first.as_str(),
                last_name: last.as_str(),
                role,
                external,
                status: UserStatus::Invited,
                email_verified: false,
                password_hash: None,
            };
            match store::users::insert(&mut *tx, &ws.id, new).await {
                Ok(_) => {}
                Err(e) if store::is_unique_violation(&e) => {
                    bail!("{email} is already a user of {}", ws.slug)
                }
                Err(e) => return Err(e.into()),
            }
            audit::record(
                &mut tx,
                &ws.id,
                Actor::System("cli"),
                actions::USER_INVITED,
                email.as_str(),
                Origin::default(),
                serde_json::json!({"role": role.as_str(), "external": external}),
            )
            .await?;
            tx.commit().await?;
            println!(
                "Invited {email} to {} as {role}{}.",
                ws.slug,
                if external { " (external)" } else { "" }
            );
        }
        UserCommand::List { slug } => {
            let ws = find_workspace(&db, &slug).await?;
            println!(
                "{:<40} {:<12} {:<9} {:<9} LAST SIGN-IN",
                "EMAIL", "ROLE", "STATUS", "EXTERNAL"
            );
            for u in store::users::list(db.pool(), &ws.id).await? {
                println!(
                    "{:<40} {:<12} {:<9} {:<9} {}",
                    u.email,
                    u.role.as_str(),
                    u.status.as_str(),
                    if u.external { "yes" } else { "no" },
                    crate::web::fmt_opt_time(u.last_login_at)
                );
            }
        }
        UserCommand::Set {
            slug,
            email,
            role,
            external,
        } => {
            if role.is_none() && external.is_none() {
                bail!("nothing to change: give --role and/or --external");
            }
            let ws = find_workspace(&db, &slug).await?;
            let user = find_user(&db, &ws, &email).await?;
            let mut tx = db.begin().await?;
            if let Some(role) = role {
                let role = Role::parse(&role).map_err(anyhow::Error::msg)?;
                if user.role == Role::SuperAdmin
                    && role != Role::SuperAdmin
                    && user.status != UserStatus::Disabled
                    && store::users::count_other_active_super_admins(&mut *tx, &ws.id, &user.id)
                        .await?
                        == 0
                {
                    bail!(
                        "{} is the last active super-admin of {}; make someone else a super-admin first",
                        user.email,
                        ws.slug
                    );
                }
                store::users::set_role(&mut *tx, &user.id, role).await?;
                audit::record(
                    &mut tx,
                    &ws.id,
                    Actor::System("cli"),
                    actions::ROLE_CHANGED,
                    &user.email,
                    Origin::default(),
                    serde_json::json!({"from": user.role.as_str(), "to": role.as_str()}),
                )
                .await?;
            }
            if let Some(ext) = external {
                store::users::set_external(&mut *tx, &user.id, ext).await?;
                audit::record(
                    &mut tx,
                    &ws.id,
                    Actor::System("cli"),
                    actions::EXTERNAL_CHANGED,
                    &user.email,
                    Origin::default(),
                    serde_json::json!({"from": user.external, "to": ext}),
                )
                .await?;
            }
            tx.commit().await?;
            announce_user_change(&config);
            println!("Updated {}.", user.email);
        }
        UserCommand::Disable { slug, email } => {
            let ws = find_workspace(&db, &slug).await?;
            let user = find_user(&db, &ws, &email).await?;
            let mut tx = db.begin().await?;
            if user.role == Role::SuperAdmin
                && store::users::count_other_active_super_admins(&mut *tx, &ws.id, &user.id).await?
                    == 0
            {
                bail!(
                    "{} is the last active super-admin of {} and cannot be disabled",
                    user.email,
                    ws.slug
                );
            }
            store::users::set_status(&mut *tx, &user.id, UserStatus::Disabled).await?;
            let ended = store::sessions::delete_for_user(&mut *tx, &user.id).await?;
            audit::record(
                &mut tx,
                &ws.id,
                Actor::System("cli"),
                actions::USER_DISABLED,
                &user.email,
                Origin::default(),
                serde_json::json!({"sessions_ended": ended}),
            )
            .await?;
            tx.commit().await?;
            announce_user_change(&config);
            println!("Disabled {} and ended {ended} session(s).", user.email);
        }
        UserCommand::Enable { slug, email } => {
            let ws = find_workspace(&db, &slug).await?;
            let user = find_user(&db, &ws, &email).await?;
            let status = if user.last_login_at.is_some() {
                UserStatus::Active
            } else {
                UserStatus::Invited
            };
            let mut tx = db.begin().await?;
            store::users::set_status(&mut *tx, &user.id, status).await?;
            audit::record(
                &mut tx,
                &ws.id,
                Actor::System("cli"),
                actions::USER_ENABLED,
                &user.email,
                Origin::default(),
                serde_json::json!({}),
            )
            .await?;
            tx.commit().await?;
            announce_user_change(&config);
            println!("Enabled {}.", user.email);
        }
        UserCommand::SetupLink { slug, email } => {
            let ws = find_workspace(&db, &slug).await?;
            let user = find_user(&db, &ws, &email).await?;
            let token = random_token();
            store::setup_tokens::insert(
                db.pool(),
                &hash_token(&token),
                &user.id,
                store::now() + 24 * 3600,
            )
            .await?;
            println!(
                "{} chooses a password at (valid 24 hours, once):\n  {}",
                user.email,
                setup_url(&config, &ws.slug, &token)
            );
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
