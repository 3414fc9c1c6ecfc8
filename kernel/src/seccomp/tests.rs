use super::*;
use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscallBuilder};

/// Runs a compiled program the way the kernel would, on one call.
fn run(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let word =
        |off: u32| u32::from_ne_bytes(data[off as usize..off as usize + 4].try_into().unwrap());
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = f.prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => acc = word(i.k),
            AND_K => acc &= i.k,
            RET_K => return i.k,
            JA => pc += i.k as usize,
            JEQ_K | JGT_K | JGE_K => {
                let t = match i.code {
                    JEQ_K => acc == i.k,
                    JGT_K => acc > i.k,
                    _ => acc >= i.k,
                };
                pc += if t { i.jt } else { i.jf } as usize;
            }
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

fn nr(name: &str) -> u32 {
    syscall_number(name).unwrap()
}

fn syscall(
    names: &[&str],
    act: LinuxSeccompAction,
    args: Vec<LinuxSeccompArg>,
) -> oci_spec::runtime::LinuxSyscall {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .action(act)
        .args(args)
        .build()
        .unwrap()
}

fn arg(index: usize, op: LinuxSeccompOperator, value: u64, two: Option<u64>) -> LinuxSeccompArg {
    let mut b = LinuxSeccompArgBuilder::default();
    b = b.index(index).value(value).op(op);
    if let Some(t) = two {
        b = b.value_two(t);
    }
    b.build().unwrap()
}

const EPERM: u32 = RET_ERRNO | 1;
const N: u32 = AUDIT_ARCH_NATIVE;

#[test]
fn names_resolve() {
    assert_eq!(syscall_number("read"), Some(0));
    assert_eq!(syscall_number("execve"), Some(59));
    assert_eq!(syscall_number("clone3"), Some(435));
    assert_eq!(syscall_number("no_such_call"), None);
}

#[test]
fn allow_list_with_default_errno() {
    let names = [
        "read",
        "write",
        "exit_group",
        "futex",
        "openat",
        "close",
        "mmap",
        "brk",
        "execve",
        "rt_sigreturn",
        "getpid",
        "statx",
    ];
    let p = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(1u32)
        .syscalls(vec![
            syscall(&names, LinuxSeccompAction::ScmpActAllow, vec![]),
            syscall(&["no_such_call"], LinuxSeccompAction::ScmpActAllow, vec![]),
        ])
        .build()
        .unwrap();
    let f = compile(&p).unwrap();
    for n in names {
        assert_eq!(run(&f, N, nr(n), [0; 6]), RET_ALLOW, "{n}");
    }
    for n in ["mount", "unshare", "ptrace", "kexec_load"] {
        assert_eq!(run(&f, N, nr(n), [0; 6]), EPERM, "{n}");
    }
    for x in 0..500 {
        let want = if names.iter().any(|n| nr(n) == x) { RET_ALLOW } else { EPERM };
        assert_eq!(run(&f, N, x, [0; 6]), want, "nr {x}");
    }
    // i386 (int 0x80) and x32 calls never pass on the x86_64 table.
    assert_eq!(run(&f, 0x4000_0003, 0, [0; 6]), EPERM);
    assert_eq!(run(&f, N, X32_SYSCALL_BIT | nr("read"), [0; 6]), EPERM);
}

#[test]
fn a_permissive_default_still_refuses_foreign_calls() {
    let p = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .syscalls(vec![syscall(&["mount"], LinuxSeccompAction::ScmpActKillProcess, vec![])])
        .build()
        .unwrap();
    let f = compile(&p).unwrap();
    assert_eq!(run(&f, N, nr("read"), [0; 6]), RET_ALLOW);
    assert_eq!(run(&f, N, nr("mount"), [0; 6]), RET_KILL_PROCESS);
    assert_eq!(run(&f, 0x4000_0003, 21, [0; 6]), RET_ERRNO | libc::ENOSYS as u32);
    assert_eq!(run(&f, N, X32_SYSCALL_BIT | nr("mount"), [0; 6]), RET_ERRNO | libc::ENOSYS as u32);
}

#[test]
fn argument_operators_compare_64_bit_values() {
    use LinuxSeccompOperator::*;
    let big = 0x1_0000_0005u64;
    type Case = (LinuxSeccompOperator, u64, Option<u64>, Box<dyn Fn(u64) -> bool>);
    let cases: Vec<Case> = vec![
        (ScmpCmpEq, big, None, Box::new(move |x| x == big)),
        (ScmpCmpNe, big, None, Box::new(move |x| x != big)),
        (ScmpCmpGt, big, None, Box::new(move |x| x > big)),
        (ScmpCmpGe, big, None, Box::new(move |x| x >= big)),
        (ScmpCmpLt, big, None, Box::new(move |x| x < big)),
        (ScmpCmpLe, big, None, Box::new(move |x| x <= big)),
        (
            ScmpCmpMaskedEq,
            0xff00_0000_00f0,
            Some(0x1200_0000_0030),
            Box::new(|x| x & 0xff00_0000_00f0 == 0x1200_0000_0030),
        ),
    ];
    let probes = [
        0,
        4,
        5,
        6,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0004,
        big,
        0x1_0000_0006,
        0x2_0000_0000,
        0x1200_0000_0030,
        0x12ff_0000_0031,
        u64::MAX,
    ];
    for (op, v, two, want) in cases {
        let p = LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActErrno)
            .syscalls(vec![syscall(
                &["personality"],
                LinuxSeccompAction::ScmpActAllow,
                vec![arg(2, op, v, two)],
            )])
            .build()
            .unwrap();
        let f = compile(&p).unwrap();
        for x in probes {
            let got = run(&f, N, nr("personality"), [0, 0, x, 0, 0, 0]) == RET_ALLOW;
            assert_eq!(got, want(x), "{op:?} {v:#x}: {x:#x}");
        }
    }
}

