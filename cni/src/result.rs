//! The part of a CNI result berth uses: the pod's IPs.

use serde_json::Value;

/// Pod IPs, IPv4 first.
pub type Ips = Vec<String>;

/// IPs from a result: `ips[].address` (0.3.0 and later), or `ip4.ip` /
/// `ip6.ip` (0.1/0.2); prefix lengths dropped.
pub fn ips(result: &Value) -> Ips {
    let mut out: Vec<String> = Vec::new();
    let mut push = |a: &str| {
        let ip = a.split('/').next().unwrap_or(a).to_owned();
        if !ip.is_empty() && !out.contains(&ip) {
            out.push(ip);
        }
    };
    if let Some(list) = result["ips"].as_array() {
        for i in list {
            if let Some(a) = i["address"].as_str() {
                push(a);
            }
        }
    }
    for k in ["ip4", "ip6"] {
        if let Some(a) = result[k]["ip"].as_str() {
            push(a);
        }
    }
    out.sort_by_key(|ip| ip.contains(':'));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_of_every_version() {
        let v1 = json!({"cniVersion": "1.0.0", "ips": [{"address": "fd00::5/64"}, {"address": "10.88.0.5/16", "gateway": "10.88.0.1"}]});
        assert_eq!(ips(&v1), ["10.88.0.5", "fd00::5"]);
        let v02 = json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.2/24"}});
        assert_eq!(ips(&v02), ["10.1.0.2"]);
        assert!(ips(&Value::Null).is_empty());
    }
}
