//! Which failed applies are worth running again.
//!
//! Cloud APIs fail now and then for reasons that have nothing to do with the
//! configuration: throttling, a 5xx, a dropped connection, IAM's eventual
//! consistency (an instance profile created a second ago "does not exist").
//! Terraform stops at the first such error; running the same apply again
//! picks up where it stopped. Anything else (a bad value, a quota, a
//! permission) fails the same way every time, so it is reported at once:
//! never a blind retry.

use crate::report::Detail;
use std::time::Duration;

/// Substrings of an error diagnostic (summary or detail) that mark it as
/// transient. Kept short and specific: an entry here turns a failure into a
/// wait, so only errors known to clear up by themselves belong in it.
const TRANSIENT: &[&str] = &[
    // AWS throttling (EC2, Redshift, IAM and the rest).
    "RequestLimitExceeded",
    "ThrottlingException",
    "Throttling: Rate exceeded",
    "TooManyRequestsException",
    // AWS server side.
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    // IAM eventual consistency: an instance profile or role just created is
    // not yet visible to EC2.
    "Invalid IAM Instance Profile",
    "iamInstanceProfile.name is invalid",
    // The network between us and the API.
    "connection reset by peer",
    "TLS handshake timeout",
    "i/o timeout",
    "unexpected EOF",
];

/// The transient marker found in the diagnostics, when every error is
/// transient. One permanent error among them means a retry cannot succeed.
pub fn transient_cause(diagnostics: &[Detail]) -> Option<&'static str> {
    let mut cause = None;
    for d in diagnostics {
        let Detail::Terraform {
            summary, detail, ..
        } = d
        else {
            return None;
        };
        let found = TRANSIENT
            .iter()
            .find(|m| summary.contains(*m) || detail.contains(*m))?;
        cause.get_or_insert(*found);
    }
    cause
}

/// How often and how patiently an apply is re-run on a transient error.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Re-runs after the first attempt.
    pub retries: u32,
    /// Wait before the first re-run; doubled for each further one.
    pub first_delay: Duration,
}

impl RetryPolicy {
    /// 2 re-runs after 10 s and 20 s. `SHADOWOPS_TF_RETRIES` and
    /// `SHADOWOPS_TF_RETRY_DELAY` (a duration: `10s`, `1m`) change it; an
    /// unreadable value is an error rather than a silent default.
    pub fn from_env() -> anyhow::Result<Self> {
        let retries = match std::env::var("SHADOWOPS_TF_RETRIES") {
            Ok(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 10)
                .ok_or_else(|| {
                    anyhow::anyhow!("SHADOWOPS_TF_RETRIES={v:?}: expected a number from 0 to 10")
                })?,
            Err(_) => 2,
        };
        let first_delay = match std::env::var("SHADOWOPS_TF_RETRY_DELAY") {
            Ok(v) => humantime::parse_duration(v.trim()).map_err(|e| {
                anyhow::anyhow!("SHADOWOPS_TF_RETRY_DELAY={v:?}: {e} (expected e.g. 10s)")
            })?,
            Err(_) => Duration::from_secs(10),
        };
        Ok(RetryPolicy {
            retries,
            first_delay,
        })
    }

    /// The wait before re-run number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        self.first_delay * 2u32.saturating_pow(n.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf(summary: &str, detail: &str) -> Detail {
        Detail::Terraform {
            address: Some("aws_instance.host".into()),
            summary: summary.into(),
            detail: detail.into(),
            location: None,
        }
    }

    #[test]
    fn throttling_and_iam_propagation_are_transient() {
        let d = [tf(
            "creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 503, RequestID: x, api error RequestLimitExceeded: Request limit exceeded.",
            "",
        )];
        assert_eq!(transient_cause(&d), Some("RequestLimitExceeded"));
        let d = [tf(
            "creating EC2 Instance: InvalidParameterValue: Value (shadow-pr-1) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
            "",
        )];
        assert!(transient_cause(&d).is_some());
    }

    #[test]
    fn a_permanent_error_is_never_retried() {
        let quota = tf(
            "creating Redshift Cluster: ClusterQuotaExceeded: The request would exceed the allowed number of cluster nodes",
            "",
        );
        assert_eq!(transient_cause(std::slice::from_ref(&quota)), None);
        // One permanent error among transient ones: a retry would fail again.
        let throttled = tf("x", "api error Throttling: Rate exceeded");
        assert_eq!(transient_cause(&[throttled.clone(), quota]), None);
        assert!(transient_cause(&[throttled]).is_some());
        // No diagnostic at all (terraform crashed): nothing to go on.
        assert_eq!(transient_cause(&[]), None);
        assert_eq!(
            transient_cause(&[Detail::Message {
                message: "RequestLimitExceeded".into(),
                tail: vec![]
            }]),
            None
        );
    }

    #[test]
    fn delays_double() {
        let p = RetryPolicy {
            retries: 3,
            first_delay: Duration::from_secs(10),
        };
        assert_eq!(p.delay(1), Duration::from_secs(10));
        assert_eq!(p.delay(2), Duration::from_secs(20));
        assert_eq!(p.delay(3), Duration::from_secs(40));
    }
}
