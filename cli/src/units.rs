//! Docker's size and CPU notations.

/// `64m`, `1g`, `512k`, `1024b`, `100` (bytes) → bytes.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|r| r.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| format!("invalid size: {s:?}"))?;
    if v.is_nan() || v < 0.0 || !v.is_finite() {
        return Err(format!("invalid size: {s:?}"));
    }
    Ok((v * mult as f64) as i64)
}

/// `--cpus 1.5` → (quota, period) in microseconds.
pub fn parse_cpus(s: &str) -> Result<(i64, u64), String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("invalid value {s:?} for --cpus"))?;
    if v.is_nan() || v <= 0.0 || !v.is_finite() || v > 1024.0 {
        return Err(format!("invalid value {s:?} for --cpus: must be a positive number"));
    }
    Ok(((v * 100_000.0).round() as i64, 100_000))
}

/// Docker's short ids: the first 12 hex digits.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// `3.1MB`-style sizes, as `docker images` prints them.
pub fn human_size(n: u64) -> String {
    scaled(n, 1000.0, ["B", "kB", "MB", "GB", "TB"], 3)
}

/// `1.5MiB`, as `docker stats` prints memory.
pub fn binary_size(n: u64) -> String {
    scaled(n, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB"], 4)
}

/// `n` in the largest unit that keeps it at least 1, with up to `digits`
/// decimals and no trailing zeros.
fn scaled(n: u64, base: f64, units: [&str; 5], digits: usize) -> String {
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.digits$}").trim_end_matches('0').trim_end_matches('.').to_owned() + units[i]
    }
}

/// `2 minutes ago`.
pub fn ago(unix_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = (now - unix_secs).max(0);
    match s {
        0..=59 => "Less than a minute ago".into(),
        60..=3599 => format!("{} minutes ago", s / 60),
        3600..=172_799 => format!("{} hours ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// `2026-12-02 09:42:21 +0000 UTC`, as Docker prints `CreatedAt`.
pub fn local_time(unix_secs: i64) -> String {
    let t = berth_proto::time::rfc3339_nanos(berth_proto::time::from_unix_nanos(
        unix_secs.saturating_mul(1_000_000_000),
    ));
    let (date, rest) = t.split_once('T').unwrap_or((&t, ""));
    format!("{date} {} +0000 UTC", rest.get(..8).unwrap_or(rest))
}

/// A time argument (`--since`, `--until`): RFC 3339, a duration before now
/// (`10m`, `1h30m`, `45s`), or Unix seconds, as the API's Unix seconds.
pub fn time_arg(s: &str) -> Result<String, String> {
    if let Some(t) = berth_proto::time::parse_rfc3339_nanos(s) {
        return Ok(format!("{}.{:09}", t.div_euclid(1_000_000_000), t.rem_euclid(1_000_000_000)));
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !s.is_empty() {
        return Ok(s.to_owned());
    }
    let mut total = 0f64;
    let mut num = String::new();
    for ch in s.chars() {
        match ch {
            '0'..='9' | '.' => num.push(ch),
            'h' | 'm' | 's' => {
                let v: f64 = num.parse().map_err(|_| format!("invalid time {s:?}"))?;
                total += v * match ch {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => {
                return Err(format!(
                    "invalid time {s:?}: use RFC 3339, Unix seconds or a duration like 10m"
                ))
            }
        }
    }
    if !num.is_empty() {
        return Err(format!("invalid time {s:?}: a duration needs its unit (h, m, s)"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Ok(format!("{:.9}", now - total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cpus() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-1m").is_err());
        assert_eq!(parse_cpus("1.5").unwrap(), (150_000, 100_000));
        assert!(parse_cpus("0").is_err());
        assert_eq!(human_size(4_200_000), "4.2MB");
        assert_eq!(binary_size(3 << 19), "1.5MiB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(local_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(time_arg("1700000000").unwrap(), "1700000000");
        assert_eq!(time_arg("2023-11-14T22:13:20.5Z").unwrap(), "1700000000.500000000");
        assert!(time_arg("10x").is_err() && time_arg("10").is_ok() && time_arg("1h30m").is_ok());
    }
}
