//! Signal names as Docker accepts them: `SIGTERM`, `TERM`, `term` or `15`.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// Parses a signal name or number.
pub fn parse(s: &str) -> Result<Signal, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("invalid signal: {s}"));
    }
    let up = t.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    Signal::from_str(&name).map_err(|_| format!("invalid signal: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(parse("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("kill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("10").unwrap(), Signal::SIGUSR1);
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("999").is_err());
    }
}
