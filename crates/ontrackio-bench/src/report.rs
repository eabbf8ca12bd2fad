//! Measuring a run (the server's CPU and peak RSS from `/proc`) and saying what happened:
//! a readable block, a one-line summary, and optionally a JSON line per measurement.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::Common;
use crate::driver::percentile;
use crate::procstat;
use crate::profile;
use crate::stack::Stack;

/// CPU counters at the start of a measurement.
pub struct Measure {
    server_ticks: (u64, u64),
    switches: u64,
    database_ticks: u64,
    profile: Option<profile::Running>,
}

impl Measure {
    pub fn begin(stack: &Stack, profiler: Option<profile::Profiler>) -> anyhow::Result<Self> {
        let profile = match &profiler {
            Some(p) => Some(profile::begin(p, stack.server_pid)?),
            None => None,
        };
        Ok(Self {
            server_ticks: procstat::cpu_ticks(stack.server_pid)?,
            switches: procstat::context_switches(stack.server_pid),
            database_ticks: database_ticks(stack),
            profile,
        })
    }

    pub fn end(
        self,
        stack: &Stack,
        mode: &'static str,
        c: &Common,
        existing_users: u64,
        completed: usize,
        elapsed: Duration,
    ) -> anyhow::Result<Report> {
        let tck = procstat::clk_tck() as f64;
        let (user, system) = procstat::cpu_ticks(stack.server_pid)?;
        let (user, system) = (user - self.server_ticks.0, system - self.server_ticks.1);
        let server = user + system;
        let switches = procstat::context_switches(stack.server_pid).saturating_sub(self.switches);
        let database = database_ticks(stack).saturating_sub(self.database_ticks);
        let instructions = match self.profile {
            Some(p) => p.end()?,
            None => None,
        };
        Ok(Report {
            mode,
            backend: stack.database.backend(),
            existing_users,
            workspaces: c.workspaces,
            load: match c.rate {
                Some(r) => format!("rate {r}/s"),
                None => format!("concurrency {}", c.concurrency),
            },
            completed,
            expected: 0,
            elapsed,
            server_cpu: Duration::from_secs_f64(server as f64 / tck),
            server_system: Duration::from_secs_f64(system as f64 / tck),
            context_switches: switches,
            database_cpu: (stack.database.backend() == "postgres")
                .then(|| Duration::from_secs_f64(database as f64 / tck)),
            peak_rss_kb: procstat::status_kb(stack.server_pid, "VmHWM")?,
            latencies: Vec::new(),
            errors: (0, Vec::new()),
            timed_out: false,
            instructions,
            wal_bytes: None,
        })
    }
}

fn database_ticks(stack: &Stack) -> u64 {
    if stack.database.backend() == "postgres" {
        procstat::cpu_ticks_of_command("postgres")
    } else {
        0
    }
}

pub struct Report {
    pub mode: &'static str,
    pub backend: &'static str,
    pub existing_users: u64,
    pub workspaces: usize,
    pub load: String,
    pub completed: usize,
    pub expected: usize,
    pub elapsed: Duration,
    pub server_cpu: Duration,
    /// The kernel's part of `server_cpu` (sockets, wake-ups, file I/O).
    pub server_system: Duration,
    /// Thread sleeps and wake-ups in the server during the measurement.
    pub context_switches: u64,
    /// PostgreSQL's own processes (not the product's CPU; shown beside it).
    pub database_cpu: Option<Duration>,
    pub peak_rss_kb: u64,
    pub latencies: Vec<(&'static str, Vec<Duration>)>,
    pub errors: (usize, Vec<String>),
    pub timed_out: bool,
    /// Under callgrind: instructions the server executed in the measured phase.
    pub instructions: Option<u64>,
    /// PostgreSQL: WAL the cluster wrote during the measurement.
    pub wal_bytes: Option<i64>,
}

impl Report {
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn cpu_us_per_op(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.completed.max(1) as f64
    }

