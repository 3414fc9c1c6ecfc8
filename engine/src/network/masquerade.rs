//! Outbound NAT of a Docker network, as dockerd does it: one rule per
//! network, `POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE` in the
//! nat table, made with the network (at create and at every start-up) and
//! taken away with it. Not the bridge plugin's `ipMasq`, a chain per
//! container made and deleted at each start and exit (about ten iptables
//! runs each way). Best effort, as the isolation: a node without iptables
//! gets a warning and no outbound NAT.

use super::iptables;

/// The rule's words after the chain.
fn rule<'a>(bridge: &'a str, subnet: &'a str) -> [&'a str; 7] {
    ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"]
}

/// Makes the network's rule (`on`) or takes any away (not `on`: a network
/// without outbound NAT, or the setting turned off since).
pub(crate) fn set(bridge: &str, subnet: &str, on: bool) {
    let others: Vec<String> =
        rules_of(bridge).into_iter().filter(|r| !on || !is(r, bridge, subnet)).collect();
    for r in others {
        delete(&r);
    }
    if on
        && !iptables(&[&["-t", "nat", "-C", "POSTROUTING"][..], &rule(bridge, subnet)].concat())
        && !iptables(&[&["-t", "nat", "-A", "POSTROUTING"][..], &rule(bridge, subnet)].concat())
    {
        tracing::warn!(%bridge, %subnet, "iptables: the network's outbound NAT could not be set up");
    }
}

/// Takes the network's rules away (none there: nothing to do).
pub(crate) fn release(bridge: &str) {
    for r in rules_of(bridge) {
        delete(&r);
    }
}

/// Whether `r` (as `iptables -S` prints it, after `-A POSTROUTING`) is the rule for this range.
fn is(r: &str, bridge: &str, subnet: &str) -> bool {
    r.split_whitespace().eq(rule(bridge, subnet).iter().copied())
}

/// The network's masquerade rules in POSTROUTING (what follows `-A POSTROUTING `).
fn rules_of(bridge: &str) -> Vec<String> {
    let out = std::process::Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", "POSTROUTING"])
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    let tail = format!("! -o {bridge} -j MASQUERADE");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("-A POSTROUTING "))
        .filter(|r| r.starts_with("-s ") && r.ends_with(&tail))
        .map(str::to_owned)
        .collect()
}

fn delete(r: &str) {
    let words: Vec<&str> = r.split_whitespace().collect();
    iptables(&[&["-t", "nat", "-D", "POSTROUTING"][..], &words].concat());
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listed_rule_is_recognised() {
        assert!(super::is("-s 10.1.0.0/24 ! -o br-0123 -j MASQUERADE", "br-0123", "10.1.0.0/24"));
        assert!(!super::is("-s 10.2.0.0/24 ! -o br-0123 -j MASQUERADE", "br-0123", "10.1.0.0/24"));
    }
}
