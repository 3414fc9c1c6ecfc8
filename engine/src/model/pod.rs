//! What a container may ask for beyond Docker's defaults: the pod it
//! belongs to, bind mounts, devices and its security context. The CLI
//! leaves these at their defaults; the CRI front fills them from
//! `ContainerConfig`.

use super::sandbox::NsMode;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// A container's pod and its name within it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodLink {
    pub sandbox_id: String,
    /// CRI metadata: the container's name in the pod, and the attempt.
    pub name: String,
    pub attempt: u32,
}

/// How mounts propagate between a bind mount and its host path (stored as
/// the OCI option it becomes; records of old berths hold the same words).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Propagation {
    /// Nothing crosses (CRI `PROPAGATION_PRIVATE`).
    #[default]
    #[serde(rename = "rprivate", alias = "", alias = "private")]
    Private,
    /// The host's new mounts appear in the container (`HOST_TO_CONTAINER`).
    #[serde(rename = "rslave", alias = "slave")]
    Slave,
    /// Both ways (`BIDIRECTIONAL`; needs a privileged container in Kubernetes).
    #[serde(rename = "rshared", alias = "shared")]
    Shared,
}

impl Propagation {
    /// The OCI mount option.
    pub fn option(self) -> &'static str {
        match self {
            Self::Private => "rprivate",
            Self::Slave => "rslave",
            Self::Shared => "rshared",
        }
    }
}

/// A host path bound into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
    pub readonly: bool,
    /// Read-only all the way down: mounts below the host path too
    /// (`mount_setattr` with `AT_RECURSIVE`). Needs `readonly` and private
    /// propagation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recursive_readonly: bool,
    #[serde(default)]
    pub propagation: Propagation,
    /// Extra flags: `noexec`, `nosuid`, `nodev` (CRI `mount_options`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// An image's filesystem mounted read-only into the container (CRI
/// `Mount.image`, Kubernetes' image volumes): from the same store as
/// rootfs images, never written, assembled at each start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVolume {
    /// The image as named; `image_id` is what it resolved to at create.
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    pub container_path: PathBuf,
    /// Only this part of the image (relative, no `..`); empty: all of it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
}

impl ImageVolume {
    pub(crate) fn check(&self) -> Result<()> {
        check_abs("image volume container path", &self.container_path)?;
        if self.image.is_empty() {
            return Err(Error::invalid(format!(
                "the image volume at {} names no image",
                self.container_path.display()
            )));
        }
        berth_kernel::fs::clean_components(&self.sub_path)
            .map_err(|e| Error::invalid(format!("image sub path: {e}")))?;
        Ok(())
    }
}

/// The flags a bind mount may add (what kubelet's `mount_options` carries).
pub const BIND_MOUNT_OPTIONS: [&str; 3] = ["noexec", "nosuid", "nodev"];

/// A host device made available in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMount {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
    /// cgroup access: a subset of `rwm`.
    pub permissions: String,
}

/// Seccomp profile (none for a privileged container, whatever this says).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    #[default]
    Unconfined,
    /// berth's default profile (`crate::seccomp::runtime_default`).
    RuntimeDefault,
    /// A profile file on the node, read when the container was created
    /// (later edits to the file do not change it).
    Localhost { path: PathBuf, profile: String },
}

impl Seccomp {
    /// Reads and checks a node's profile file.
    pub fn localhost(path: &Path) -> Result<Self> {
        Self::checked(path.to_owned(), crate::seccomp::Profile::read(path)?)
    }

    /// Checks a profile given as text (the CLI's `--security-opt seccomp=FILE`).
    pub fn inline(profile: &str) -> Result<Self> {
        Self::checked(PathBuf::new(), profile.to_owned())
    }

    fn checked(path: PathBuf, profile: String) -> Result<Self> {
        crate::seccomp::Profile::parse(&profile)?.resolve(&crate::seccomp::Target::node(&[]))?;
        Ok(Seccomp::Localhost { path, profile })
    }

