//! berth-shim: one small process per container.
//!
//! It is started by berthd, detaches (so it outlives the daemon), creates the
//! container through the kernel layer, then sits in a single-threaded poll
//! loop: it copies the container's stdout/stderr into a CRI-format log, reaps
//! exits (it is a child subreaper), answers the daemon on a filesystem unix
//! socket (mode 0600, peer credentials checked), and when the container has
//! exited it writes the exit record, removes the cgroup and leaves.
//!
//! No async runtime and no threads: the shim runs hundreds of times per node.
#![deny(unsafe_code)]

mod container;
mod event_loop;
mod exec;
mod logger;
mod pin;
mod start;

pub use exec::exec;
pub use pin::pin;
pub use start::start;

/// The shim protocol this shim speaks: this build's, or an older one named
/// by `BERTH_SHIM_PROTOCOL`, answered as a shim of that protocol did. Only
/// the upgrade tests set it, to have the shims a previous berth left
/// behind without building that berth.
pub(crate) fn protocol() -> u32 {
    std::env::var("BERTH_SHIM_PROTOCOL")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|p| (berth_proto::shim::MIN_PROTOCOL..=berth_proto::shim::PROTOCOL).contains(p))
        .unwrap_or(berth_proto::shim::PROTOCOL)
}
