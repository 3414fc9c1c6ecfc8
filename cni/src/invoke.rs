//! One plugin call, as the CNI spec describes it: the binary named by the
//! plugin's `type` in the plugin dirs, `CNI_*` in a clean environment, the
//! plugin config on stdin, a result or an error object on stdout.

use crate::config::NetworkList;
use crate::{Attachment, CniConfig, Error, Result};
use serde_json::Value;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// The plugin's stdin: its config with the list's name and version,
/// `prevResult`, and the runtime config for the capabilities it declares.
pub fn stdin_config(
    net: &NetworkList,
    plugin: &Value,
    a: Option<&Attachment>,
    prev: Option<&Value>,
) -> Value {
    let mut conf = plugin.as_object().cloned().unwrap_or_default();
    conf.insert("name".into(), Value::String(net.name.clone()));
    conf.insert("cniVersion".into(), Value::String(net.cni_version.clone()));
    conf.remove("runtimeConfig");
    if let Some(p) = prev.filter(|p| !p.is_null()) {
        conf.insert("prevResult".into(), p.clone());
    }
    if let (Some(a), Some(caps)) = (a, plugin["capabilities"].as_object()) {
        let rc: serde_json::Map<String, Value> = a
            .runtime_config
            .iter()
            .filter(|(k, _)| caps.get(*k).and_then(Value::as_bool) == Some(true))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rc.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(rc));
        }
    }
    Value::Object(conf)
}

/// `K=V;K=V`, as CNI_ARGS carries them.
pub fn cni_args(args: &[(String, String)]) -> String {
    std::iter::once("IgnoreUnknown=1".to_string())
        .chain(args.iter().map(|(k, v)| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(";")
}

/// Runs `command` on one plugin; returns its result (None when it printed none).
pub async fn call(
    cfg: &CniConfig,
    net: &NetworkList,
    plugin: &Value,
    command: &str,
    a: Option<&Attachment>,
    prev: Option<&Value>,
) -> Result<Option<Value>> {
    let typ = plugin["type"].as_str().unwrap_or_default();
    let fail = |msg: String| Error::Plugin { plugin: typ.to_owned(), msg };
    let bin = cfg.bin_dirs.iter().map(|d| d.join(typ)).find(|p| p.is_file()).ok_or_else(|| {
        fail(format!(
            "not found in {}",
            cfg.bin_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
        ))
    })?;
    let input =
        serde_json::to_vec(&stdin_config(net, plugin, a, prev)).map_err(|e| fail(e.to_string()))?;
    let path = std::env::join_paths(&cfg.bin_dirs).map_err(|e| fail(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(a) = a {
        cmd.env("CNI_CONTAINERID", &a.id)
            .env("CNI_NETNS", &a.netns)
            .env("CNI_IFNAME", &a.ifname)
            .env("CNI_ARGS", cni_args(&a.args));
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("run {}: {e}", bin.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&input).await.map_err(|e| fail(format!("write config: {e}")))?;
    }
    let out = tokio::time::timeout(cfg.plugin_timeout, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("{command} did not finish within {:?}", cfg.plugin_timeout)))?
        .map_err(|e| fail(e.to_string()))?;
    let parsed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        let msg = match &parsed {
            Some(v) if v.get("msg").is_some() => {
                let details = v["details"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                format!(
                    "{command} failed (code {}): {}{details}",
                    v["code"],
                    v["msg"].as_str().unwrap_or_default()
                )
            }
            _ => format!(
                "{command} failed: {}{}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        };
        return Err(fail(msg));
    }
    Ok(parsed.filter(|v| v.is_object()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stdin_carries_only_declared_capabilities() {
        let net = crate::config::from_value(
            json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "portmap", "capabilities": {"portMappings": true}}]}),
            std::path::Path::new("x"),
        )
        .unwrap();
        let mut rc = serde_json::Map::new();
        rc.insert(
            "portMappings".into(),
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
        );
        rc.insert("bandwidth".into(), json!({"ingressRate": 1}));
        let a = Attachment {
            id: "x".into(),
            netns: "/n".into(),
            ifname: "eth0".into(),
            args: vec![],
            runtime_config: rc,
        };
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let v = stdin_config(&net, &net.plugins[0], Some(&a), Some(&prev));
        assert_eq!(v["name"], "n");
        assert_eq!(v["prevResult"], prev);
        assert!(v["runtimeConfig"]["portMappings"].is_array());
        assert!(v["runtimeConfig"].get("bandwidth").is_none());
    }

    #[test]
    fn args_are_joined() {
        assert_eq!(
            cni_args(&[("K8S_POD_NAME".into(), "web".into())]),
            "IgnoreUnknown=1;K8S_POD_NAME=web"
        );
    }
}