    /// The profile to apply, if any.
    pub(crate) fn profile(&self) -> Result<Option<crate::seccomp::Profile>> {
        Ok(match self {
            Seccomp::Unconfined => None,
            Seccomp::RuntimeDefault => Some(crate::seccomp::runtime_default()),
            Seccomp::Localhost { profile, .. } => Some(crate::seccomp::Profile::parse(profile)?),
        })
    }
}

/// A container's PID namespace: its own, its pod's, the node's, or a
/// running container's (CRI's TARGET mode, with the target's id).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "PidNamespaceRecord", into = "PidNamespaceRecord")]
pub enum PidNamespace {
    #[default]
    Container,
    Pod,
    Node,
    Target(String),
}

/// How records spell a [`PidNamespace`]: a mode and, for TARGET, the id
/// beside it (the fields records had before the type).
#[derive(Serialize, Deserialize)]
struct PidNamespaceRecord {
    #[serde(default = "container_mode")]
    pid: NsMode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pid_target: String,
}

fn container_mode() -> NsMode {
    NsMode::Container
}

impl From<PidNamespaceRecord> for PidNamespace {
    fn from(r: PidNamespaceRecord) -> Self {
        match r.pid {
            NsMode::Container => Self::Container,
            NsMode::Pod => Self::Pod,
            NsMode::Node => Self::Node,
            NsMode::Target => Self::Target(r.pid_target),
        }
    }
}

impl From<PidNamespace> for PidNamespaceRecord {
    fn from(p: PidNamespace) -> Self {
        let (pid, pid_target) = match p {
            PidNamespace::Container => (NsMode::Container, String::new()),
            PidNamespace::Pod => (NsMode::Pod, String::new()),
            PidNamespace::Node => (NsMode::Node, String::new()),
            PidNamespace::Target(id) => (NsMode::Target, id),
        };
        Self { pid, pid_target }
    }
}

fn yes() -> bool {
    true
}

/// The container's security context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    #[serde(default)]
    pub privileged: bool,
    /// Capability names (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default = "yes")]
    pub no_new_privs: bool,
    /// `None`: berth's defaults (none when privileged).
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    /// Extra group ids for the process.
    #[serde(default)]
    pub supplemental_groups: Vec<u32>,
    /// Only the primary and the supplemental groups, not the image's
    /// /etc/group memberships (Kubernetes' `Strict` policy).
    #[serde(default)]
    pub groups_strict: bool,
    /// The PID namespace: the container's own, the pod's, the node's, or a target container's.
    #[serde(flatten)]
    pub pid: PidNamespace,
    #[serde(default)]
    pub seccomp: Seccomp,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            no_new_privs: true,
            masked_paths: None,
            readonly_paths: None,
            supplemental_groups: Vec::new(),
            groups_strict: false,
            pid: PidNamespace::Container,
            seccomp: Seccomp::Unconfined,
        }
    }
}

/// An absolute path with no `..` (a container path or a mount source).
pub(crate) fn check_abs(what: &str, p: &Path) -> Result<()> {
    if !p.is_absolute()
        || p.components().any(|c| c == Component::ParentDir)
        || p.as_os_str().as_encoded_bytes().contains(&0)
    {
        return Err(Error::invalid(format!(
            "{what} {} must be an absolute path without \"..\"",
            p.display()
        )));
    }
    Ok(())
}

/// The capability name as the kernel layer spells it (`CAP_X`), or `ALL`.
pub(crate) fn cap_name(c: &str) -> Result<String> {
    let up = c.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
    if full.parse::<caps::Capability>().is_err() {
        return Err(Error::invalid(format!("unknown capability {c:?}")));
    }
    Ok(full)
}

impl Security {
    pub(crate) fn check(&self) -> Result<()> {
        for c in self.cap_add.iter().chain(&self.cap_drop) {
            cap_name(c)?;
        }
        if self.pid == PidNamespace::Target(String::new()) {
            return Err(Error::invalid("PID namespace mode TARGET needs a target container id"));
        }
        Ok(())
    }
}

