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
