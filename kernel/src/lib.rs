//! berth's synchronous Linux layer.
//!
//! Everything here is plain blocking code over syscalls, with no async
//! runtime: the shim (single-threaded) calls it before and after forking the
//! container, and the engine calls it from blocking tasks. Nothing in this
//! crate forks on its own.
//!
//! Unsafe code is denied at the crate root and allowed only in the modules
//! that need a raw syscall, each block with a `// SAFETY:` note.

pub mod cgroup;
pub mod cp;
pub mod exec;
pub mod failpoint;
pub mod fs;
pub mod init;
pub mod layer;
mod mini_init;
pub mod mount;
pub mod mount_attr;
pub mod net;
pub mod pin;
pub mod pod_init;
pub mod procinfo;
pub mod pty;
pub mod seccomp;
pub mod secret_fs;
pub mod signal;
pub mod user;
