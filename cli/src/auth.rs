//! Registry credentials for the CLI, from a Docker-style `config.json`
//! (`$BERTH_CONFIG/config.json`, else `~/.berth/config.json`):
//! `{"auths": {"<host>": {"auth": "<base64 user:password>"} | {"identitytoken": "…"}}}`.
//! They are sent to berthd with the request that needs them (Docker's
//! `X-Registry-Auth` header), never stored there.

use base64::Engine as _;
use berth_docker_api::system::AuthConfig;
use std::path::PathBuf;

/// The config file's path.
pub fn config_path() -> PathBuf {
    match std::env::var_os("BERTH_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".berth")
            .join("config.json"),
    }
}

/// A reference's registry host and the rest, as Docker decides it: the
/// first component is a host when it has a `.` or `:` or is `localhost`.
pub fn split_registry(reference: &str) -> (&str, &str) {
    match reference.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
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
        k.extend([
            "https://index.docker.io/v1/".to_owned(),
            "index.docker.io".to_owned(),
            "registry-1.docker.io".to_owned(),
        ]);
    }
    k
}

/// A server as `login` accepts it (`https://index.docker.io/v1/`,
/// `host:port`, `http://host/`) → the registry host.
pub fn normalize_server(s: &str) -> String {
    let s = s.trim().trim_start_matches("https://").trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or("");
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "" => "docker.io".into(),
        h => h.to_owned(),
    }
}

/// The key a host's credentials are stored under (Docker's, for Docker Hub).
pub fn config_key(host: &str) -> String {
    if host == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        host.to_owned()
    }
}

fn read_config() -> std::io::Result<ConfigFile> {
    match std::fs::read_to_string(config_path()) {
        Ok(t) => serde_json::from_str(&t).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(e),
    }
}

/// Writes the config atomically, readable by its owner only.
fn write_config(c: &ConfigFile) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = config_path();
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let data = serde_json::to_vec_pretty(c).map_err(std::io::Error::other)?;
    f.write_all(&data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)
}

/// Stores `user:password` for `host`, replacing any older entry for it.
pub fn store(host: &str, user: &str, password: &str) -> std::io::Result<()> {
    let mut c = read_config()?;
    for k in keys(host) {
        c.auths.remove(&k);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    c.auths.insert(config_key(host), AuthEntry { auth: encoded, ..Default::default() });
    write_config(&c)
}

/// Forgets `host`'s credentials; whether there were any.
pub fn forget(host: &str) -> std::io::Result<bool> {
    let mut c = read_config()?;
    let before = c.auths.len();
    for k in keys(host) {
        c.auths.remove(&k);
    }
    if c.auths.len() == before {
        return Ok(false);
    }
    write_config(&c)?;
    Ok(true)
}

/// The docker CLI's config.json: the credentials berth reads and writes,
/// and everything else kept as it is.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct ConfigFile {
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct AuthEntry {
    /// base64 of `user:password`.
    #[serde(skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    identitytoken: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// The `X-Registry-Auth` header for the registry of `reference`, if the
/// config has credentials for it: base64url of Docker's auth JSON.
pub fn header_for(reference: &str) -> Option<String> {
    let file = read_config().ok()?;
    let host = registry_of(reference);
    let entry = keys(&host).iter().find_map(|k| file.auths.get(k))?;
    let mut out = AuthConfig { serveraddress: host, ..Default::default() };
    if !entry.auth.is_empty() {
        let raw = base64::engine::general_purpose::STANDARD.decode(&entry.auth).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        (out.username, out.password) = (u.to_owned(), p.to_owned());
    }
    out.identitytoken = entry.identitytoken.clone();
    let json = serde_json::to_string(&out).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE.encode(json))
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

    #[test]
    fn login_servers_normalized() {
        assert_eq!(normalize_server("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_server("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize_server("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(normalize_server("ghcr.io"), "ghcr.io");
        assert_eq!(config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(config_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
