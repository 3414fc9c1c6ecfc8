//! Isolation, checked from inside the container.

use berth_e2e::Daemon;

/// Docker's default capability set as a CapEff mask.
const DEFAULT_CAPS: &str = "00000000a80425fb";

#[test]
fn pid_one_hostname_and_mounts_are_the_containers_own() {
    let d = Daemon::start();
    let r = d.sh(&["-h", "inside"], "echo pid1=$(cat /proc/1/cmdline | tr '\\0' ' '); hostname; cat /etc/hostname; cat /proc/self/mountinfo").ok();
    assert!(r.stdout.contains("pid1=sh -c echo pid1"), "{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[1], "inside");
    assert_eq!(lines[2], "inside");
    // No host mount is visible: only the overlay root and the container's own mounts.
    for l in r.stdout.lines().skip(3) {
        let mountpoint = l.split(' ').nth(4).unwrap_or("");
        assert!(
            !mountpoint.starts_with("/work") && !mountpoint.starts_with("/tmp/berth-test"),
            "host mount visible: {l}"
        );
        if mountpoint == "/" {
            assert!(l.contains(" - overlay "), "root is not the overlay: {l}");
        }
    }
    // resolv.conf, hosts and hostname are files berth wrote for it, as Docker's are.
}

#[test]
fn capabilities_are_exactly_dockers_default_and_no_new_privs_is_set() {
    let d = Daemon::start();
    let r = d
        .sh(&[], "grep -E '^(CapEff|CapPrm|CapBnd|CapInh|CapAmb|NoNewPrivs)' /proc/self/status")
        .ok();
    let get = |k: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(get("CapEff:"), DEFAULT_CAPS);
    assert_eq!(get("CapPrm:"), DEFAULT_CAPS);
    assert_eq!(get("CapBnd:"), DEFAULT_CAPS);
    assert_eq!(get("CapInh:"), "0000000000000000");
    assert_eq!(get("CapAmb:"), "0000000000000000");
    // Docker's default; `--security-opt no-new-privileges` sets it.
    assert_eq!(get("NoNewPrivs:"), "0");
    let r = d
        .sh(&["--security-opt", "no-new-privileges"], "grep NoNewPrivs /proc/self/status | cut -f2")
        .ok();
    assert_eq!(r.stdout.trim(), "1");
    // Without CAP_SYS_ADMIN, mounting is refused.
    let m = d.sh(&[], "mount -t tmpfs none /mnt 2>&1; echo rc=$?");
    assert!(m.stdout.contains("rc=") && !m.stdout.contains("rc=0"), "{}", m.stdout);
}

#[test]
fn masked_and_read_only_paths() {
    let d = Daemon::start();
    let r = d
        .sh(&[], "cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo wrote || echo ro; echo x > /proc/sysrq-trigger 2>/dev/null && echo wrote || echo ro")
        .ok();
    let l: Vec<&str> = r.stdout.lines().map(str::trim).collect();
    assert_eq!(l, ["0", "0", "0", "ro", "ro"], "{}", r.stdout);
}

#[test]
fn dev_has_the_standard_nodes_only() {
    let d = Daemon::start();
    let r = d.sh(&[], "ls /dev | sort | tr '\\n' ' '; echo; echo hi > /dev/null && head -c 4 /dev/zero | wc -c; ls /dev/pts").ok();
    let first = r.stdout.lines().next().unwrap();
    for node in ["console", "sda", "vda", "kmsg", "mem"] {
        assert!(!first.split(' ').any(|n| n == node), "/dev/{node} leaked: {first}");
    }
    for node in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd",
        "stdin", "stdout", "stderr",
    ] {
        assert!(first.split(' ').any(|n| n == node), "/dev/{node} missing: {first}");
    }
    assert!(r.stdout.contains("\n4\n"));
}

#[test]
fn memory_limit_oom_kills_and_reports_it() {
    let d = Daemon::start();
    let r = d.berth(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 100m /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(r.code, 137, "{r:?}");
    assert!(!r.stdout.contains("survived"));
    let i = d.inspect("hog");
    assert_eq!(i["State"]["OOMKilled"], true);
    assert_eq!(i["State"]["ExitCode"], 137);
    // A container that stays under its limit is fine.
    d.berth(&["run", "--rm", "--memory", "64m", "busybox", "true"]).ok();
}

#[test]
fn pids_limit_is_enforced() {
    let d = Daemon::start();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "forky",
        "--pids-limit",
        "10",
        "busybox",
        "sh",
        "-c",
        "sh -c 'for i in $(seq 1 30); do sleep 30 & done' 2>/dev/null; exec sleep 30",
    ])
    .ok();
    let id = d.inspect("forky")["Id"].as_str().unwrap().to_owned();
    let dir = format!("/sys/fs/cgroup/pids/{}/{id}", d.cgroup_parent);
    assert_eq!(std::fs::read_to_string(format!("{dir}/pids.max")).unwrap().trim(), "10");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let procs = std::fs::read_to_string(format!("{dir}/cgroup.procs")).unwrap().lines().count();
    assert!((2..=10).contains(&procs), "{procs} processes under a pids limit of 10");
    d.berth(&["rm", "-f", "forky"]).ok();
}

#[test]
fn cpu_limits_reach_the_cgroup() {
    let d = Daemon::start();
    d.berth(&[
        "run",
        "-d",
        "--name",
        "c",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "busybox",
        "sleep",
        "30",
    ])
    .ok();
    let id = d.inspect("c")["Id"].as_str().unwrap().to_owned();
    let base = format!("/sys/fs/cgroup/cpu/{}/{id}", d.cgroup_parent);
    let quota = std::fs::read_to_string(format!("{base}/cpu.cfs_quota_us"))
        .or_else(|_| {
            std::fs::read_to_string(format!("/sys/fs/cgroup/{}/{id}/cpu.max", d.cgroup_parent))
        })
        .unwrap();
    assert!(quota.starts_with("50000"), "{quota}");
    let shares =
        std::fs::read_to_string(format!("{base}/cpu.shares")).unwrap_or_else(|_| "512".into());
    assert_eq!(shares.trim(), "512");
    d.berth(&["rm", "-f", "c"]).ok();
    assert!(!std::path::Path::new(&base).exists(), "cgroup left behind");
}

