//! Failpoints: named steps of berth's operations where a test can make
//! berthd fail (`error`) or die on the spot (`abort`, as a `kill -9` there
//! would), to prove that every step has its undo and that start-up rolls
//! back what a crash left (containerd's `integration/failpoint` is the model).
//!
//! Armed only by the environment: `BERTH_FAILPOINTS=name=action[,name=action]`,
//! read once. Unset (every real node), [`hit`] is one load of a `OnceLock`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// What an armed failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The step fails with an error.
    Error,
    /// The process dies at once, nothing unwound.
    Abort,
}

fn armed() -> &'static HashMap<String, Action> {
    static ARMED: OnceLock<HashMap<String, Action>> = OnceLock::new();
    ARMED.get_or_init(|| parse(&std::env::var("BERTH_FAILPOINTS").unwrap_or_default()))
}

fn parse(spec: &str) -> HashMap<String, Action> {
    spec.split(',')
        .filter_map(|item| {
            let (name, action) = item.trim().split_once('=')?;
            let action = match action {
                "error" => Action::Error,
                "abort" => Action::Abort,
                _ => return None,
            };
            Some((name.to_owned(), action))
        })
        .collect()
}

/// Passes the failpoint `name`: `Err` when armed with `error`; never
/// returns when armed with `abort`.
pub fn hit(name: &str) -> Result<(), String> {
    let armed = armed();
    if armed.is_empty() {
        return Ok(());
    }
    match armed.get(name) {
        None => Ok(()),
        Some(Action::Error) => Err(format!("failpoint {name}")),
        Some(Action::Abort) => {
            eprintln!("failpoint {name}: aborting");
            std::process::abort()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn specs_parse() {
        let m = super::parse("a=error, b=abort,c=weird,d");
        assert_eq!(m.len(), 2);
        assert_eq!(m["a"], super::Action::Error);
        assert_eq!(m["b"], super::Action::Abort);
        assert!(super::hit("not-armed").is_ok());
    }
}
