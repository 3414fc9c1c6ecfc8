//! Registry credentials for the CLI, from a Docker-style `config.json`
//! (`$BERTH_CONFIG/config.json`, else `~/.berth/config.json`):
//! `{"auths": {"<host>": {"auth": "<base64 user:password>"} | {"identitytoken": "…"}}}`.
//! They are sent to berthd with the request that needs them, never stored there.

use base64::Engine as _;
use berth_proto::engine as pb;
use std::path::PathBuf;

/// The config file's path.
pub fn config_path() -> PathBuf {
    match std::env::var_os("BERTH_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".berth").join("config.json"),
    }
}

/// A reference's registry host and the rest, as Docker decides it: the
/// first component is a host when it has a `.` or `:` or is `localhost`.
pub fn split_registry(reference: &str) -> (&str, &str) {
    match reference.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => (first, rest),
        _ => ("docker.io", reference),
    }
}

/// The registry host a reference names.
pub fn registry_of(reference: &str) -> String {
    split_registry(reference).0.to_owned()
}

/// Keys a host may be stored under (Docker Hub has its legacy URL).
fn keys(host: &str) -> Vec<String> {
    let mut k = vec![host.to_owned(), format!("https://{host}"), format!("http://{host}")];
    if host == "docker.io" {
        k.extend(["https://index.docker.io/v1/".to_owned(), "index.docker.io".to_owned(), "registry-1.docker.io".to_owned()]);
    }
    k
}

/// Credentials for the registry of `reference`, if the config has any.
pub fn for_reference(reference: &str) -> Option<pb::RegistryAuth> {
    let text = std::fs::read_to_string(config_path()).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = v.get("auths")?.as_object()?;
    let entry = keys(&registry_of(reference)).iter().find_map(|k| auths.get(k))?;
    let mut out = pb::RegistryAuth::default();
    if let Some(a) = entry.get("auth").and_then(|a| a.as_str()) {
        let raw = base64::engine::general_purpose::STANDARD.decode(a).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        out.username = u.to_owned();
        out.password = p.to_owned();
    }
    if let Some(t) = entry.get("identitytoken").and_then(|a| a.as_str()) {
        out.identity_token = t.to_owned();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_as_docker_decides() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("team/app:v1"), "docker.io");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("127.0.0.1:5000/app"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io/x/y"), "ghcr.io");
    }
}
