//! `ontrackio entra-emulator [--listen ADDR] [--config FILE] [--auto-select] [--tls]
//! [--tls-cert-out FILE] [--public-url URL]`: serve a directory until Ctrl-C.
//!
//! The flags are [`EntraEmulatorArgs`], so a binary flattens them into its own command
//! (`#[command(flatten)]`) and calls [`run`]; [`run_cli`] is the older entry point, which
//! takes the new flags from their environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::demo;
use crate::directory::Directory;
use crate::server::Emulator;

/// The command line of `ontrackio entra-emulator`. Every flag added after the first three also
/// reads an environment variable, so a binary that still calls [`run_cli`] passes them on.
#[derive(Debug, Clone, clap::Args)]
pub struct EntraEmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// A TOML directory (tenants, users, groups, apps); without it the built-in demo directory.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Skip the account picker when the authorize request's login_hint names an account
    /// (scripted clients and load tests; a browser still sees the picker without a hint).
    #[arg(long)]
    pub auto_select: bool,
    /// Serve https with a self-signed certificate generated at start (MSAL refuses http
    /// authorities); the certificate is written to --tls-cert-out.
    #[arg(long, env = "ENTRA_EMULATOR_TLS")]
    pub tls: bool,
    /// Where to write the generated certificate (PEM) for clients to trust, e.g. as
    /// REQUESTS_CA_BUNDLE; default: entra-emulator-PORT.pem in the temporary directory.
    #[arg(long, env = "ENTRA_EMULATOR_TLS_CERT_OUT", requires = "tls")]
    pub tls_cert_out: Option<PathBuf>,
    /// The base URL clients reach the emulator at, when it isn't http(s)://LISTEN (a host
    /// name, a port mapping); issuers and endpoints are built from it, and the TLS certificate
    /// names its host.
    #[arg(long, env = "ENTRA_EMULATOR_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl EntraEmulatorArgs {
    /// The three original flags; the others from `ENTRA_EMULATOR_TLS`,
    /// `ENTRA_EMULATOR_TLS_CERT_OUT` and `ENTRA_EMULATOR_PUBLIC_URL`, as clap reads them.
    pub fn from_env(listen: SocketAddr, config: Option<PathBuf>, auto_select: bool) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        EntraEmulatorArgs {
            listen,
            config,
            auto_select,
            tls: var("ENTRA_EMULATOR_TLS").is_some_and(|v| {
                !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off" | "n" | "f"
                )
            }),
            tls_cert_out: var("ENTRA_EMULATOR_TLS_CERT_OUT").map(PathBuf::from),
            public_url: var("ENTRA_EMULATOR_PUBLIC_URL"),
        }
    }
}

/// Serves the directory in `config` (or the demo directory) on `listen` until Ctrl-C, printing
/// the URLs and accounts a tester needs. `auto_select` is [`EmulatorBuilder::auto_select`]:
/// an authorize request whose `login_hint` names an account skips the picker, so scripted
/// clients (the benchmark) sign in without a page to fill. TLS and the public URL come from
/// the environment (see [`EntraEmulatorArgs::from_env`]).
///
/// [`EmulatorBuilder::auto_select`]: crate::EmulatorBuilder::auto_select
pub async fn run_cli(
    listen: SocketAddr,
    config: Option<PathBuf>,
    auto_select: bool,
) -> anyhow::Result<()> {
    run(EntraEmulatorArgs::from_env(listen, config, auto_select)).await
}

