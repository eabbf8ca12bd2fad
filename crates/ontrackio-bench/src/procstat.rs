//! What the kernel says a process has used: CPU from `/proc/<pid>/stat` (utime + stime,
//! all threads, in clock ticks) and peak RSS from `/proc/<pid>/status` (`VmHWM`).

use anyhow::Context;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we meet).
pub fn clk_tck() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// (utime, stime) of a process, in ticks: user space, and the kernel working for it.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    split_ticks_of(&stat).with_context(|| format!("cannot parse /proc/{pid}/stat"))
}

fn split_ticks_of(stat: &str) -> Option<(u64, u64)> {
    // The command name is in parentheses and may contain spaces: fields count after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 14 (utime) and 15 (stime) of the full line are 12 and 13 after `) `.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

fn ticks_of(stat: &str) -> Option<u64> {
    split_ticks_of(stat).map(|(u, s)| u + s)
}

/// A `kB` field of `/proc/<pid>/status`, e.g. `VmHWM` (peak RSS) or `VmRSS`.
pub fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Context switches of all the process's live threads (voluntary and not): each is a
/// thread going to sleep or being woken, which costs kernel time beyond the work itself.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// CPU ticks of every process with this command name (the PostgreSQL server's backends),
/// for reporting the database's share next to the product's.
pub fn cpu_ticks_of_command(comm: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|stat| {
            stat.split_once('(')
                .and_then(|(_, r)| r.rsplit_once(')'))
                .is_some_and(|(c, _)| c == comm)
        })
        .filter_map(|stat| ticks_of(&stat))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_utime_plus_stime_even_with_spaces_in_the_name() {
        let line = "1234 (tokio (worker) 1) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000 200";
        assert_eq!(ticks_of(line), Some(300));
        assert_eq!(split_ticks_of(line), Some((250, 50)));
    }

    #[test]
    fn our_own_process_is_readable() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_ok());
        assert!(status_kb(pid, "VmHWM").unwrap() > 0);
    }
}
