//! Isolation between networks, as dockerd's DOCKER-ISOLATION chains do
//! it: a container on one network reaches none on another (nor on the
//! default bridge) through the node's forwarding, except through a
//! published port (DNAT'd traffic passes, as dockerd's proxy lets it).
//!
//! Each bridge has a chain of its own in the filter table,
//! `BERTH-ISO-<id12>` (`BERTH-ISO-<name>` for the default bridge), jumped
//! to from FORWARD for what comes in on that bridge: back out on the same
//! bridge returns, out on another network's bridge (`br-+`) or the default
//! bridge is dropped. Made idempotently at create and at every start,
//! taken away with the network. Best effort: a node without iptables
//! gets a warning, and networks that reach each other.

use super::iptables;

/// The chain of a bridge (iptables allows 28 characters).
fn chain(bridge: &str) -> String {
    let name = bridge.strip_prefix("br-").unwrap_or(bridge);
    format!("BERTH-ISO-{}", &name[..name.len().min(18)])
}

/// Makes (or remakes) the bridge's isolation; `default_bridge` is berth's
/// default bridge, also kept apart.
pub(crate) fn isolate(bridge: &str, default_bridge: &str) {
    let c = chain(bridge);
    // A chain that exists is flushed and filled again: the same rules whatever was there.
    if !iptables(&["-N", &c]) && !iptables(&["-F", &c]) {
        tracing::warn!(%bridge, "iptables: the network's isolation could not be set up; it reaches the others");
        return;
    }
    let mut rules: Vec<Vec<&str>> = vec![vec!["-o", bridge, "-j", "RETURN"]];
    let untranslated = ["-m", "conntrack", "!", "--ctstate", "DNAT", "-j", "DROP"];
    for out in ["br-+", default_bridge] {
        if out != bridge {
            let mut r = vec!["-o", out];
            r.extend(untranslated);
            rules.push(r);
        }
    }
    for r in rules {
        let mut args = vec!["-A", c.as_str()];
        args.extend(r);
        iptables(&args);
    }
    let jump = ["FORWARD", "-i", bridge, "-j", c.as_str()];
    if !iptables(&[&["-C"], &jump[..]].concat()) {
        iptables(&[&["-I"], &jump[..]].concat());
    }
}

/// Takes the bridge's isolation away (nothing there: nothing to do).
pub(crate) fn release(bridge: &str) {
    let c = chain(bridge);
    let jump = ["FORWARD", "-i", bridge, "-j", c.as_str()];
    while iptables(&[&["-D"], &jump[..]].concat()) {}
    if iptables(&["-F", &c]) {
        iptables(&["-X", &c]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_names_fit_iptables() {
        assert_eq!(super::chain("br-0123456789ab"), "BERTH-ISO-0123456789ab");
        assert!(super::chain("averyveryverylongname").len() <= 28);
    }
}
