//! The system under test: `ontrackio serve` and `ontrackio entra-emulator` as two separate
//! processes on loopback, with a fresh database, so the product's own CPU and memory can be
//! read from `/proc/<pid>` and nothing else is counted with them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::directory;
use crate::http::Conn;
use crate::naming;
use crate::populate::Database;

pub struct StackOptions {
    pub bin: PathBuf,
    pub database: Database,
    pub workspaces: usize,
    /// Existing users per workspace in the product's database before the run.
    pub users_per_workspace: u64,
    /// Accounts the emulator must know: (workspace, user number).
    pub accounts: BTreeSet<(usize, u64)>,
    /// `taskset -c` CPU list for the server (the driver and emulator keep the others).
    pub server_cpus: Option<String>,
    /// A command the server runs under (valgrind for instruction counts).
    pub wrapper: Option<Vec<String>>,
    pub run_dir: PathBuf,
    pub rust_log: String,
    pub extra_env: Vec<(String, String)>,
}

pub struct Stack {
    pub server_addr: SocketAddr,
    pub emulator_addr: SocketAddr,
    pub server_pid: u32,
    pub emulator_pid: u32,
    pub database: Database,
    server: Guard,
    emulator: Guard,
    pub run_dir: PathBuf,
    pub populate_secs: f64,
    bin: PathBuf,
    /// The server's environment, for running `ontrackio` commands against its database.
    env: Vec<(String, String)>,
}

impl Stack {
    pub async fn start(o: StackOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&o.run_dir)
            .with_context(|| format!("cannot create {}", o.run_dir.display()))?;
        if !o.bin.exists() {
            bail!(
                "{} does not exist; build it with `cargo build --release -p ontrackio` or pass --bin",
                o.bin.display()
            );
        }
        let server_port = free_port()?;
        let emulator_port = free_port()?;
        let server_addr: SocketAddr = ([127, 0, 0, 1], server_port).into();
        let emulator_addr: SocketAddr = ([127, 0, 0, 1], emulator_port).into();

        let key = output(Command::new(&o.bin).args(["secrets", "generate-key"]))?;
        let domains: Vec<String> = (0..o.workspaces).map(naming::domain).collect();
        let env: Vec<(&str, String)> = vec![
            ("ONTRACKIO_DATABASE_URL", o.database.url()),
            ("ONTRACKIO_MASTER_KEY", key.trim().to_string()),
            ("ONTRACKIO_LISTEN", server_addr.to_string()),
            (
                "ONTRACKIO_BASE_URL",
                format!("http://localhost:{server_port}"),
            ),
            (
                "ONTRACKIO_MICROSOFT_AUTHORITY",
                format!("http://{emulator_addr}"),
            ),
            (
                "ONTRACKIO_MICROSOFT_GRAPH",
                format!("http://{emulator_addr}/graph"),
            ),
            // Every flow of a load test comes from 127.0.0.1: the per-IP limit would stop
            // it after 30. Raised here, never switched off.
            ("ONTRACKIO_FLOW_STARTS_PER_MINUTE", "100000000".into()),
            ("AZURE_CLIENT_ID", naming::CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", naming::CLIENT_SECRET.into()),
            ("AZURE_TENANT_ID", "common".into()),
            ("AZURE_ALLOWED_DOMAINS", domains.join(",")),
            ("RUST_LOG", o.rust_log.clone()),
        ];
        let with_env = |cmd: &mut Command| {
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default());
            for (k, v) in &env {
                cmd.env(k, v);
            }
            for (k, v) in &o.extra_env {
                cmd.env(k, v);
            }
        };

        o.database.create().await?;
        let mut migrate = Command::new(&o.bin);
        migrate.arg("migrate");
        with_env(&mut migrate);
        output(&mut migrate).context("ontrackio migrate")?;
        let t = Instant::now();
        o.database
            .populate(o.workspaces, o.users_per_workspace)
            .await
            .context("pre-populating the product's database")?;
        let populate_secs = t.elapsed().as_secs_f64();

        let toml = directory::emulator_toml(o.workspaces, &o.accounts, server_port);
        let toml_path = o.run_dir.join("directory.toml");
        std::fs::write(&toml_path, toml)?;
        let mut emu = Command::new(&o.bin);
        emu.args(["entra-emulator", "--auto-select", "--listen"])
            .arg(emulator_addr.to_string())
            .arg("--config")
            .arg(&toml_path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file(&o.run_dir, "emulator.out")?)
            .stderr(log_file(&o.run_dir, "emulator.err")?);
        let emulator = Guard(emu.spawn().context("cannot start the emulator")?);

        let mut argv: Vec<String> = Vec::new();
        if let Some(cpus) = &o.server_cpus {
            argv.extend(["taskset".into(), "-c".into(), cpus.clone()]);
        }
        argv.extend(o.wrapper.iter().flatten().cloned());
        argv.push(o.bin.display().to_string());
        let mut server = Command::new(&argv[0]);
        server.args(&argv[1..]);
        server.args(["serve", "--no-migrate"]);
        with_env(&mut server);
        server
            .stdin(Stdio::null())
            .stdout(log_file(&o.run_dir, "server.out")?)
            .stderr(log_file(&o.run_dir, "server.err")?);
        let server = Guard(server.spawn().context("cannot start ontrackio serve")?);

        let stack = Self {
            server_addr,
            emulator_addr,
            server_pid: server.0.id(),
            emulator_pid: emulator.0.id(),
            database: o.database,
            server,
            emulator,
            run_dir: o.run_dir,
            populate_secs,
            bin: o.bin.clone(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        let host = format!("localhost:{server_port}");
        wait_for(server_addr, &host, "/healthz", &stack.run_dir, "server.err").await?;
        let discovery = format!(
            "/{}/v2.0/.well-known/openid-configuration",
            naming::tenant_id(0)
        );
        wait_for(
            emulator_addr,
            &emulator_addr.to_string(),
            &discovery,
            &stack.run_dir,
            "emulator.err",
        )
        .await?;
        Ok(stack)
    }

    /// Runs `ontrackio <args>` on the server's database, as an operator would.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        output(&mut cmd).with_context(|| format!("ontrackio {}", args.join(" ")))
    }

    /// Stops both processes and drops a PostgreSQL run database.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.server);
        drop(self.emulator);
        self.database.drop_database().await
    }
}

/// A child process that is killed and reaped when dropped, so an early return or a panic
/// in the driver leaves nothing running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first: the server shuts down gracefully and profilers write their
        // output; SIGKILL after 10 s whatever happens.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port the kernel just handed out; the child binds it a moment later.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(dir.join(name)).with_context(|| format!("cannot create {name}"))
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!(
            "failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

async fn wait_for(
    addr: SocketAddr,
    host: &str,
    path: &str,
    dir: &Path,
    log: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut c = Conn::new(addr);
        if let Ok(r) = c.get(host, path, None).await
            && r.status == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let tail = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
            bail!("{addr} did not answer {path} within 60 s; {log}:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
