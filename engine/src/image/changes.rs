//! `docker import --change` instructions applied to an image config:
//! CMD, ENTRYPOINT, ENV, WORKDIR, USER, STOPSIGNAL, LABEL, EXPOSE.

use super::record::ImageConfig;
use crate::error::{Error, Result};

fn words(rest: &str) -> Result<Vec<String>> {
    let t = rest.trim();
    if t.starts_with('[') {
        serde_json::from_str::<Vec<String>>(t)
            .map_err(|e| Error::invalid(format!("invalid JSON array {t:?}: {e}")))
    } else {
        // Shell form, as Docker runs it.
        Ok(vec!["/bin/sh".into(), "-c".into(), t.to_owned()])
    }
}

fn pairs(rest: &str) -> Result<Vec<(String, String)>> {
    let t = rest.trim();
    if !t.contains('=') {
        // Legacy `ENV key value`.
        let (k, v) = t
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::invalid(format!("expected key=value in {t:?}")))?;
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    t.split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("expected key=value in {kv:?}")))?;
            Ok((k.to_owned(), v.trim_matches('"').to_owned()))
        })
        .collect()
}

/// `HEALTHCHECK [--interval=D --timeout=D --start-period=D --start-interval=D --retries=N] CMD ...` or `NONE`.
fn healthcheck(rest: &str) -> Result<crate::model::HealthConfig> {
    let mut h = crate::model::HealthConfig::default();
    let mut rest = rest.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let (word, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("HEALTHCHECK option --{word} needs a value")))?;
        let dur = || {
            berth_proto::time::parse_go_duration(v)
                .ok_or_else(|| Error::invalid(format!("HEALTHCHECK --{k}: invalid duration {v:?}")))
        };
        match k {
            "interval" => h.interval = Some(dur()?),
            "timeout" => h.timeout = Some(dur()?),
            "start-period" => h.start_period = Some(dur()?),
            "start-interval" => h.start_interval = Some(dur()?),
            "retries" => {
                h.retries = Some(v.parse().map_err(|_| {
                    Error::invalid(format!("HEALTHCHECK --retries: invalid number {v:?}"))
                })?)
            }
            other => return Err(Error::invalid(format!("unknown HEALTHCHECK option --{other}"))),
        }
        rest = after.trim_start();
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    h.test = Some(match kind.to_ascii_uppercase().as_str() {
        "NONE" => vec!["NONE".into()],
        "CMD" if cmd.trim_start().starts_with('[') => {
            std::iter::once("CMD".to_owned()).chain(words(cmd)?).collect()
        }
        "CMD" if !cmd.trim().is_empty() => vec!["CMD-SHELL".into(), cmd.trim().to_owned()],
        _ => return Err(Error::invalid(format!("HEALTHCHECK needs CMD or NONE, not {rest:?}"))),
    });
    Ok(h)
}

/// Applies one instruction to `cfg`.
pub fn apply(cfg: &mut ImageConfig, change: &str) -> Result<()> {
    let (instr, rest) =
        change.trim().split_once(char::is_whitespace).unwrap_or((change.trim(), ""));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => cfg.cmd = Some(words(rest)?),
        "ENTRYPOINT" => cfg.entrypoint = Some(words(rest)?),
        "ENV" => {
            for (k, v) in pairs(rest)? {
                let env = cfg.env.get_or_insert_with(Vec::new);
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            for (k, v) in pairs(rest)? {
                cfg.labels.get_or_insert_with(Default::default).insert(k, v);
            }
        }
        "WORKDIR" => cfg.working_dir = Some(rest.trim().to_owned()),
        "USER" => cfg.user = Some(rest.trim().to_owned()),
        "STOPSIGNAL" => {
            berth_kernel::signal::parse(rest).map_err(Error::invalid)?;
            cfg.stop_signal = Some(rest.trim().to_owned());
        }
        "EXPOSE" => {
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_owned() } else { format!("{p}/tcp") };
                cfg.exposed_ports
                    .get_or_insert_with(Default::default)
                    .insert(p, serde_json::json!({}));
            }
        }
        "HEALTHCHECK" => cfg.healthcheck = Some(healthcheck(rest)?),
        "VOLUME" => {
            let paths = if rest.trim_start().starts_with('[') {
                words(rest)?
            } else {
                rest.split_whitespace().map(str::to_owned).collect()
            };
            for p in paths {
                cfg.volumes.get_or_insert_with(Default::default).insert(p, serde_json::json!({}));
            }
        }
        other => return Err(Error::invalid(format!("{other} is not a valid change command"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_instructions() {
        let mut c = ImageConfig::default();
        apply(&mut c, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply(&mut c, "ENTRYPOINT /bin/run it").unwrap();
        apply(&mut c, "ENV A=1 B=2").unwrap();
        apply(&mut c, "ENV A 3").unwrap();
        apply(&mut c, "STOPSIGNAL SIGUSR1").unwrap();
        apply(&mut c, "LABEL k=v").unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/run it"]);
        assert_eq!(c.env.unwrap(), ["B=2", "A=3"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGUSR1"));
        assert!(apply(&mut ImageConfig::default(), "RUN rm -rf /").is_err());
        assert!(apply(&mut ImageConfig::default(), "STOPSIGNAL SIGNOPE").is_err());
    }
}
