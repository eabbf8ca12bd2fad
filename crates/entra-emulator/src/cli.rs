//! `ontrackio entra-emulator [--listen ADDR] [--config FILE] [--auto-select]`: serve a
//! directory until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::demo;
use crate::directory::Directory;
use crate::server::Emulator;

/// Serves the directory in `config` (or the demo directory) on `listen` until Ctrl-C, printing
/// the URLs and accounts a tester needs. `auto_select` is [`EmulatorBuilder::auto_select`]:
/// an authorize request whose `login_hint` names an account skips the picker, so scripted
/// clients (the benchmark) sign in without a page to fill.
///
/// [`EmulatorBuilder::auto_select`]: crate::EmulatorBuilder::auto_select
pub async fn run_cli(
    listen: SocketAddr,
    config: Option<PathBuf>,
    auto_select: bool,
) -> anyhow::Result<()> {
    let directory = match &config {
        Some(path) => Directory::from_toml_file(path)?,
        None => Directory::demo(),
    };
    let emulator = Emulator::builder()
        .directory(directory.clone())
        .listen(listen)
        .auto_select(auto_select)
        .start()
        .await?;
    let authority = emulator.authority();
    println!("Entra emulator listening on {authority}");
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
    }
    println!();
    for app in &directory.apps {
        let heading = format!(
            "App {}  client_id {}  ({:?})",
            app.display_name, app.client_id, app.sign_in_audience
        );
        print_client(&heading, &app.redirect_uris);
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