#[test]
fn rules_of_a_call_match_in_order_and_conditions_are_anded() {
    use LinuxSeccompOperator::*;
    let p = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .syscalls(vec![
            syscall(
                &["socket"],
                LinuxSeccompAction::ScmpActAllow,
                vec![arg(0, ScmpCmpNe, 40, None), arg(1, ScmpCmpEq, 1, None)],
            ),
            LinuxSyscallBuilder::default()
                .names(vec!["socket".to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(97u32)
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    let f = compile(&p).unwrap();
    assert_eq!(run(&f, N, nr("socket"), [2, 1, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(run(&f, N, nr("socket"), [40, 1, 0, 0, 0, 0]), RET_ERRNO | 97);
    assert_eq!(run(&f, N, nr("socket"), [2, 2, 0, 0, 0, 0]), RET_ERRNO | 97);
}

#[test]
fn bad_profiles_are_refused() {
    let notify = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActNotify)
        .build()
        .unwrap();
    assert!(matches!(compile(&notify), Err(SeccompError::Unsupported(_))));
    let index = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .syscalls(vec![syscall(
            &["read"],
            LinuxSeccompAction::ScmpActErrno,
            vec![arg(6, LinuxSeccompOperator::ScmpCmpEq, 0, None)],
        )])
        .build()
        .unwrap();
    assert!(matches!(compile(&index), Err(SeccompError::Invalid(_))));
}

/// The kernel accepts the program and enforces it (in a child, so the test
/// process stays unfiltered).
#[test]
fn the_kernel_enforces_it() {
    let p = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .syscalls(vec![syscall(&["getppid"], LinuxSeccompAction::ScmpActErrno, vec![])])
        .build()
        .unwrap();
    let f = compile(&p).unwrap();
    // SAFETY: the child only makes raw syscalls (no allocation, no locks)
    // and leaves with _exit.
    match unsafe { libc::fork() } {
        0 => unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let prog = libc::sock_fprog {
                len: f.prog.len() as u16,
                filter: f.prog.as_ptr() as *mut libc::sock_filter,
            };
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            ) != 0
            {
                libc::_exit(10);
            }
            let r = libc::syscall(libc::SYS_getppid);
            let e = *libc::__errno_location();
            libc::_exit(if r == -1 && e == libc::EPERM && libc::getpid() > 0 { 0 } else { 11 });
        },
        pid => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child status {status:#x}"
            );
        }
    }
}
