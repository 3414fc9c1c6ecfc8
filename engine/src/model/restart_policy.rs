//! Docker's restart policies and the waits of dockerd's restart manager.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Docker's restart policies. berth follows dockerd's restart manager: a
/// stop or kill on purpose ends the restarts until the next start; at
/// berthd's start-up `always` brings back even a container stopped on
/// purpose, `unless-stopped` not, `on-failure` one that failed with
/// retries left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// `max_retries` 0: no limit.
    OnFailure {
        max_retries: u32,
    },
}

/// The first wait before a restart, doubled for each one after.
pub const RESTART_FIRST_DELAY: std::time::Duration = std::time::Duration::from_millis(100);
/// The longest wait before a restart.
pub const RESTART_MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(60);
/// A run this long resets the wait to the first one.
pub const RESTART_RESET_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

impl RestartPolicy {
    /// Docker's `RestartPolicy {Name, MaximumRetryCount}`, with dockerd's errors.
    pub fn from_docker(name: &str, max_retries: i64) -> Result<Self> {
        let policy = match name {
            "" | "no" => Self::No,
            "always" => Self::Always,
            "unless-stopped" => Self::UnlessStopped,
            "on-failure" if max_retries < 0 => {
                return Err(Error::invalid_field(
                    "restart_policy",
                    "maximum retry count cannot be negative",
                ))
            }
            "on-failure" => Self::OnFailure {
                max_retries: u32::try_from(max_retries).map_err(|_| {
                    Error::invalid_field("restart_policy", "maximum retry count is too large")
                })?,
            },
            other => {
                return Err(Error::invalid_field(
                    "restart_policy",
                    format!("invalid restart policy '{other}'"),
                ))
            }
        };
        if max_retries != 0 && !matches!(policy, Self::OnFailure { .. }) {
            return Err(Error::invalid_field(
                "restart_policy",
                format!("maximum retry count cannot be used with restart policy '{name}'"),
            ));
        }
        Ok(policy)
    }

    /// Docker's `--restart` form: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some(("on-failure", n)) => Self::from_docker(
                "on-failure",
                n.parse().map_err(|_| {
                    Error::invalid_field("restart_policy", "maximum retry count must be an integer")
                })?,
            ),
            Some((other, _)) => Self::from_docker(other, 1),
            None => Self::from_docker(s, 0),
        }
    }

    pub fn is_no(&self) -> bool {
        *self == Self::No
    }

    /// Docker's `Name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
            Self::OnFailure { .. } => "on-failure",
        }
    }

    /// Docker's `MaximumRetryCount`.
    pub fn max_retries(&self) -> u32 {
        match self {
            Self::OnFailure { max_retries } => *max_retries,
            _ => 0,
        }
    }

    fn retries_left(&self, restarts: u32) -> bool {
        let max = self.max_retries();
        max == 0 || restarts < max
    }

    /// Whether an exit (`restarts` so far) is followed by a restart.
    pub fn restarts_after_exit(
        &self,
        exit_code: i32,
        restarts: u32,
        stopped_on_purpose: bool,
    ) -> bool {
        !stopped_on_purpose
            && match self {
                Self::No => false,
                Self::Always | Self::UnlessStopped => true,
                Self::OnFailure { .. } => exit_code != 0 && self.retries_left(restarts),
            }
    }

    /// Whether berthd's start-up starts an exited container again.
    pub fn restarts_at_start_up(
        &self,
        exit_code: i32,
        restarts: u32,
        stopped_on_purpose: bool,
    ) -> bool {
        match self {
            Self::No => false,
            Self::Always => true,
            Self::UnlessStopped => !stopped_on_purpose,
            Self::OnFailure { .. } => exit_code != 0 && self.retries_left(restarts),
        }
    }

    /// The wait before the next restart, after `previous` and a run of `ran`
    /// (dockerd's backoff: 100 ms, doubled up to a minute, reset by 10 s up).
    pub fn next_delay(
        previous: std::time::Duration,
        ran: std::time::Duration,
    ) -> std::time::Duration {
        if previous.is_zero() || ran >= RESTART_RESET_AFTER {
            RESTART_FIRST_DELAY
        } else {
            (previous * 2).min(RESTART_MAX_DELAY)
        }
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OnFailure { max_retries } if *max_retries > 0 => {
                write!(f, "on-failure:{max_retries}")
            }
            other => f.write_str(other.name()),
        }
    }
}
