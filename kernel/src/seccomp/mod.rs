//! Seccomp: an OCI `linux.seccomp` profile compiled to classic BPF by berth
//! itself (no libseccomp), and installed just before `execve`.
//!
//! The program:
//! ```text
//!   arch != native (i386 via int 0x80) or an x32 call  → the foreign action
//!   nr: a balanced tree of `jge` over the profile's syscalls, so a call
//!       costs ~log2(n) compares, not a walk of the whole list
//!       leaf: `jeq nr` → the rule's action, or a jump to the syscall's
//!             argument block (rules in profile order, first match wins)
//!   otherwise                                           → the default action
//! ```
//! Arguments are compared as unsigned 64-bit values (two 32-bit words), as
//! libseccomp does. Names the kernel doesn't know here are skipped, as runc
//! does: profiles list calls of every architecture.
//!
//! Only x86_64 has a syscall table; a profile on another architecture is
//! refused with a clear error rather than installed wrong.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod x86_64;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: {0}")]
    Unsupported(String),
    #[error("seccomp: {0}")]
    Invalid(String),
    #[error("install seccomp filter: {0}")]
    Install(#[source] std::io::Error),
}

/// A compiled filter, ready for [`install`].
#[derive(Debug, Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl Filter {
    /// Instructions in the program.
    pub fn len(&self) -> usize {
        self.prog.len()
    }
    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }
}

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xc000_003e;
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;
const AND_K: u16 = 0x54;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// The number of a system call on this architecture.
pub fn syscall_number(name: &str) -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::SYSCALLS.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| x86_64::SYSCALLS[i].1)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = name;
        None
    }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, SeccompError> {
    let data = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Unsupported(
                "SCMP_ACT_NOTIFY (a user-space agent) is not supported".into(),
            ))
        }
    })
}

/// One rule of a syscall: its action when every condition holds.
#[derive(Debug, Clone)]
struct Rule {
    ret: u32,
    args: Vec<LinuxSeccompArg>,
}

/// Compiles a profile for this architecture.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = profile;
        return Err(SeccompError::Unsupported(
            "seccomp profiles are supported on x86_64 only".into(),
        ));
    }
    #[cfg(target_arch = "x86_64")]
    compile_native(profile)
}

#[cfg(target_arch = "x86_64")]
fn compile_native(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    // i386 and x32 calls have other numbers: never judge them by this table.
    let foreign = if matches!(default, RET_ALLOW | RET_LOG) {
        RET_ERRNO | libc::ENOSYS as u32
    } else {
        default
    };
    let mut flags: libc::c_ulong = 0;
    for f in profile.flags().clone().unwrap_or_default() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // One thread calls execve right after: nothing to synchronize.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            // Only meaningful with a user-space notifier, which is refused.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }

    let mut rules: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for s in profile.syscalls().clone().unwrap_or_default() {
        let ret = action(s.action(), s.errno_ret())?;
        let args = s.args().clone().unwrap_or_default();
        for a in &args {
            if a.index() > 5 {
                return Err(SeccompError::Invalid(format!(
                    "argument index {} of {:?} is out of range (0..=5)",
                    a.index(),
                    s.names()
                )));
            }
        }
        for name in s.names() {
            if let Some(nr) = syscall_number(name) {
                rules.entry(nr).or_default().push(Rule { ret, args: args.clone() });
            }
        }
    }

    let mut a = Asm::default();
    a.stmt(LD_W_ABS, OFF_ARCH);
    a.jump(JEQ_K, AUDIT_ARCH_NATIVE, Target::Skip(1), Target::Next);
    a.stmt(RET_K, foreign);
    a.stmt(LD_W_ABS, OFF_NR);
    a.jump(JGE_K, X32_SYSCALL_BIT, Target::Next, Target::Skip(1));
    a.stmt(RET_K, foreign);
    let entries: Vec<(u32, &Vec<Rule>)> = rules.iter().map(|(nr, r)| (*nr, r)).collect();
    let mut blocks = Vec::new();
    tree(&mut a, &entries, default, &mut blocks);
    for (label, rules) in blocks {
        a.label(label);
        for r in rules {
            let next = a.new_label();
            for c in &r.args {
                condition(&mut a, c, next)?;
            }
            a.stmt(RET_K, r.ret);
            a.label(next);
        }
        a.stmt(RET_K, default);
    }
    Ok(Filter { prog: a.assemble()?, flags })
}

