//! `ontrackio-bench`: the project's own benchmark of complete Microsoft sign-ins and
//! signed-in pages (DESIGN §8, BENCHMARKS.md). It starts `ontrackio serve` and
//! `ontrackio entra-emulator` as separate processes on loopback, drives them, and reads the
//! product's CPU and peak memory from `/proc`. Every run is bounded in count and time, and
//! any error fails it (exit status 1).

mod directory;
mod driver;
mod flows;
mod http;
mod naming;
mod plan;
mod populate;
mod procstat;
mod profile;
mod report;
mod stack;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use driver::{Load, Requests};
use flows::Target;
use plan::Planner;
use populate::Database;
use report::{Measure, Report};
use stack::{Stack, StackOptions};

#[derive(Parser)]
#[command(
    name = "ontrackio-bench",
    about = "Benchmark complete Microsoft sign-ins and signed-in pages of OnTrackio"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone)]
struct Common {
    /// The `ontrackio` binary (default: `ontrackio` next to this program, i.e. the same build).
    #[arg(long, global = true)]
    bin: Option<PathBuf>,
    /// The product's database backend.
    #[arg(long, value_enum, default_value = "sqlite", global = true)]
    db: Backend,
    /// A PostgreSQL URL with the right to create databases; each run makes its own and drops it.
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        global = true
    )]
    postgres_url: String,
    /// Workspaces the users are spread over.
    #[arg(long, default_value_t = 10, global = true)]
    workspaces: usize,
    /// Users already in the product's database (spread over the workspaces) before the run.
    #[arg(long, default_value_t = 1000, global = true)]
    existing_users: u64,
    /// Simulated browsers working at once (closed loop).
    #[arg(long, default_value_t = 32, global = true)]
    concurrency: usize,
    /// Sign-ins started per second instead of a fixed concurrency (open loop).
    #[arg(long, global = true)]
    rate: Option<f64>,
    /// Unmeasured sign-ins first (caches, connection pools, allocator).
    #[arg(long, default_value_t = 200, global = true)]
    warmup: usize,
    /// Give up after this long (the run then fails).
    #[arg(long, default_value_t = 600, global = true)]
    max_seconds: u64,
    /// Pin the server to these CPUs (`taskset -c` list) and the driver and emulator to the others.
    #[arg(long, global = true)]
    pin: Option<String>,
    /// Append one JSON line per measurement to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// RUST_LOG of the server (production's default is `info`).
    #[arg(long, default_value = "info", global = true)]
    server_log: String,
    /// Run the server under this command (space-separated), e.g. `valgrind --tool=massif`.
    #[arg(long, global = true, conflicts_with = "callgrind")]
    server_wrapper: Option<String>,
    /// Extra environment for the server, `NAME=VALUE` (repeatable), e.g. allocator tuning.
    #[arg(long = "server-env", global = true)]
    server_env: Vec<String>,
    /// Keep the run directory (database, logs, emulator directory) afterwards.
    #[arg(long, global = true)]
    keep: bool,
    /// Record the server's measured phase with `perf record` into this file.
    #[arg(long, global = true, conflicts_with = "callgrind")]
    perf: Option<PathBuf>,
    /// Run the server under callgrind; dump instruction counts of the measured phase to
    /// FILE.<pid>.<n> and report instructions per operation (CPU figures are then meaningless).
    #[arg(long, global = true)]
    callgrind: Option<PathBuf>,
}

