//! Runs the emulator as `ontrackio entra-emulator` would:
//! `cargo run -p entra-emulator --example serve -- [ADDR] [CONFIG.toml]`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:8081").parse()?;
    let config = args.next().map(PathBuf::from);
    entra_emulator::run_cli(listen, config, false).await
}
