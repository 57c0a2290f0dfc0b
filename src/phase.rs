//! The phases of `up` (and destroy) and the exit codes a CI step tells them
//! apart by. A leaf module: it depends on nothing of ours.

use serde::{Deserialize, Serialize};

pub const EXIT_OTHER: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_PROVISION: i32 = 10;
pub const EXIT_CONTRACT: i32 = 11;
pub const EXIT_CONFIGURE: i32 = 12;
pub const EXIT_PIPELINE: i32 = 13;
pub const EXIT_MIGRATE: i32 = 14;
/// `compare --fail-on-diff`: an output table differs outside the allow-list.
pub const EXIT_DIFFERS: i32 = 15;
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Vars,
    Provision,
    Handoff,
    Configure,
    Migrate,
    Pipeline,
    Lease,
    Destroy,
}

impl Phase {
    pub const UP: [Phase; 7] = [
        Phase::Vars,
        Phase::Provision,
        Phase::Handoff,
        Phase::Configure,
        Phase::Migrate,
        Phase::Pipeline,
        Phase::Lease,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Vars => "vars",
            Phase::Provision => "provision",
            Phase::Handoff => "handoff",
            Phase::Configure => "configure",
            Phase::Migrate => "migrate",
            Phase::Pipeline => "pipeline",
            Phase::Lease => "lease",
            Phase::Destroy => "destroy",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