/// Serves as `ontrackio entra-emulator ARGS` until Ctrl-C.
pub async fn run(args: EntraEmulatorArgs) -> anyhow::Result<()> {
    let EntraEmulatorArgs {
        listen,
        config,
        auto_select,
        tls,
        tls_cert_out,
        public_url,
    } = args;
    let directory = match &config {
        Some(path) => Directory::from_toml_file(path)?,
        None => Directory::demo(),
    };
    let mut builder = Emulator::builder()
        .directory(directory.clone())
        .listen(listen)
        .auto_select(auto_select)
        .tls(tls);
    if let Some(url) = &public_url {
        builder = builder.public_url(url.clone());
    }
    let emulator = builder.start().await?;
    let authority = emulator.authority();
    println!("Entra emulator listening on {authority}");
    if let Some(pem) = emulator.tls_certificate_pem() {
        let path = tls_cert_out.unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "entra-emulator-{}.pem",
                emulator.local_addr().port()
            ))
        });
        std::fs::write(&path, pem)
            .with_context(|| format!("cannot write the certificate to {}", path.display()))?;
        println!(
            "  TLS         self-signed certificate in {} (trust it: REQUESTS_CA_BUNDLE={0})",
            path.display()
        );
    }
    println!(
        "  authority   {authority}/{{tenant}}/v2.0   (tenant: a GUID, common or organizations)"
    );
    println!("  Graph       {}/v1.0/me", emulator.graph_base());
    if auto_select {
        println!("  auto-select on: a login_hint naming an account skips the picker");
    }
    println!();
    for tenant in &directory.tenants {
        println!(
            "Tenant {} ({})  {}",
            tenant.display_name,
            tenant.initial_domain(),
            tenant.id
        );
        println!(
            "  discovery   {authority}/{}/v2.0/.well-known/openid-configuration",
            tenant.id
        );
        for user in &tenant.users {
            let mut notes = Vec::new();
            if user.is_guest() {
                notes.push("guest".to_owned());
            }
            if user.disabled {
                notes.push("disabled".to_owned());
            }
            match &user.mail {
                Some(mail) if mail != &user.user_principal_name => {
                    notes.push(format!("mail {mail}"))
                }
                Some(_) => {}
                None => notes.push("no mail".to_owned()),
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join(", "))
            };
            println!("  {:<52} {}{notes}", user.user_principal_name, user.id);
        }
        for group in &tenant.groups {
            let kind = if group.security_enabled {
                "security group"
            } else {
                "distribution list"
            };
            let members = tenant
                .users
                .iter()
                .filter(|u| u.groups.contains(&group.id))
                .count();
            let members = match members {
                1 => "1 member".to_owned(),
                n => format!("{n} members"),
            };
            println!(
                "  group {:<46} {}  ({kind}, {members})",
                group.display_name, group.id
            );
        }
    }
    println!();
    for app in &directory.apps {
        let heading = format!(
            "App {}  client_id {}  ({:?})",
            app.display_name, app.client_id, app.sign_in_audience
        );
        print_client(&heading, &app.redirect_uris);
        for role in &app.app_roles {
            let holders: Vec<String> = app
                .role_assignments
                .iter()
                .filter(|a| app.app_role(&a.role).is_some_and(|r| r.id == role.id))
                .map(|a| match directory.locate_group(a.principal) {
                    Some((_, group)) => format!("group {}", group.display_name),
                    None => directory
                        .locate(a.principal)
                        .map(|(_, u)| u.user_principal_name.clone())
                        .unwrap_or_else(|| a.principal.to_string()),
                })
                .collect();
            let holders = if holders.is_empty() {
                "(nobody)".to_owned()
            } else {
                holders.join(", ")
            };
            println!("  app role {:<12} {holders}", role.value);
        }
    }
    for app in &directory.saml_apps {
        println!(
            "SAML app {}  app id {}  (signing {:?}, NameID {:?}, groups {:?})",
            app.display_name,
            app.app_id,
            app.signing,
            app.name_id_format,
            app.group_membership_claims
        );
        let tenant = app.tenant.to_string();
        println!(
            "  metadata     {}",
            emulator.saml_metadata_url(&tenant, Some(&app.app_id.to_string()))
        );
        println!("  login URL    {}", emulator.saml_sso_url(&tenant));
        println!("  IdP entity   {}", emulator.saml_entity_id(&tenant));
        for identifier in &app.identifiers {
            println!("  identifier   {identifier}");
        }
        for url in &app.reply_urls {
            println!("  reply URL    {url}");
        }
        if let Some(identifier) = app.identifiers.first() {
            println!(
                "  IdP-initiated {}",
                emulator.saml_idp_initiated_url(&tenant, identifier)
            );
        }
    }
    if config.is_none() {
        print_demo_secrets(&[
            (demo::DEMO_CLIENT_ID, demo::DEMO_CLIENT_SECRET),
            (
                demo::DEMO_SINGLE_TENANT_CLIENT_ID,
                demo::DEMO_SINGLE_TENANT_CLIENT_SECRET,
            ),
        ]);
    }
    crate::runtime::until_ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}

/// A client's heading line, then its redirect URIs.
pub(crate) fn print_client(heading: &str, redirect_uris: &[String]) {
    println!("{heading}");
    for uri in redirect_uris {
        println!("  redirect URI {uri}");
    }
}

/// The demo clients' secrets: public fixtures, printed so a tester can use them.
pub(crate) fn print_demo_secrets(secrets: &[(&str, &str)]) {
    println!();
    for (client_id, secret) in secrets {
        println!("Demo client secret ({client_id}): {secret}");
    }
}