#[test]
fn user_groups_workdir_env_and_read_only_rootfs() {
    let d = Daemon::start();
    let r = d
        .sh(
            &["-u", "alice", "-w", "/tmp/work", "-e", "FOO=bar"],
            "id; pwd; echo $FOO $HOME; touch /tmp/work/f 2>&1 || true",
        )
        .ok();
    let l: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(l[0], "uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice)");
    assert_eq!(l[1], "/tmp/work");
    assert_eq!(l[2], "bar /home/alice");
    let r = d.sh(&["-u", "1234:5678"], "id -u; id -g").ok();
    assert_eq!(r.stdout, "1234\n5678\n");
    let r = d.sh(&["--ulimit", "nofile=256:512"], "ulimit -n; ulimit -Hn").ok();
    assert_eq!(r.stdout, "256\n512\n");
    let r = d.sh(&["--read-only"], "touch /x 2>&1; echo rc=$?");
    assert!(r.stdout.contains("Read-only file system"), "{r:?}");
    let r = d.berth(&["run", "--rm", "-u", "mallory", "busybox", "true"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("unable to find user mallory"), "{}", r.stderr);
}

#[test]
fn working_dir_cannot_point_outside_the_root() {
    // runc CVE-2024-21626: a cwd through a leaked host fd must never work.
    let d = Daemon::start();
    for fd in 3..10 {
        let r = d.berth(&[
            "run",
            "--rm",
            "-w",
            &format!("/proc/self/fd/{fd}"),
            "busybox",
            "sh",
            "-c",
            "pwd; ls .. | head -3",
        ]);
        if r.code == 0 {
            // Only acceptable if it resolved inside the container.
            assert!(
                !r.stdout.contains("work") && !r.stdout.contains("berth-test"),
                "fd {fd}: {}",
                r.stdout
            );
        }
    }
}

#[test]
fn no_descriptor_leaks_into_the_container() {
    // Every fd the shim and the init sequence open is close-on-exec: the
    // container's init holds exactly its stdio.
    // Checked from the host, so no shell pipeline's own fds get in the way.
    let d = Daemon::start();
    d.berth(&["run", "-d", "--name", "fds", "busybox", "sleep", "30"]).ok();
    let pid = d.inspect("fds")["State"]["Pid"].as_i64().unwrap();
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
    d.berth(&["rm", "-f", "fds"]).ok();
}

#[test]
fn the_shim_binary_is_not_reachable_from_inside() {
    // CVE-2019-5736: the container's /proc/1/exe is its own program, and no
    // host binary is mounted into the container.
    let d = Daemon::start();
    let r = d
        .sh(&[], "readlink /proc/1/exe; cat /proc/self/mountinfo | grep -c berth-shim || true")
        .ok();
    let l: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(l[0], "/bin/busybox");
    assert_eq!(l[1].trim(), "0");
}

#[test]
fn network_namespace_has_only_loopback() {
    let d = Daemon::start();
    let r = d
        .sh(
            &["--network", "none"],
            "ls /sys/class/net; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-ok",
        )
        .ok();
    assert_eq!(r.stdout, "lo\nlo-ok\n");
    // On the default bridge: its interface and loopback, never the node's devices in /sys.
    let r = d.sh(&[], "ls /sys/class/net").ok();
    assert_eq!(r.stdout, "eth0\nlo\n");
}

#[test]
fn seccomp_default_profile_and_security_options() {
    let d = Daemon::start();
    // Docker's behaviour: the default profile unless told otherwise.
    let r = d
        .sh(&[], "grep '^Seccomp:' /proc/self/status | cut -f2; unshare -U true 2>&1; echo rc=$?")
        .ok();
    let l: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(l[0], "2", "{}", r.stdout);
    assert!(r.stdout.contains("not permitted") && !r.stdout.contains("rc=0"), "{}", r.stdout);
    let r = d
        .sh(
            &["--security-opt", "seccomp=unconfined"],
            "grep '^Seccomp:' /proc/self/status | cut -f2; unshare -U true; echo rc=$?",
        )
        .ok();
    assert_eq!(r.stdout, "0\nrc=0\n");
    // A profile file, read by the CLI.
    let profile = d.dir.join("deny-mkdir.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let r = d.sh(&["--security-opt", &opt], "mkdir /tmp/x 2>&1; echo rc=$?").ok();
    assert!(r.stdout.contains("Permission denied") && r.stdout.contains("rc=1"), "{}", r.stdout);
    let bad =
        d.berth(&["run", "--rm", "--security-opt", "seccomp=/nonexistent.json", "busybox", "true"]);
    assert_eq!(bad.code, 125, "{}", bad.stderr);
    // Capabilities and privileged: no filter when privileged.
    let r = d
        .sh(
            &[
                "--cap-drop",
                "ALL",
                "--cap-add",
                "NET_BIND_SERVICE",
                "--security-opt",
                "no-new-privileges=false",
            ],
            "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status | cut -f2 | tr '\\n' ' '",
        )
        .ok();
    assert_eq!(r.stdout.trim(), "0000000000000400 0");
    let r = d.sh(&["--privileged"], "grep '^Seccomp:' /proc/self/status | cut -f2").ok();
    assert_eq!(r.stdout.trim(), "0");
}
