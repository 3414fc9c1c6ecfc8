//! What /proc says of a process, for `docker top`: its real uid, parent,
//! start and CPU time (in clock ticks), terminal and command line.

use std::path::Path;

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    /// Since boot, in clock ticks.
    pub start_ticks: u64,
    /// User plus system time, in clock ticks.
    pub cpu_ticks: u64,
    /// The controlling terminal's device number (0: none).
    pub tty_nr: u64,
    /// The arguments; `[comm]` for a kernel thread or a zombie.
    pub command: String,
}

/// Clock ticks per second (the kernel's USER_HZ, 100 on Linux).
pub const TICKS: u64 = 100;

/// Reads one process; `None` once it is gone.
pub fn read(pid: i32) -> Option<ProcInfo> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    parse(pid, &stat, &status, &cmdline)
}

fn parse(pid: i32, stat: &str, status: &str, cmdline: &[u8]) -> Option<ProcInfo> {
    // The name is in parentheses and may hold anything, ')' too: the fields follow the last one.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = &stat[open + 1..close];
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state(0) ppid(1) pgrp session tty_nr(4) ... utime(11) stime(12) ... starttime(19).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcInfo {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        uid,
        start_ticks: num(19)?,
        cpu_ticks: num(11)? + num(12)?,
        tty_nr: num(4)?,
        command: if args.is_empty() { format!("[{comm}]") } else { args.join(" ") },
    })
}

/// CPU time the whole machine has spent, in nanoseconds (the first line
/// of /proc/stat: what `docker stats` sets a container's CPU time against).
pub fn system_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: u64 = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Some(ticks * (1_000_000_000 / TICKS))
}

/// Host memory, bytes (MemTotal).
pub fn memory_total() -> Option<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").ok()?;
    m.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// The system's boot time, Unix seconds.
pub fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_names_with_parentheses_and_spaces() {
        let stat = "42 (a) b) S 7 42 42 34816 42 4194560 100 0 0 0 25 5 0 0 20 0 1 0 1234 1000 10 18446744073709551615";
        let p = parse(42, stat, "Name:\tx\nUid:\t1000\t1000\t1000\t1000\n", b"sleep\x001000\x00")
            .unwrap();
        assert_eq!(
            (p.ppid, p.uid, p.cpu_ticks, p.start_ticks, p.tty_nr, p.command.as_str()),
            (7, 1000, 30, 1234, 34816, "sleep 1000")
        );
        let zombie = parse(43, stat, "Uid:\t0\t0\t0\t0\n", b"").unwrap();
        assert_eq!(zombie.command, "[a) b]");
    }

    #[test]
    fn reads_itself() {
        let me = read(std::process::id() as i32).unwrap();
        assert_eq!(me.uid, nix::unistd::getuid().as_raw());
        assert!(boot_time().is_some());
        assert!(system_cpu_ns().is_some_and(|n| n > 0) && memory_total().is_some_and(|m| m > 0));
    }
}
