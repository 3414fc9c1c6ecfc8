//! Healthchecks (Docker's `HEALTHCHECK`, `--health-*`): what is probed and
//! how often, fixed at create from the image's and the request's; and
//! what the probes found, kept in memory while the container runs and
//! recorded at each change of status (a restarted berthd goes on from it).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// dockerd's defaults for a zero field.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// dockerd's shortest interval, timeout and start interval.
pub const MIN_PERIOD: Duration = Duration::from_millis(1);
/// Probe results kept, as dockerd keeps them.
pub const LOG_LEN: usize = 5;
/// Output kept per probe.
pub const OUTPUT_LEN: usize = 4096;

/// A container's healthcheck, as resolved at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// What runs in the container (`CMD-SHELL x` already as `/bin/sh -c x`).
    pub command: Vec<String>,
    /// Docker's `Test` as given, for inspect.
    pub test: Vec<String>,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub start_interval_ns: u64,
    pub retries: u32,
}

/// Docker's `HealthConfig` (nanoseconds; zero or null: inherit or default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

impl HealthConfig {
    /// The request's fields over the image's (dockerd's merge), then the
    /// defaults; `None`: no healthcheck (none given, or `NONE`).
    pub fn resolve(
        request: Option<&HealthConfig>,
        image: Option<&HealthConfig>,
    ) -> Result<Option<Healthcheck>> {
        for c in [request, image].into_iter().flatten() {
            for (v, what) in [
                (c.interval, "Interval"),
                (c.timeout, "Timeout"),
                (c.start_period, "StartPeriod"),
                (c.start_interval, "StartInterval"),
            ] {
                let v = v.unwrap_or(0);
                if v < 0 || (v > 0 && v < MIN_PERIOD.as_nanos() as i64 && what != "StartPeriod") {
                    return Err(Error::invalid_field(
                        "healthcheck",
                        format!(
                            "{what} in Healthcheck cannot be less than {}ms",
                            MIN_PERIOD.as_millis()
                        ),
                    ));
                }
            }
            if c.retries.unwrap_or(0) < 0 {
                return Err(Error::invalid_field(
                    "healthcheck",
                    "Retries in Healthcheck cannot be negative",
                ));
            }
        }
        let pick = |f: fn(&HealthConfig) -> Option<i64>| {
            request.and_then(f).filter(|v| *v != 0).or(image.and_then(f).filter(|v| *v != 0))
        };
        let test = request
            .and_then(|r| r.test.clone())
            .filter(|t| !t.is_empty())
            .or(image.and_then(|i| i.test.clone()).filter(|t| !t.is_empty()));
        let Some(test) = test else { return Ok(None) };
        let command = match test.first().map(String::as_str) {
            Some("NONE") => return Ok(None),
            Some("CMD") if test.len() > 1 => test[1..].to_vec(),
            Some("CMD-SHELL") if test.len() == 2 => vec!["/bin/sh".into(), "-c".into(), test[1].clone()],
            _ => return Err(Error::invalid_field("healthcheck", format!("invalid healthcheck test {test:?}: expected [\"CMD\", args...], [\"CMD-SHELL\", command] or [\"NONE\"]"))),
        };
        let ns = |v: Option<i64>, d: Duration| v.map_or(d.as_nanos() as u64, |v| v as u64);
        Ok(Some(Healthcheck {
            command,
            test,
            interval_ns: ns(pick(|c| c.interval), DEFAULT_INTERVAL),
            timeout_ns: ns(pick(|c| c.timeout), DEFAULT_TIMEOUT),
            start_period_ns: ns(pick(|c| c.start_period), Duration::ZERO),
            start_interval_ns: ns(pick(|c| c.start_interval), DEFAULT_START_INTERVAL),
            retries: pick(|c| c.retries).map_or(DEFAULT_RETRIES, |r| r as u32),
        }))
    }
}

/// Docker's health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub start: i64,
    pub end: i64,
    pub exit_code: i32,
    pub output: String,
}

/// What the probes of the current run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: std::collections::VecDeque<Probe>,
}

/// The health of one run of a container, as recorded at its last change
/// of status (`<root>/containers/<id>/health.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// The run it is of: the container's exit count when the run began.
    pub run: u64,
    #[serde(flatten)]
    pub health: Health,
}

