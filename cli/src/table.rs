//! `--format` for lists (`ps`, `images`, `history`, `stats`): Go templates
//! over one JSON object per row, with Docker's `table` directive — a header
//! row named by the fields, then columns aligned as Go's tabwriter does
//! (cells at least `MIN_WIDTH` wide, `PADDING` spaces between).

use crate::template;
use serde_json::Value;

const MIN_WIDTH: usize = 20;
const PADDING: usize = 3;

/// Renders `rows` with `format` (or `default` when none is given), using
/// `header` to name a field's column.
pub fn print(
    rows: &[impl serde::Serialize],
    format: Option<&str>,
    default: &str,
    header: fn(&str) -> String,
) -> Result<(), String> {
    let rows: Vec<Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let format = format.filter(|f| !f.is_empty()).unwrap_or(default);
    if format == "json" {
        for r in &rows {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        return Ok(());
    }
    let Some(tpl) = format.strip_prefix("table") else {
        for r in &rows {
            println!("{}", template::render(&unescape(format), r)?);
        }
        return Ok(());
    };
    let tpl = unescape(tpl.trim_start());
    let mut lines = vec![header_line(&tpl, header)];
    for r in &rows {
        lines.push(template::render(&tpl, r)?);
    }
    print!("{}", align(&lines));
    Ok(())
}

/// `\t` and `\n` typed on a command line, as Go's CLI takes them.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// The header row: each `{{.Field}}` replaced by its column's name.
fn header_line(tpl: &str, header: fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else { break };
        let action = rest[start + 2..start + end].trim();
        let field = action.trim_start_matches("json ").trim().trim_start_matches('.');
        let field = field.split_whitespace().next().unwrap_or(field);
        out.push_str(&header(field));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Aligns tab-separated cells into columns; the last cell of a line is
/// not padded.
pub fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(|r| r.len().saturating_sub(1)).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter(|r| i + 1 < r.len())
                .map(|r| r[i].chars().count() + PADDING)
                .max()
                .unwrap_or(0)
                .max(MIN_WIDTH)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count())));
            }
        }
        out.push('\n');
    }
    out
}

/// Docker's column names for the fields its lists share.
pub fn docker_header(field: &str) -> String {
    match field {
        "ID" => "ID".into(),
        "RunningFor" | "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedBy" => "CREATED BY".into(),
        "Names" => "NAMES".into(),
        "MemUsage" => "MEM USAGE / LIMIT".into(),
        "MemPerc" => "MEM %".into(),
        "CPUPerc" => "CPU %".into(),
        "NetIO" => "NET I/O".into(),
        "BlockIO" => "BLOCK I/O".into(),
        "PIDs" => "PIDS".into(),
        other => other.to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_as_tabwriter_does() {
        let lines = vec!["A\tBB\tC".to_owned(), "longer than twenty chars\tx\ty".to_owned()];
        let out = align(&lines);
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l[0], format!("{:<27}{:<20}C", "A", "BB"));
        assert_eq!(l[1], format!("{:<27}{:<20}y", "longer than twenty chars", "x"));
        assert_eq!(
            header_line("{{.ID}}\t{{.RunningFor}}\t{{json .Labels}}", docker_header),
            "ID\tCREATED\tLABELS"
        );
    }
}
