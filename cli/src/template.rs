//! The part of Go's templates `--format` is used for with inspect:
//! `{{.Field.Sub}}` and `{{json .Field}}`, with literal text around them.

use serde_json::Value;

/// Renders `tpl` against `v`.
pub fn render(tpl: &str, v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("template: unclosed action in {tpl:?}"))?;
        let action = after[..end].trim().trim_start_matches('-').trim_end_matches('-').trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let found = lookup(v, path)?;
        match (json, found) {
            (true, f) => out.push_str(&serde_json::to_string(f).unwrap_or_default()),
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            (false, f) => out.push_str(&f.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup<'v>(v: &'v Value, path: &str) -> Result<&'v Value, String> {
    if path == "." {
        return Ok(v);
    }
    let fields = path.strip_prefix('.').ok_or_else(|| format!("template: unsupported action {path:?} (use .Field or json .Field)"))?;
    let mut cur = v;
    for f in fields.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(f).unwrap_or(&Value::Null),
            _ => return Err(format!("template: can't evaluate field {f} in {path}")),
        };
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_json() {
        let v = serde_json::json!({"Id": "sha256:ab", "Config": {"Cmd": ["sh"], "User": ""}, "Size": 7});
        assert_eq!(render("{{.Id}}", &v).unwrap(), "sha256:ab");
        assert_eq!(render("id={{ .Id }} size={{.Size}}", &v).unwrap(), "id=sha256:ab size=7");
        assert_eq!(render("{{json .Config.Cmd}}", &v).unwrap(), r#"["sh"]"#);
        assert_eq!(render("{{.Config.Nope}}", &v).unwrap(), "<no value>");
        assert!(render("{{.Id.X}}", &v).is_err());
        assert!(render("{{index .Id 0}}", &v).is_err());
        assert!(render("{{.Id", &v).is_err());
    }
}
