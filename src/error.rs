//! Typed failures and their exit codes (documented in the README).

pub use crate::phase::{EXIT_INTERRUPTED, EXIT_OTHER, EXIT_USAGE};

use crate::report::FailureReport;

/// A failure whose exit code a CI step can tell apart from the others.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input: invalid env name, duration, missing tool. Nothing was changed.
    #[error("{0}")]
    Usage(String),
    /// A phase failed; the report says where and what to do next.
    #[error("{}", .0.headline())]
    Phase(Box<FailureReport>),
    /// Ctrl-C / SIGTERM reached us; the running child was stopped and waited for.
    #[error("interrupted")]
    Interrupted,
}

impl Failure {
    pub fn usage(msg: impl Into<String>) -> anyhow::Error {
        Failure::Usage(msg.into()).into()
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Phase(report) => report.exit_code(),
            Failure::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

/// Map any error to an exit code, printing what the user needs on stderr.
pub fn report_and_code(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<Failure>() {
        Some(Failure::Phase(report)) => {
            // The full report was already printed by the command; repeat the
            // headline so it is the last line a CI log shows.
            eprintln!("error: {}", report.headline());
            report.exit_code()
        }
        Some(f @ Failure::Interrupted) => {
            eprintln!("error: {f}");
            f.exit_code()
        }
        Some(f) => {
            eprintln!("error: {f}");
            f.exit_code()
        }
        None => {
            eprintln!("error: {err:#}");
            EXIT_OTHER
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::*;
    use crate::report::{FailureReport, Phase};

    #[test]
    fn exit_codes_are_distinct_per_phase() {
        let code = |phase| FailureReport::new(phase, "x").exit_code();
        assert_eq!(code(Phase::Provision), EXIT_PROVISION);
        assert_eq!(code(Phase::Handoff), EXIT_CONTRACT);
        assert_eq!(code(Phase::Configure), EXIT_CONFIGURE);
        assert_eq!(code(Phase::Pipeline), EXIT_PIPELINE);
        assert_eq!(code(Phase::Vars), EXIT_OTHER);
        assert_eq!(Failure::Usage("bad".into()).exit_code(), EXIT_USAGE);
        assert_eq!(Failure::Interrupted.exit_code(), EXIT_INTERRUPTED);
    }

    #[test]
    fn anyhow_errors_map_through_downcast() {
        let err: anyhow::Error = Failure::Usage("bad name".into()).into();
        assert_eq!(report_and_code(&err), EXIT_USAGE);
        let err = anyhow::anyhow!("boom");
        assert_eq!(report_and_code(&err), EXIT_OTHER);
    }
}
