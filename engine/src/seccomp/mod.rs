//! Seccomp profiles as users write them — the JSON format of Docker,
//! containerd and Kubernetes' `Localhost` profiles (`defaultAction`,
//! `syscalls[]` with `names`, `action`, `errnoRet`, `args`, and
//! `includes`/`excludes` by capability, architecture and kernel) — resolved
//! for one container into the OCI `linux.seccomp` the shim compiles.
//!
//! [`default`] is berth's RuntimeDefault profile.

mod default;

use crate::error::{Error, Result};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscallBuilder,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use default::runtime_default;

/// A profile in the Docker/containerd JSON format.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: LinuxSeccompAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub listener_path: String,
    #[serde(default)]
    pub syscalls: Vec<Syscall>,
}

/// One rule: calls, action, argument conditions and when it applies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    #[serde(default)]
    pub names: Vec<String>,
    /// The older single-name form.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub action: LinuxSeccompAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Condition,
    #[serde(default)]
    pub excludes: Condition,
}

/// An argument comparison (`value` is the mask for SCMP_CMP_MASKED_EQ).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: usize,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: LinuxSeccompOperator,
}

/// When a rule applies: every capability (in the bounding set), one of the
/// architectures, a kernel at least this new.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// What a rule is matched against.
pub struct Target<'a> {
    /// Bounding capabilities, `CAP_*` names.
    pub caps: &'a [String],
    /// Go-style architecture name (`amd64`, `arm64`).
    pub arch: &'a str,
    pub kernel: (u32, u32),
}

impl Target<'_> {
    /// This node, for a process with `caps`.
    pub fn node(caps: &[String]) -> Target<'_> {
        Target { caps, arch: go_arch(), kernel: kernel_version() }
    }
}

/// berth's architecture as Go (and so Docker and seccomp profiles) names it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub(crate) fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_kernel(&release).unwrap_or((0, 0))
}

fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn normal_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

impl Syscall {
    fn applies(&self, t: &Target<'_>) -> Result<bool> {
        let has = |c: &String| t.caps.contains(&normal_cap(c));
        let inc = &self.includes;
        if !inc.caps.iter().all(has)
            || (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == t.arch))
        {
            return Ok(false);
        }
        if let Some(k) = &inc.min_kernel {
            let want = parse_kernel(k).ok_or_else(|| {
                Error::invalid_field("seccomp", format!("seccomp profile: bad minKernel {k:?}"))
            })?;
            if t.kernel < want {
                return Ok(false);
            }
        }
        let exc = &self.excludes;
        if exc.caps.iter().any(has) || exc.arches.iter().any(|a| a == t.arch) {
            return Ok(false);
        }
        if let Some(k) = &exc.min_kernel {
            let at = parse_kernel(k).ok_or_else(|| {
                Error::invalid_field("seccomp", format!("seccomp profile: bad minKernel {k:?}"))
            })?;
            if t.kernel >= at {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Profile {
    /// Parses a profile file's contents.
    pub fn parse(text: &str) -> Result<Self> {
        let p: Profile = serde_json::from_str(text)
            .map_err(|e| Error::invalid_field("seccomp", format!("seccomp profile: {e}")))?;
        if !p.listener_path.is_empty() {
            return Err(Error::invalid_field(
                "seccomp",
                "seccomp profile: a listener (SCMP_ACT_NOTIFY agent) is not supported",
            ));
        }
        Ok(p)
    }

    /// Reads a `Localhost` profile's text from the node.
    pub fn read(path: &Path) -> Result<String> {
        if !path.is_absolute() {
            return Err(Error::invalid_field(
                "seccomp",
                format!("seccomp profile path {} must be absolute", path.display()),
            ));
        }
        std::fs::read_to_string(path).map_err(|e| {
            Error::invalid_field("seccomp", format!("seccomp profile {}: {e}", path.display()))
        })
    }

    /// The OCI filter for one container.
    pub fn resolve(&self, t: &Target<'_>) -> Result<LinuxSeccomp> {
        let bad = |e: oci_spec::OciSpecError| {
            Error::invalid_field("seccomp", format!("seccomp profile: {e}"))
        };
        let mut syscalls = Vec::new();
        for s in &self.syscalls {
            if !s.applies(t)? {
                continue;
            }
            let names: Vec<String> = s
                .names
                .iter()
                .cloned()
                .chain(Some(s.name.clone()).filter(|n| !n.is_empty()))
                .collect();
            if names.is_empty() {
                continue;
            }
            let args = s
                .args
                .iter()
                .map(|a| {
                    LinuxSeccompArgBuilder::default()
                        .index(a.index)
                        .value(a.value)
                        .value_two(a.value_two)
                        .op(a.op)
                        .build()
                        .map_err(bad)
                })
                .collect::<Result<Vec<_>>>()?;
            let mut b = LinuxSyscallBuilder::default().names(names).action(s.action).args(args);
            if let Some(e) = s.errno_ret {
                b = b.errno_ret(e);
            }
            syscalls.push(b.build().map_err(bad)?);
        }
        let mut b =
            LinuxSeccompBuilder::default().default_action(self.default_action).syscalls(syscalls);
        if let Some(e) = self.default_errno_ret {
            b = b.default_errno_ret(e);
        }
        if !self.flags.is_empty() {
            b = b.flags(self.flags.clone());
        }
        let out = b.build().map_err(bad)?;
        // Whatever the shim would refuse is refused now, with the profile's name on it.
        berth_kernel::seccomp::compile(&out)
            .map_err(|e| Error::invalid_field("seccomp", e.to_string()))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(caps: &[&str]) -> Vec<String> {
        caps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn includes_and_excludes_pick_rules() {
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
                {"names":["read"],"action":"SCMP_ACT_ALLOW"},
                {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
                {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"excludes":{"caps":["CAP_SYS_ADMIN"]}},
                {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64"]}},
                {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}},
                {"name":"getpid","action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let names = |s: &LinuxSeccomp| {
            s.syscalls().clone().unwrap().iter().flat_map(|c| c.names().clone()).collect::<Vec<_>>()
        };
        let plain = t(&["CAP_CHOWN"]);
        let s = p.resolve(&Target { caps: &plain, arch: "amd64", kernel: (6, 1) }).unwrap();
        assert_eq!(names(&s), ["read", "clone3", "arch_prctl", "ptrace", "getpid"]);
        let admin = t(&["CAP_SYS_ADMIN"]);
        let s = p.resolve(&Target { caps: &admin, arch: "arm64", kernel: (4, 4) }).unwrap();
        assert_eq!(names(&s), ["read", "mount", "getpid"]);
    }

    #[test]
    fn bad_profiles_are_invalid_arguments() {
        for bad in [
            "not json",
            r#"{"defaultAction":"SCMP_ACT_SOMETIMES"}"#,
            r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        ] {
            let r = Profile::parse(bad).and_then(|p| p.resolve(&Target::node(&[])));
            assert!(matches!(r, Err(Error::InvalidArgument(_))), "{bad}: {r:?}");
        }
        assert!(matches!(
            Profile::read(Path::new("relative.json")),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Profile::read(Path::new("/nonexistent/profile.json")),
            Err(Error::InvalidArgument(_))
        ));
    }
}