impl crate::store::Record for HealthRecord {
    const KIND: &'static str = "health";
    const SCHEMA: u32 = 1;
}

impl Health {
    /// Takes a probe's result; the new status if it changed. Failures in
    /// the start period don't count, a success ends it (as dockerd).
    pub fn record(
        &mut self,
        probe: Probe,
        retries: u32,
        in_start_period: bool,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if probe.exit_code == 0 {
            self.status = HealthStatus::Healthy;
            self.failing_streak = 0;
        } else if !in_start_period || self.status != HealthStatus::Starting {
            self.failing_streak += 1;
            if self.failing_streak >= retries.max(1) {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push_back(probe);
        while self.log.len() > LOG_LEN {
            self.log.pop_front();
        }
        (self.status != before).then_some(self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_over_the_image_then_the_defaults() {
        let image = HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            interval: Some(2_000_000_000),
            ..Default::default()
        };
        let h = HealthConfig::resolve(None, Some(&image)).unwrap().unwrap();
        assert_eq!(
            (h.command.as_slice(), h.interval_ns, h.retries),
            (&["/bin/sh".to_string(), "-c".into(), "true".into()][..], 2_000_000_000, 3)
        );
        let req = HealthConfig { retries: Some(1), ..Default::default() };
        assert_eq!(HealthConfig::resolve(Some(&req), Some(&image)).unwrap().unwrap().retries, 1);
        let none = HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() };
        assert_eq!(HealthConfig::resolve(Some(&none), Some(&image)).unwrap(), None);
        assert!(HealthConfig::resolve(
            Some(&HealthConfig { test: Some(vec!["BOGUS".into()]), ..Default::default() }),
            None
        )
        .is_err());
        assert!(HealthConfig::resolve(
            Some(&HealthConfig { interval: Some(-1), ..image.clone() }),
            None
        )
        .is_err());
    }

    #[test]
    fn failures_count_after_the_start_period() {
        let fail = Probe { start: 0, end: 0, exit_code: 1, output: String::new() };
        let ok = Probe { exit_code: 0, ..fail.clone() };
        let mut h = Health::default();
        assert_eq!(h.record(fail.clone(), 2, true), None, "in the start period");
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(ok, 2, true), Some(HealthStatus::Healthy));
        assert_eq!(h.record(fail.clone(), 2, true), None, "once healthy, failures count");
        assert_eq!(h.record(fail, 2, false), Some(HealthStatus::Unhealthy));
        assert_eq!(h.failing_streak, 2);
    }

    fn probe(exit_code: i32, output: &str) -> Probe {
        Probe { start: 1, end: 2, exit_code, output: output.into() }
    }

    #[test]
    fn a_success_makes_it_healthy_and_resets_the_streak() {
        let mut h = Health::default();
        assert_eq!(h.status, HealthStatus::Starting);
        assert_eq!(h.record(probe(1, "no"), 3, false), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.record(probe(0, "ok"), 3, false), Some(HealthStatus::Healthy));
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(probe(0, "ok"), 3, false), None, "no change, no event");
    }

    #[test]
    fn it_turns_unhealthy_after_its_retries_and_back_with_one_success() {
        let mut h = Health::default();
        for _ in 0..2 {
            assert_eq!(h.record(probe(1, "no"), 3, false), None);
        }
        assert_eq!(h.record(probe(1, "no"), 3, false), Some(HealthStatus::Unhealthy));
        assert_eq!(h.record(probe(0, "ok"), 3, false), Some(HealthStatus::Healthy));
        // Retries of 0 count as 1, as dockerd's.
        let mut h = Health::default();
        assert_eq!(h.record(probe(1, "no"), 0, false), Some(HealthStatus::Unhealthy));
    }

    #[test]
    fn the_log_keeps_the_last_probes_only() {
        let mut h = Health::default();
        for i in 0..(LOG_LEN + 3) {
            h.record(probe(0, &i.to_string()), 1, false);
        }
        assert_eq!(h.log.len(), LOG_LEN);
        let first = h.log.front().unwrap().output.clone();
        assert_eq!(first, 3.to_string(), "the oldest went first");
    }
}