    /// Prints the report, appends the JSON line; true when the run failed.
    pub fn finish(&self, json: &Option<PathBuf>, machine: &str) -> anyhow::Result<bool> {
        let unit = if self.mode == "signin" {
            "sign-in"
        } else {
            "request"
        };
        println!();
        println!(
            "== {} on {} · {} existing users in {} workspaces · {}",
            self.mode, self.backend, self.existing_users, self.workspaces, self.load
        );
        println!(
            "   completed {} of {} in {:.2} s: {:.0} {unit}s/s",
            self.completed,
            self.expected,
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        println!(
            "   server CPU {:.3} s = {:.0} µs per {unit} ({:.0} µs of it in the kernel); peak RSS {:.1} MB",
            self.server_cpu.as_secs_f64(),
            self.cpu_us_per_op(),
            self.server_system.as_secs_f64() * 1e6 / self.completed.max(1) as f64,
            self.peak_rss_kb as f64 / 1024.0
        );
        println!(
            "   {:.1} server context switches per {unit}",
            self.context_switches as f64 / self.completed.max(1) as f64
        );
        if let Some(w) = self.wal_bytes {
            println!(
                "   PostgreSQL WAL {:.1} MB = {:.0} bytes per {unit}",
                w as f64 / 1e6,
                w as f64 / self.completed.max(1) as f64
            );
        }
        if let Some(ir) = self.instructions {
            println!(
                "   callgrind: {ir} instructions = {:.0} per {unit} (CPU and latency figures are under valgrind)",
                ir as f64 / self.completed.max(1) as f64
            );
        }
        if let Some(db) = self.database_cpu {
            println!(
                "   PostgreSQL server CPU {:.3} s = {:.0} µs per {unit} (not the product's; for sizing the database)",
                db.as_secs_f64(),
                db.as_secs_f64() * 1e6 / self.completed.max(1) as f64
            );
        }
        let mut json_lat = serde_json::Map::new();
        for (name, samples) in &self.latencies {
            let mut s = samples.clone();
            let (p50, p90, p99) = (
                percentile(&mut s, 50.0),
                percentile(&mut s, 90.0),
                percentile(&mut s, 99.0),
            );
            println!(
                "   {name:<10} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms",
                ms(p50),
                ms(p90),
                ms(p99)
            );
            json_lat.insert(
                name.replace(' ', "_"),
                serde_json::json!({"p50_ms": ms(p50), "p90_ms": ms(p90), "p99_ms": ms(p99)}),
            );
        }
        let failed = self.errors.0 > 0 || self.timed_out || self.completed < self.expected;
        println!(
            "   errors {}{}",
            self.errors.0,
            if self.timed_out {
                " (stopped at --max-seconds)"
            } else {
                ""
            }
        );
        for e in &self.errors.1 {
            println!("     {e}");
        }
        println!(
            "RESULT mode={} db={} users={} {} ok={} errors={} rate={:.0}/s cpu_us={:.0} rss_mb={:.1}",
            self.mode,
            self.backend,
            self.existing_users,
            self.load.replace(' ', "="),
            self.completed,
            self.errors.0,
            self.rate(),
            self.cpu_us_per_op(),
            self.peak_rss_kb as f64 / 1024.0
        );
        if let Some(path) = json {
            let line = serde_json::json!({
                "mode": self.mode,
                "backend": self.backend,
                "existing_users": self.existing_users,
                "workspaces": self.workspaces,
                "load": self.load,
                "completed": self.completed,
                "expected": self.expected,
                "seconds": self.elapsed.as_secs_f64(),
                "per_second": self.rate(),
                "server_cpu_us_per_op": self.cpu_us_per_op(),
                "server_system_us_per_op": self.server_system.as_secs_f64() * 1e6 / self.completed.max(1) as f64,
                "database_cpu_us_per_op": self.database_cpu.map(|d| d.as_secs_f64() * 1e6 / self.completed.max(1) as f64),
                "peak_rss_mb": self.peak_rss_kb as f64 / 1024.0,
                "context_switches_per_op": self.context_switches as f64 / self.completed.max(1) as f64,
                "latency": json_lat,
                "errors": self.errors.0,
                "wal_bytes_per_op": self.wal_bytes.map(|w| w as f64 / self.completed.max(1) as f64),
                "instructions_per_op": self.instructions.map(|i| i as f64 / self.completed.max(1) as f64),
                "machine": machine,
            });
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(f, "{line}")?;
        }
        Ok(failed)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn ratio(what: &str, a: f64, b: f64) {
    println!("{what}: {:.2}", a / b.max(1e-9));
}

/// How the cost per sign-in grows with the database.
pub fn sweep(costs: &[(u64, f64)]) {
    let Some(&(_, base)) = costs.first() else {
        return;
    };
    println!();
    println!("existing users | server CPU µs per sign-in | × the smallest");
    for (size, cost) in costs {
        println!("{size:>14} | {cost:>25.0} | {:.2}", cost / base.max(1e-9));
    }
}

/// One line about the machine the figures come from.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    format!("machine: {cpu}, {cores} CPUs, load average {load} at start")
}

/// Admin → Users: the server's CPU per page of each kind at each size, and the ratio to the
/// smallest size (the target: at most 2 × at 1,000,000 users what it is at 1,000).
pub fn users(costs: &[(&'static str, u64, f64)]) {
    let Some(&(_, smallest, _)) = costs.first() else {
        return;
    };
    println!();
    println!("page             | existing users | server CPU µs per page | × at {smallest}");
    for &(mode, size, cost) in costs {
        let base = costs
            .iter()
            .find(|(m, s, _)| *m == mode && *s == smallest)
            .map(|c| c.2)
            .unwrap_or(cost);
        println!(
            "{mode:<16} | {size:>14} | {cost:>22.0} | {:.2}",
            cost / base.max(1e-9)
        );
    }
}