impl Common {
    fn profiler(&self) -> Option<profile::Profiler> {
        match (&self.perf, &self.callgrind) {
            (Some(p), _) => Some(profile::Profiler::Perf(absolute(p))),
            (_, Some(c)) => Some(profile::Profiler::Callgrind(absolute(c))),
            _ => None,
        }
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Subcommand)]
enum Mode {
    /// Complete sign-ins: start → emulator authorize (auto-select) → callback → landing 200.
    Signin {
        #[arg(long, default_value_t = 2000)]
        signins: usize,
    },
    /// Signed-in `GET /my/dashboard` over many sessions, then `hello` on the same server.
    Pages {
        /// Sessions created first (by complete sign-ins, unmeasured).
        #[arg(long, default_value_t = 500)]
        sessions: usize,
        #[arg(long, default_value_t = 20000)]
        requests: usize,
    },
    /// `GET /healthz` through the same HTTP stack: the ceiling for `pages`.
    Hello {
        #[arg(long, default_value_t = 20000)]
        requests: usize,
    },
    /// Admin → Users (`/admin/users`) for one admin at each database size: the first page, a
    /// search that fills a page (`q=u1`), a search with one match (a last name), and a page
    /// deep in the list (`after=` the middle user's email). Use `--workspaces 1` to list
    /// every existing user in the one workspace.
    Users {
        #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
        sizes: Vec<u64>,
        /// Requests per kind of page and size.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// `signin` at each database size, to show how the cost per sign-in grows.
    Sweep {
        #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
        sizes: Vec<u64>,
        #[arg(long, default_value_t = 2000)]
        signins: usize,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ontrackio-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let c = cli.common;
    if c.workspaces == 0 {
        bail!("--workspaces must be at least 1");
    }
    if let Some(cpus) = &c.pin {
        pin_self_away_from(cpus)?;
    }
    let machine = report::machine();
    println!("{machine}");
    let deadline = Instant::now() + Duration::from_secs(c.max_seconds);
    let mut failed = false;
    match cli.mode {
        Mode::Signin { signins } => {
            let r = signin_run(&c, c.existing_users, signins, deadline).await?;
            failed |= r.finish(&c.json, &machine)?;
        }
        Mode::Pages { sessions, requests } => {
            let (pages, hello) = pages_run(&c, sessions, requests, deadline).await?;
            failed |= pages.finish(&c.json, &machine)?;
            failed |= hello.finish(&c.json, &machine)?;
            report::ratio(
                "pages / hello (requests per second)",
                pages.rate(),
                hello.rate(),
            );
            report::ratio(
                "hello / pages (server CPU per request)",
                hello.cpu_us_per_op(),
                pages.cpu_us_per_op(),
            );
        }
        Mode::Hello { requests } => {
            let (stack, t) = start(
                &c,
                c.existing_users,
                &Planner::new(c.workspaces, c.existing_users / c.workspaces as u64),
            )
            .await?;
            let what = Requests::Hello;
            let r = measure_requests(&c, &stack, t, what, requests, deadline, "hello").await;
            stop(stack, &c).await?;
            failed |= r?.finish(&c.json, &machine)?;
        }
        Mode::Users { sizes, requests } => {
            let mut costs: Vec<(&'static str, u64, f64)> = Vec::new();
            for size in sizes {
                for r in users_run(&c, size, requests, deadline).await? {
                    failed |= r.finish(&c.json, &machine)?;
                    costs.push((r.mode, size, r.cpu_us_per_op()));
                }
            }
            report::users(&costs);
        }
        Mode::Sweep { sizes, signins } => {
            let mut costs = Vec::new();
            for size in sizes {
                let r = signin_run(&c, size, signins, deadline).await?;
                failed |= r.finish(&c.json, &machine)?;
                costs.push((size, r.cpu_us_per_op()));
            }
            report::sweep(&costs);
        }
    }
    if failed {
        bail!("the run had errors (see above)");
    }
    Ok(())
}

fn database(c: &Common, tag: &str) -> Database {
    let run_dir = run_dir(tag);
    match c.db {
        Backend::Sqlite => Database::Sqlite {
            path: run_dir.join("ontrackio.db"),
        },
        Backend::Postgres => Database::Postgres {
            admin_url: c.postgres_url.clone(),
            name: format!("ontrackio_bench_{}_{tag}", std::process::id()),
        },
    }
}

fn run_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ontrackio-bench-{}-{tag}", std::process::id()))
}

fn bin(c: &Common) -> anyhow::Result<PathBuf> {
    if let Some(b) = &c.bin {
        return Ok(b.clone());
    }
    let me = std::env::current_exe().context("where am I")?;
    Ok(me.with_file_name("ontrackio"))
}

async fn start(c: &Common, existing: u64, planner: &Planner) -> anyhow::Result<(Stack, Target)> {
    let tag = format!(
        "{}-{existing}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            % 1_000_000
    );
    let db = database(c, &tag);
    let started = Stack::start(StackOptions {
        bin: bin(c)?,
        database: db.clone(),
        workspaces: c.workspaces,
        users_per_workspace: existing / c.workspaces as u64,
        accounts: planner.accounts.clone(),
        server_cpus: c.pin.clone(),
        wrapper: c.profiler().and_then(|p| p.wrapper()).or_else(|| {
            c.server_wrapper
                .as_ref()
                .map(|w| w.split_whitespace().map(str::to_owned).collect())
        }),
        run_dir: run_dir(&tag),
        rust_log: c.server_log.clone(),
        extra_env: c
            .server_env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await;
    // A stack that failed to start leaves nothing behind either (its processes are
    // already stopped by their guards).
    let stack = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = db.drop_database().await;
            if !c.keep {
                let _ = std::fs::remove_dir_all(run_dir(&tag));
            }
            return Err(e);
        }
    };
    let t = Target {
        server: stack.server_addr,
        emulator: stack.emulator_addr,
    };
    println!(
        "stack: {} with {existing} existing users in {} workspaces (filled in {:.1} s), server pid {}, emulator pid {}",
        stack.database.backend(),
        c.workspaces,
        stack.populate_secs,
        stack.server_pid,
        stack.emulator_pid
    );
    Ok((stack, t))
}

async fn stop(stack: Stack, c: &Common) -> anyhow::Result<()> {
    let dir = stack.run_dir.clone();
    stack.stop().await?;
    if !c.keep {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
    Ok(())
}

fn load(c: &Common) -> Load {
    match c.rate {
        Some(r) => Load::Rate(r),
        None => Load::Concurrency(c.concurrency),
    }
}

/// Warms up, then measures `signins` complete sign-ins on a database of `existing` users.
async fn signin_run(
    c: &Common,
    existing: u64,
    signins: usize,
    deadline: Instant,
) -> anyhow::Result<Report> {
    let mut planner = Planner::new(c.workspaces, existing / c.workspaces as u64);
    let warm = planner.sign_ins(c.warmup.max(c.workspaces));
    let measured = planner.sign_ins(signins);
    let (stack, t) = start(c, existing, &planner).await?;
    let result = async {
        let w = driver::sign_ins(t, warm, load(c), deadline).await;
        if w.errors.0 > 0 {
            bail!("warm-up failed: {}", w.errors.1.join("\n  "));
        }
        let wal = stack.database.wal_position().await;
        let m = Measure::begin(&stack, c.profiler())?;
        let mut run = driver::sign_ins(t, measured, load(c), deadline).await;
        let mut r = m.end(&stack, "signin", c, existing, run.completed, run.elapsed)?;
        r.wal_bytes = stack.database.wal_bytes_since(wal).await;
        r.latencies
            .push(("callback", std::mem::take(&mut run.callback)));
        r.latencies
            .push(("whole flow", std::mem::take(&mut run.total)));
        r.errors = run.errors;
        r.timed_out = run.timed_out;
        r.expected = signins;
        Ok(r)
    }
    .await;
    stop(stack, c).await?;
    result
}

async fn pages_run(
    c: &Common,
    sessions: usize,
    requests: usize,
    deadline: Instant,
) -> anyhow::Result<(Report, Report)> {
    let mut planner = Planner::new(c.workspaces, c.existing_users / c.workspaces as u64);
    let plan = planner.sign_ins(sessions.max(1));
    let (stack, t) = start(c, c.existing_users, &planner).await?;
    let result = async {
        let s = driver::sign_ins(t, plan, load(c), deadline).await;
        if s.errors.0 > 0 {
            bail!("creating sessions failed: {}", s.errors.1.join("\n  "));
        }
        let sessions = std::sync::Arc::new(s.sessions);
        // Warm the page path and the HTTP stack alike before either is measured.
        let warm = requests.min(2000);
        let _ = driver::requests(
            t,
            Requests::Dashboard(sessions.clone()),
            warm,
            c.concurrency,
            deadline,
        )
        .await;
        let _ = driver::requests(t, Requests::Hello, warm, c.concurrency, deadline).await;
        let pages = measure_requests(
            c,
            &stack,
            t,
            Requests::Dashboard(sessions),
            requests,
            deadline,
            "pages",
        )
        .await?;
        let hello =
            measure_requests(c, &stack, t, Requests::Hello, requests, deadline, "hello").await?;
        Ok((pages, hello))
    }
    .await;
    stop(stack, c).await?;
    result
}

/// The kinds of Admin → Users page measured, for `existing` users per workspace.
fn users_pages(per_workspace: u64) -> [(&'static str, String); 4] {
    let middle = per_workspace / 2;
    [
        ("users-first", "/admin/users".to_string()),
        ("users-search", "/admin/users?q=u1".to_string()),
        // Last names are the user numbers: exactly one match at any size.
        ("users-search-one", format!("/admin/users?q={}", middle + 1)),
        (
            "users-deep",
            format!("/admin/users?after=u{middle}%40bench0.test"),
        ),
    ]
}

/// One admin of workspace 0 (an existing user, signed in through Microsoft, then made an
/// admin with `ontrackio user set`), then each kind of users page, measured in turn.
async fn users_run(
    c: &Common,
    existing: u64,
    requests: usize,
    deadline: Instant,
) -> anyhow::Result<Vec<Report>> {
    let per_workspace = existing / c.workspaces as u64;
    let mut planner = Planner::new(c.workspaces, per_workspace);
    let admin = planner.returning(0, 1);
    let (stack, t) = start(c, existing, &planner).await?;
    let result = async {
        let s = driver::sign_ins(t, admin.clone(), Load::Concurrency(1), deadline).await;
        if s.errors.0 > 0 {
            bail!("signing the admin in failed: {}", s.errors.1.join("\n  "));
        }
        let (ws, j) = admin[0];
        let email = naming::upn(ws, j);
        stack.command(&["user", "set", &naming::slug(ws), &email, "--role", "admin"])?;
        let cookie = s.sessions[0].1.clone();
        // The running server hears of the role change (its change file on SQLite, NOTIFY on
        // PostgreSQL) a moment after the command returns: wait for it, bounded.
        let mut conn = http::Conn::new(t.server);
        let host = t.workspace_host(ws);
        let admitted = Instant::now() + Duration::from_secs(10);
        while flows::page(&mut conn, &host, "/admin/users", &cookie)
            .await
            .is_err()
        {
            if Instant::now() > admitted {
                bail!("{email} is not admitted to /admin/users after becoming an admin");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut reports = Vec::new();
        for (mode, path) in users_pages(per_workspace) {
            let what = || Requests::Pages {
                ws,
                cookie: cookie.clone(),
                paths: vec![path.clone()],
            };
            let warm = requests.min(500);
            let _ = driver::requests(t, what(), warm, c.concurrency, deadline).await;
            let mut r = measure_requests(c, &stack, t, what(), requests, deadline, mode).await?;
            r.existing_users = existing;
            reports.push(r);
        }
        Ok(reports)
    }
    .await;
    stop(stack, c).await?;
    result
}

async fn measure_requests(
    c: &Common,
    stack: &Stack,
    t: Target,
    what: Requests,
    requests: usize,
    deadline: Instant,
    mode: &'static str,
) -> anyhow::Result<Report> {
    let wal = stack.database.wal_position().await;
    let m = Measure::begin(stack, c.profiler())?;
    let mut run = driver::requests(t, what, requests, c.concurrency, deadline).await;
    let mut r = m.end(stack, mode, c, c.existing_users, run.completed, run.elapsed)?;
    r.wal_bytes = stack.database.wal_bytes_since(wal).await;
    r.latencies
        .push(("request", std::mem::take(&mut run.latency)));
    r.errors = run.errors;
    r.timed_out = run.timed_out;
    r.expected = requests;
    Ok(r)
}

/// Keeps the driver (and the emulator, which it starts) off the server's CPUs.
fn pin_self_away_from(server_cpus: &str) -> anyhow::Result<()> {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let server: Vec<usize> = server_cpus
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let others: Vec<String> = (0..n)
        .filter(|c| !server.contains(c))
        .map(|c| c.to_string())
        .collect();
    if others.is_empty() {
        bail!("--pin {server_cpus} leaves no CPU for the driver and the emulator");
    }
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &others.join(",")])
        .arg(std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .context("taskset")?;
    if !status.success() {
        bail!("taskset could not pin the driver");
    }
    Ok(())
}