impl BindMount {
    pub(crate) fn check(&self) -> Result<()> {
        check_abs("mount host path", &self.host_path)?;
        check_abs("mount container path", &self.container_path)?;
        if self.recursive_readonly && !self.readonly {
            return Err(Error::invalid(format!(
                "the recursive read-only mount at {} must be read-only",
                self.container_path.display()
            )));
        }
        if self.recursive_readonly && self.propagation != Propagation::Private {
            return Err(Error::invalid(format!(
                "the recursive read-only mount at {} must have private propagation",
                self.container_path.display()
            )));
        }
        if let Some(o) = self.options.iter().find(|o| !BIND_MOUNT_OPTIONS.contains(&o.as_str())) {
            return Err(Error::invalid(format!(
                "unsupported mount option {o:?} for {}: berth takes {}",
                self.container_path.display(),
                BIND_MOUNT_OPTIONS.join(", ")
            )));
        }
        Ok(())
    }
}

impl DeviceMount {
    pub(crate) fn check(&self) -> Result<()> {
        check_abs("device host path", &self.host_path)?;
        check_abs("device container path", &self.container_path)?;
        if self.permissions.is_empty() || !self.permissions.chars().all(|c| "rwm".contains(c)) {
            return Err(Error::invalid(format!(
                "invalid device permissions {:?}: a subset of \"rwm\"",
                self.permissions
            )));
        }
        Ok(())
    }
}

impl DeviceMount {
    /// The host path must be a device node.
    pub(crate) fn check_host(&self) -> Result<()> {
        use std::os::unix::fs::FileTypeExt;
        let md = std::fs::metadata(&self.host_path)
            .map_err(|e| Error::invalid(format!("device {}: {e}", self.host_path.display())))?;
        if !(md.file_type().is_char_device() || md.file_type().is_block_device()) {
            return Err(Error::invalid(format!("{} is not a device", self.host_path.display())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_normalize() {
        assert_eq!(cap_name("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(cap_name("CAP_SYS_TIME").unwrap(), "CAP_SYS_TIME");
        assert_eq!(cap_name("all").unwrap(), "ALL");
        assert!(cap_name("NET_NOPE").is_err());
    }

    #[test]
    fn propagation_reads_old_records() {
        for (json, want) in [
            (r#""""#, Propagation::Private),
            (r#""rprivate""#, Propagation::Private),
            (r#""slave""#, Propagation::Slave),
            (r#""rshared""#, Propagation::Shared),
        ] {
            assert_eq!(serde_json::from_str::<Propagation>(json).unwrap(), want, "{json}");
        }
        assert!(serde_json::from_str::<Propagation>(r#""weird""#).is_err());
        assert_eq!(serde_json::to_string(&Propagation::Slave).unwrap(), r#""rslave""#);
    }

    #[test]
    fn paths_are_checked() {
        assert!(check_abs("p", Path::new("/a/b")).is_ok());
        for bad in ["a/b", "/a/../b", ""] {
            assert!(check_abs("p", Path::new(bad)).is_err(), "{bad}");
        }
        let m = BindMount {
            host_path: "/tmp".into(),
            container_path: "/x".into(),
            propagation: Propagation::Shared,
            ..Default::default()
        };
        assert!(m.check().is_ok());
        assert!(BindMount { recursive_readonly: true, readonly: true, ..m.clone() }
            .check()
            .is_err());
        let rro = BindMount {
            recursive_readonly: true,
            readonly: true,
            propagation: Propagation::Private,
            ..m
        };
        assert!(rro.check().is_ok());
        assert!(BindMount { readonly: false, ..rro }.check().is_err());
        let d = DeviceMount {
            host_path: "/dev/null".into(),
            container_path: "/dev/x".into(),
            permissions: "rwx".into(),
        };
        assert!(d.check().is_err());
    }
}
