//! The emulator's directory for a run: one tenant per workspace, the accounts the run signs
//! in, one multi-tenant app whose redirect URIs are every workspace's callback.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::naming;

/// TOML in the format of `crates/entra-emulator/README.md`.
pub fn emulator_toml(
    workspaces: usize,
    accounts: &BTreeSet<(usize, u64)>,
    server_port: u16,
) -> String {
    let mut out = String::new();
    for ws in 0..workspaces {
        let _ = writeln!(
            out,
            "[[tenants]]\nid = \"{}\"\nname = \"bench{ws}\"\ndisplay_name = \"Bench {ws}\"\nverified_domains = [\"{}\"]\n",
            naming::tenant_id(ws),
            naming::domain(ws)
        );
        for &(_, j) in accounts.range((ws, 0)..(ws + 1, 0)) {
            let upn = naming::upn(ws, j);
            let _ = writeln!(
                out,
                "[[tenants.users]]\nid = \"{}\"\nuser_principal_name = \"{upn}\"\ndisplay_name = \"User {j}\"\ngiven_name = \"User\"\nsurname = \"{j}\"\nmail = \"{upn}\"\n",
                naming::oid(ws, j)
            );
        }
    }
    let redirects: Vec<String> = (0..workspaces)
        .map(|ws| {
            format!(
                "\"http://{}.localhost:{server_port}/auth/microsoft/callback\"",
                naming::slug(ws)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "[[apps]]\nclient_id = \"{}\"\ndisplay_name = \"OnTrackio bench\"\nhome_tenant = \"{}\"\nsign_in_audience = \"AzureADMultipleOrgs\"\nredirect_uris = [{}]\noptional_claims = [\"email\", \"xms_edov\"]\n\n[[apps.secrets]]\nid = \"e0be0c4a-5b1d-4c2e-9f3a-0000000000ff\"\nvalue = \"{}\"\nexpires = \"2099-12-31T23:59:59Z\"",
        naming::CLIENT_ID,
        naming::tenant_id(0),
        redirects.join(", "),
        naming::CLIENT_SECRET
    );
    out
}
