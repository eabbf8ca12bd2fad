//! Where the server's time goes during the measured phase only: `perf record` attached to
//! the server, or the server run under `valgrind --tool=callgrind` with its counters zeroed
//! after the warm-up and dumped after the run — instruction counts are the same whatever
//! else the machine is doing, so they can be compared across runs and machines.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

#[derive(Clone, Debug)]
pub enum Profiler {
    Perf(PathBuf),
    Callgrind(PathBuf),
}

impl Profiler {
    /// The command prefix the server runs under (callgrind only).
    pub fn wrapper(&self) -> Option<Vec<String>> {
        match self {
            Self::Callgrind(out) => Some(vec![
                "valgrind".into(),
                "--tool=callgrind".into(),
                format!("--callgrind-out-file={}.%p", out.display()),
                "--dump-line=yes".into(),
            ]),
            Self::Perf(_) => None,
        }
    }
}

/// A profile being taken.
pub enum Running {
    Perf(Child),
    Callgrind { base: PathBuf, pid: u32 },
}

pub fn begin(p: &Profiler, pid: u32) -> anyhow::Result<Running> {
    match p {
        Profiler::Perf(out) => {
            let child = Command::new("perf")
                // A flat profile: call-graph unwinding would perturb what it measures.
                .args(["record", "-F", "2999", "-p"])
                .arg(pid.to_string())
                .arg("-o")
                .arg(out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start perf record")?;
            // perf needs a moment to attach before the measured work starts.
            std::thread::sleep(std::time::Duration::from_millis(500));
            Ok(Running::Perf(child))
        }
        Profiler::Callgrind(out) => {
            control(pid, "-z")?;
            Ok(Running::Callgrind {
                base: out.clone(),
                pid,
            })
        }
    }
}

impl Running {
    /// Stops the profile; for callgrind, the instructions executed since `begin`.
    pub fn end(self) -> anyhow::Result<Option<u64>> {
        match self {
            Self::Perf(mut child) => {
                Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status()?;
                child.wait()?;
                Ok(None)
            }
            Self::Callgrind { base, pid } => {
                control(pid, "-d")?;
                newest_dump_total(&base, pid).map(Some)
            }
        }
    }
}

fn control(pid: u32, flag: &str) -> anyhow::Result<()> {
    let ok = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .status()
        .context("callgrind_control")?
        .success();
    if !ok {
        bail!("callgrind_control {flag} {pid} failed");
    }
    Ok(())
}

/// The `summary:` (or `totals:`) line of the latest dump of this process.
fn newest_dump_total(base: &Path, pid: u32) -> anyhow::Result<u64> {
    let dir = base.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        "{}.{pid}",
        base.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("callgrind.out")
    );
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .context("no callgrind dump found")?;
    let text = std::fs::read_to_string(newest.path())?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no totals in {}", newest.path().display()))
}
