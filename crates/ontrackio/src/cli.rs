//! The command line. Every command has `--help`, exits non-zero with a one-line reason on
//! bad input, and never prints a secret except the ones it was asked to create.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::accounts::{Accounts, By, ChangeNotifier, Invitation, NewWorkspace, Outcome};
use crate::auth::password;
use crate::config::{Config, MasterKeySource};
use crate::crypto::KeyRing;
use crate::domain::{EmailAddress, PersonName, Role, WorkspaceSlug};
use crate::store::{self, Db, workspaces::Workspace};
use crate::web::Application;

/// The actor of the CLI's audit rows.
const CLI: &str = "cli";

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
    /// Run the Microsoft Entra ID + Graph emulator on its own (for testing against it, or
    /// for MSAL over TLS with --tls).
    EntraEmulator {
        #[command(flatten)]
        args: entra_emulator::EntraEmulatorArgs,
    },
    /// Run the Google sign-in (OpenID Connect) emulator on its own (for testing against it).
    GoogleEmulator {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: std::net::SocketAddr,
        /// A TOML file of accounts and OAuth clients; without it the built-in demo accounts.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Skip the account picker when the authorize request's login_hint names an account.
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
            app.run_until(crate::shutdown::signal()).await
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
            let slug = WorkspaceSlug::parse(&slug)?;
            let email = EmailAddress::parse_typed(&super_admin)
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
            let announcer = AnnounceToServer::new(&config);
            let created = Accounts::new(&db, &announcer)
                .create_workspace(
                    &By::operator(CLI),
                    NewWorkspace {
                        slug: &slug,
                        name,
                        super_admin: &email,
                        password,
                    },
                )
                .await?;
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
        Command::EntraEmulator { args } => {
            crate::telemetry::init(crate::config::LogFormat::Text);
            entra_emulator::run(args).await
        }
        Command::GoogleEmulator {
            listen,
            config,
            auto_select,
        } => {
            crate::telemetry::init(crate::config::LogFormat::Text);
            entra_emulator::google::run_google_cli(listen, config, auto_select).await
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
struct AnnounceToServer(Option<std::path::PathBuf>);

impl AnnounceToServer {
    fn new(config: &Config) -> Self {
        Self(store::sqlite_path(&config.database_url))
    }
}

impl ChangeNotifier for AnnounceToServer {
    fn user_changed(&self, _: &crate::domain::UserId) {
        use crate::auth::session_cache::{MAX_AGE_SECS, OutsideChanges};
        if let Some(path) = &self.0
            && let Err(e) = OutsideChanges::announce(path)
        {
            eprintln!(
                "warning: could not tell a running server about the change ({}: {e}); it applies within {MAX_AGE_SECS} s",
                OutsideChanges::path_for(path).display(),
            );
        }
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

/// Parse → call the accounts service → print. Every rule lives in `accounts`.
async fn user_command(cmd: UserCommand) -> anyhow::Result<()> {
    let (config, db) = connect_with_config().await?;
    let announcer = AnnounceToServer::new(&config);
    let accounts = Accounts::new(&db, &announcer);
    let by = By::operator(CLI);
    let workspace = |slug: &str| {
        let slug = WorkspaceSlug::parse(slug);
        let accounts = &accounts;
        async move { Ok::<_, anyhow::Error>(accounts.find_workspace(&slug?).await?) }
    };
    let user = |ws: &Workspace, email: &str| {
        let email = EmailAddress::parse_typed(email);
        let accounts = &accounts;
        let ws = ws.clone();
        async move { Ok::<_, anyhow::Error>(accounts.find_user(&ws, &email?).await?) }
    };
    match cmd {
        UserCommand::Add {
            slug,
            email,
            role,
            external,
            first_name,
            last_name,
        } => {
            let email = EmailAddress::parse_typed(&email)?;
            let role = Role::parse(&role)?;
            let first = PersonName::parse(&first_name)
                .map_err(|e| anyhow::anyhow!(e.for_field("--first-name")))?;
            let last = PersonName::parse(&last_name)
                .map_err(|e| anyhow::anyhow!(e.for_field("--last-name")))?;
            let ws = workspace(&slug).await?;
            let invitation = Invitation {
                email: &email,
                first_name: &first,
                last_name: &last,
                role,
                external,
            };
            accounts.invite(&by, &ws, invitation).await?;
            println!(
                "Invited {email} to {} as {role}{}.",
                ws.slug,
                if external { " (external)" } else { "" }
            );
        }
        UserCommand::List { slug } => {
            let ws = workspace(&slug).await?;
            println!(
                "{:<40} {:<12} {:<9} {:<9} LAST SIGN-IN",
                "EMAIL", "ROLE", "STATUS", "EXTERNAL"
            );
            // Page by page, however many there are.
            let mut after: Option<String> = None;
            loop {
                let page = store::users::page(&db, &ws.id, None, after.as_deref(), 1000).await?;
                for u in &page.users {
                    println!(
                        "{:<40} {:<12} {:<9} {:<9} {}",
                        u.email,
                        u.role.as_str(),
                        u.status.as_str(),
                        if u.external { "yes" } else { "no" },
                        crate::web::fmt_opt_time(u.last_login_at)
                    );
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
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
            let role = role.as_deref().map(Role::parse).transpose()?;
            let ws = workspace(&slug).await?;
            let target = user(&ws, &email).await?;
            let mut changed = false;
            if let Some(role) = role {
                changed |= accounts.set_role(&by, &ws, &target.id, role).await? == Outcome::Changed;
            }
            if let Some(external) = external {
                changed |= accounts
                    .set_external(&by, &ws, &target.id, external)
                    .await?
                    == Outcome::Changed;
            }
            if changed {
                println!("Updated {}.", target.email);
            } else {
                println!("No change: {} already had those settings.", target.email);
            }
        }
        UserCommand::Disable { slug, email } => {
            let ws = workspace(&slug).await?;
            let target = user(&ws, &email).await?;
            let done = accounts.disable(&by, &ws, &target.id).await?;
            match done.outcome {
                Outcome::Changed => println!(
                    "Disabled {} and ended {} session(s).",
                    target.email, done.sessions_ended
                ),
                Outcome::Unchanged => println!("No change: {} was already disabled.", target.email),
            }
        }
        UserCommand::Enable { slug, email } => {
            let ws = workspace(&slug).await?;
            let target = user(&ws, &email).await?;
            match accounts.enable(&by, &ws, &target.id).await? {
                Outcome::Changed => println!("Enabled {}.", target.email),
                Outcome::Unchanged => println!("No change: {} was not disabled.", target.email),
            }
        }
        UserCommand::SetupLink { slug, email } => {
            let ws = workspace(&slug).await?;
            let target = user(&ws, &email).await?;
            let token = accounts.setup_link(&by, &ws, &target.id).await?;
            println!(
                "{} chooses a password at (valid 24 hours, once):\n  {}",
                target.email,
                setup_url(&config, &ws.slug, &token)
            );
        }
    }
    Ok(())
}