/// Dispatch on the syscall number (in A) over sorted entries.
fn tree<'a>(
    a: &mut Asm,
    entries: &[(u32, &'a Vec<Rule>)],
    default: u32,
    blocks: &mut Vec<(usize, &'a Vec<Rule>)>,
) {
    if entries.len() <= 4 {
        for (nr, rules) in entries {
            a.jump(JEQ_K, *nr, Target::Next, Target::Skip(1));
            match rules.first() {
                // An unconditional first rule decides alone.
                Some(r) if r.args.is_empty() => a.stmt(RET_K, r.ret),
                _ => {
                    let l = a.new_label();
                    blocks.push((l, rules));
                    a.ja(l);
                }
            }
        }
        a.stmt(RET_K, default);
        return;
    }
    let mid = entries.len() / 2;
    let right = a.new_label();
    a.jump(JGE_K, entries[mid].0, Target::Next, Target::Skip(1));
    a.ja(right);
    tree(a, &entries[..mid], default, blocks);
    a.label(right);
    tree(a, &entries[mid..], default, blocks);
}

/// Falls through when the argument condition holds, jumps to `fail` otherwise.
fn condition(a: &mut Asm, c: &LinuxSeccompArg, fail: usize) -> Result<(), SeccompError> {
    let lo_off = OFF_ARGS + 8 * c.index() as u32;
    let hi_off = lo_off + 4;
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let (vhi, vlo) = split(c.value());
    let pass = a.new_label();
    let (f, p) = (Target::Label(fail), Target::Label(pass));
    match c.op() {
        LinuxSeccompOperator::ScmpCmpEq => {
            a.stmt(LD_W_ABS, hi_off);
            a.jump(JEQ_K, vhi, Target::Next, f);
            a.stmt(LD_W_ABS, lo_off);
            a.jump(JEQ_K, vlo, Target::Next, f);
        }
        LinuxSeccompOperator::ScmpCmpNe => {
            a.stmt(LD_W_ABS, hi_off);
            a.jump(JEQ_K, vhi, Target::Next, p);
            a.stmt(LD_W_ABS, lo_off);
            a.jump(JEQ_K, vlo, f, Target::Next);
        }
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            // OCI: `value` is the mask, `valueTwo` what the masked argument must equal.
            let (dhi, dlo) = split(c.value_two().unwrap_or(0));
            a.stmt(LD_W_ABS, hi_off);
            a.stmt(AND_K, vhi);
            a.jump(JEQ_K, dhi, Target::Next, f);
            a.stmt(LD_W_ABS, lo_off);
            a.stmt(AND_K, vlo);
            a.jump(JEQ_K, dlo, Target::Next, f);
        }
        op @ (LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe) => {
            a.stmt(LD_W_ABS, hi_off);
            a.jump(JGT_K, vhi, p, Target::Next);
            a.jump(JEQ_K, vhi, Target::Next, f);
            a.stmt(LD_W_ABS, lo_off);
            a.jump(if op == LinuxSeccompOperator::ScmpCmpGt { JGT_K } else { JGE_K }, vlo, p, f);
        }
        op @ (LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe) => {
            a.stmt(LD_W_ABS, hi_off);
            a.jump(JGE_K, vhi, Target::Next, p);
            a.jump(JEQ_K, vhi, Target::Next, f);
            a.stmt(LD_W_ABS, lo_off);
            // lo < v ⇔ !(lo >= v); lo <= v ⇔ !(lo > v)
            a.jump(if op == LinuxSeccompOperator::ScmpCmpLt { JGE_K } else { JGT_K }, vlo, f, p);
        }
    }
    a.label(pass);
    Ok(())
}

/// Installs the filter on the calling thread. Needs no_new_privs or
/// CAP_SYS_ADMIN; everything after it runs filtered.
pub fn install(f: &Filter) -> Result<(), SeccompError> {
    let prog = libc::sock_fprog {
        len: f.prog.len() as u16,
        filter: f.prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `f.prog`, which outlives the call; the kernel
    // copies the program and keeps no reference to our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            f.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Install(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A jump target while assembling.
#[derive(Debug, Clone, Copy)]
enum Target {
    Next,
    Skip(u8),
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
enum Insn {
    Stmt(u16, u32),
    Jump(u16, u32, Target, Target),
    Ja(usize),
    Label(usize),
}

/// A tiny assembler with forward labels.
#[derive(Default)]
struct Asm {
    code: Vec<Insn>,
    labels: usize,
}

impl Asm {
    fn new_label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn stmt(&mut self, code: u16, k: u32) {
        self.code.push(Insn::Stmt(code, k));
    }
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.code.push(Insn::Jump(code, k, jt, jf));
    }
    fn ja(&mut self, l: usize) {
        self.code.push(Insn::Ja(l));
    }
    fn label(&mut self, l: usize) {
        self.code.push(Insn::Label(l));
    }

    fn assemble(&self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let mut at = vec![usize::MAX; self.labels];
        let mut pos = 0;
        for i in &self.code {
            match i {
                Insn::Label(l) => at[*l] = pos,
                _ => pos += 1,
            }
        }
        if pos > libc::BPF_MAXINSNS as usize {
            return Err(SeccompError::Invalid(format!(
                "the profile needs {pos} BPF instructions, more than the kernel's {}",
                libc::BPF_MAXINSNS
            )));
        }
        let mut out = Vec::with_capacity(pos);
        for i in &self.code {
            let here = out.len();
            let rel = |t: Target| -> Result<u8, SeccompError> {
                let off = match t {
                    Target::Next => 0,
                    Target::Skip(n) => n as usize,
                    Target::Label(l) => at[l]
                        .checked_sub(here + 1)
                        .ok_or_else(|| SeccompError::Invalid("backward jump".into()))?,
                };
                u8::try_from(off).map_err(|_| {
                    SeccompError::Invalid("a syscall's argument rules are too long".into())
                })
            };
            match *i {
                Insn::Label(_) => {}
                Insn::Stmt(code, k) => out.push(libc::sock_filter { code, jt: 0, jf: 0, k }),
                Insn::Jump(code, k, jt, jf) => {
                    out.push(libc::sock_filter { code, jt: rel(jt)?, jf: rel(jf)?, k })
                }
                Insn::Ja(l) => out.push(libc::sock_filter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: (at[l] - (here + 1)) as u32,
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
