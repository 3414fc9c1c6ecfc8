//! The part of Go's templates `--format` is used for: `{{.Field.Sub}}`,
//! `{{json .Field}}` and Docker's `{{.Label "key"}}`, with literal text
//! around them.

use serde_json::Value;

/// Renders `tpl` against `v`.
pub fn render(tpl: &str, v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end =
            after.find("}}").ok_or_else(|| format!("template: unclosed action in {tpl:?}"))?;
        let action = after[..end].trim().trim_start_matches('-').trim_end_matches('-').trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let found = match path.strip_prefix(".Label ") {
            Some(key) => label(v, key.trim().trim_matches('"')),
            None => lookup(v, path)?,
        };
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

/// A label's value: a list row keeps its labels under `_labels`, an
/// inspect document under `Labels` or `Config.Labels`.
fn label<'v>(v: &'v Value, key: &str) -> &'v Value {
    [&v["_labels"], &v["Labels"], &v["Config"]["Labels"]]
        .into_iter()
        .find_map(|m| m.as_object().and_then(|m| m.get(key)))
        .unwrap_or(&Value::Null)
}

fn lookup<'v>(v: &'v Value, path: &str) -> Result<&'v Value, String> {
    if path == "." {
        return Ok(v);
    }
    let fields = path.strip_prefix('.').ok_or_else(|| {
        format!("template: unsupported action {path:?} (use .Field or json .Field)")
    })?;
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
