//! `ontrackio google-emulator [--listen ADDR] [--config FILE] [--auto-select]`: serve Google
//! accounts and clients until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::demo;
use super::directory::GoogleDirectory;
use super::server::GoogleEmulator;
use crate::cli::{print_client, print_demo_secrets};

/// Serves the accounts and clients in `config` (or the demo directory) on `listen` until
/// Ctrl-C, printing the URLs and accounts a tester needs. With `auto_select`, an authorize
/// request whose `login_hint` names an account skips the picker.
pub async fn run_google_cli(
    listen: SocketAddr,
    config: Option<PathBuf>,
    auto_select: bool,
) -> anyhow::Result<()> {
    let from_file = config.as_deref().map(GoogleDirectory::from_toml_file);
    let directory = from_file.transpose()?.unwrap_or_else(GoogleDirectory::demo);
    let builder = GoogleEmulator::builder().listen(listen);
    let emulator = builder
        .auto_select(auto_select)
        .directory(directory.clone())
        .start()
        .await?;
    println!("Google emulator listening on {}", emulator.issuer());
    println!(
        "  issuer      {}   (Google's: https://accounts.google.com)",
        emulator.issuer()
    );
    println!("  discovery   {}", emulator.discovery_url());
    if auto_select {
        println!("  auto-select on: a login_hint naming an account skips the picker");
    }
    println!();
    println!("Accounts");
    for account in &directory.accounts {
        let kind = match &account.hd {
            Some(hd) => format!("Workspace, hd {hd}"),
            None => "consumer, no hd".to_owned(),
        };
        let verified = if account.email_verified {
            ""
        } else {
            ", email NOT verified"
        };
        println!(
            "  {:<40} sub {:<22} ({kind}{verified})",
            account.email, account.sub
        );
    }
    println!();
    for client in &directory.clients {
        let heading = format!("Client {}  client_id {}", client.name, client.client_id);
        print_client(&heading, &client.redirect_uris);
    }
    if config.is_none() {
        print_demo_secrets(&[(demo::DEMO_CLIENT_ID, demo::DEMO_CLIENT_SECRET)]);
    }
    crate::runtime::until_ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
