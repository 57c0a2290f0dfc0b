//! Command-line definitions (clap derive) and the value parsers that refuse
//! bad input before any code runs (clap's usage error, exit 2).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "shadowops",
    version,
    about = "Throwaway shadow copies of the data platform: Terraform provisions, Ansible configures, \
             an Airflow DAG of R tasks proves it end to end, and a timer destroys it.",
    after_help = "Env directories live in $SHADOWOPS_HOME/envs/<env> (default .shadowops/). \
                  Exit codes: 0 ok, 1 other error, 2 usage, 10 provision failed, 11 Terraform \
                  outputs break the contract, 12 configure failed, 13 pipeline failed (DAG, its e-mail or the \
                  pipeline's own tests), 14 seed or migration failed, 15 compare found differences \
                  (--fail-on-diff), 130 interrupted."
)]
pub struct Cli {
    /// More detail on stderr (every Terraform event and Ansible task result).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Only warnings, failures and results (no progress lines).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Containers on this machine (podman): host, warehouse (PostgreSQL), mail sink.
    Local,
    /// EC2 + Redshift on AWS (needs AWS credentials).
    Aws,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Aws => "aws",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum UntilPhase {
    Provision,
    Configure,
    Migrate,
    Pipeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FromPhase {
    Vars,
    Provision,
    Configure,
    Migrate,
    Pipeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnFailure {
    /// Keep the env for inspection (it still expires with its lease).
    Keep,
    /// Destroy the env; the run records stay readable.
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageChoice {
    /// local: the cached host image of this playbook's software stamp if
    /// there is one, else the base image (and the cache is made in the
    /// background once this `up` succeeds). aws: the base AMI.
    Auto,
    /// The plain Debian 12 base image: configure installs everything.
    Base,
    /// The image made by `shadowops bake`: configure only converges.
    Baked,
}

/// `up --warehouse`: where the aws target's warehouse comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseChoice {
    /// A new, empty Redshift cluster per env (the default).
    New,
    /// A database per env inside the team's running warehouse.
    Existing,
    /// A new cluster restored from this snapshot.
    Snapshot(String),
}

impl WarehouseChoice {
    /// terraform/aws `warehouse_mode`.
    pub fn mode(&self) -> &'static str {
        match self {
            WarehouseChoice::New => "new",
            WarehouseChoice::Existing => "existing",
            WarehouseChoice::Snapshot(_) => "snapshot",
        }
    }
}

/// `--backstop-grace`: the duration as Terraform's `timeadd` reads it
/// (`1h30m`), checked to the module's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackstopGrace {
    pub duration: Duration,
    /// e.g. `30m`, `1h`, `1h30m`: terraform/aws `backstop_grace`.
    pub terraform: String,
}

#[derive(Debug, Args)]
pub struct EnvArg {
    /// Env name: a lowercase DNS label of 1-30 characters.
    #[arg(
        long = "env",
        short = 'e',
        default_value = "shadow",
        env = "SHADOWOPS_ENV",
        allow_hyphen_values = true,
        value_parser = env_name
    )]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring an env up (or resume it): vars, provision, handoff, configure, migrate, pipeline, lease.
    Up(UpArgs),
    /// Run the pipeline at a base and at the change in one env, each from
    /// the same seed in a schema of its own, and compare every output table.
    Compare(CompareArgs),
    /// Destroy an env and everything it created (idempotent; works after any failure).
    Destroy {
        #[command(flatten)]
        env: EnvArg,
        /// Print the outcome as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// With no local env directory: `aws` destroys the env from the team's
        /// shared state (SHADOWOPS_TF_BACKEND_CONFIG, docs/aws.md). Ignored
        /// when the env exists here (its own target decides).
        #[arg(long, value_enum)]
        target: Option<Target>,
        /// With --target aws and no local env directory: the owner the env
        /// was made by (part of its state key and AWS names); default: the
        /// owner `up` records here (SHADOWOPS_OWNER, CIRCLE_USERNAME, USER).
        #[arg(long, value_parser = owner_name)]
        owner: Option<String>,
    },
    /// Explain where an env is: phase, last error, resources, addresses, time left.
    Status {
        #[command(flatten)]
        env: EnvArg,
        #[arg(long)]
        json: bool,
    },
    /// List envs under $SHADOWOPS_HOME with their phase and time left.
    List {
        #[arg(long)]
        json: bool,
        /// Also list destroyed envs whose run records are kept.
        #[arg(long)]
        all: bool,
    },
    /// Show what Terraform would change for an env (terraform plan), creating nothing.
    Plan {
        #[command(flatten)]
        env: EnvArg,
        #[arg(long, value_enum, default_value_t = Target::Local)]
        target: Target,
    },
    /// Print the rendered Ansible inventory and variables, secrets masked.
    Inventory {
        #[command(flatten)]
        env: EnvArg,
        /// Also write the real files (secrets 0600) into the env's ansible/
        /// folder and print the ansible-playbook command to run by hand.
        #[arg(long)]
        write: bool,
    },
    /// Read the run records: the event streams and logs of every phase.
    Logs {
        #[command(flatten)]
        env: EnvArg,
        /// Run id (default: the latest run).
        #[arg(long)]
        run: Option<String>,
        /// Only this phase's logs (vars, provision, handoff, configure, migrate, pipeline, destroy).
        #[arg(long)]
        phase: Option<String>,
        /// Keep printing as the logs grow (like tail -f).
        #[arg(long, short)]
        follow: bool,
        /// List the runs instead of printing logs.
        #[arg(long)]
        list: bool,
    },
    /// Open an SSH session on the env's host (host key pinned), or run CMD there.
    Ssh {
        #[command(flatten)]
        env: EnvArg,
        /// Command to run on the host.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Keep an SSH tunnel to the env's Airflow open for a browser (its port
    /// is private on AWS); prints the local URL, Ctrl-C closes it.
    Tunnel {
        #[command(flatten)]
        env: EnvArg,
        /// Local port (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Move an env's deadline to DURATION from now (the running reaper honours it).
    Extend {
        #[command(flatten)]
        env: EnvArg,
        /// New lease from now, e.g. 30m, 2h.
        #[arg(allow_hyphen_values = true, value_parser = lease_duration)]
        duration: Duration,
        /// Raise the cap on leases (default 24h).
        #[arg(long, default_value = "24h", value_parser = lease_duration)]
        max_ttl: Duration,
    },
    /// Destroy every env whose lease expired and whose reaper is gone; sweep orphaned containers
    /// (--target aws: delete expired AWS resources by their tags, even with no state left).
    Reap {
        /// Say what would be destroyed, destroy nothing.
        #[arg(long)]
        dry_run: bool,
        /// local: env directories and podman leftovers; aws: the tag sweep in
        /// the region (AWS_REGION / AWS_DEFAULT_REGION / the profile).
        #[arg(long, value_enum, default_value_t = Target::Local)]
        target: Target,
        /// aws: how long past `expires_at` a resource must be before the sweep
        /// deletes it (the env's own reaper goes first).
        #[arg(long, default_value = "10m", allow_hyphen_values = true, value_parser = sweep_margin)]
        margin: Duration,
        /// aws: print the sweep's report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write a working pipeline folder to start from (docs/pipeline.md).
    Init {
        /// A new or empty folder.
        dir: PathBuf,
    },
    /// Check the tools shadowops needs: found, versions, what to install.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Build an image with the playbook already applied, for `up --image baked`.
    Bake {
        #[arg(long, value_enum, default_value_t = Target::Local)]
        target: Target,
        /// With --target aws: the CIDR allowed to reach the bake instance's
        /// SSH (e.g. 203.0.113.7/32).
        #[arg(long, value_name = "CIDR", value_parser = operator_cidr)]
        allow_cidr: Option<String>,
        /// Internal (the background bake `up` starts): only if no image
        /// exists for the current stamp once no other bake runs.
        #[arg(long, hide = true)]
        auto: bool,
    },
    /// Remove cached images: local host images of older software stamps
    /// (--all: every local image, rebuilt on the next `up`), or with
    /// --target aws the AMIs of older `bake --target aws` runs.
    PruneImages {
        #[arg(long, value_enum, default_value_t = Target::Local)]
        target: Target,
        /// How many of the newest baked images (local: software stamps;
        /// aws: AMIs) to keep; the one in use is always kept, and locally
        /// the current stamp's too.
        #[arg(long, default_value_t = 1)]
        keep: usize,
        /// List what would go, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// local: also every base image not in use (rebuilt on the next `up`).
        #[arg(long)]
        all: bool,
        /// aws: whose bakes (default: SHADOWOPS_OWNER, CIRCLE_USERNAME, USER).
        #[arg(long, value_parser = owner_name)]
        owner: Option<String>,
    },
    /// Internal: the detached process that destroys an env at its deadline.
    #[command(hide = true)]
    Reaper {
        #[command(flatten)]
        env: EnvArg,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Where to create it.
    #[arg(long, value_enum, default_value_t = Target::Local, env = "SHADOWOPS_TARGET")]
    pub target: Target,
    /// Lease: the env is destroyed this long after `up` (e.g. 30m, 2h; max 24h unless --max-ttl).
    #[arg(long, default_value = "2h", allow_hyphen_values = true, value_parser = lease_duration)]
    pub ttl: Duration,
    /// Raise the cap on --ttl.
    #[arg(long, default_value = "24h", value_parser = lease_duration)]
    pub max_ttl: Duration,
    /// Stop after this phase.
    #[arg(long, value_enum)]
    pub until: Option<UntilPhase>,
    /// Restart from this phase even if it completed before.
    #[arg(long, value_enum)]
    pub from: Option<FromPhase>,
    /// The pipeline folder to deploy and run (docs/pipeline.md: dags/, R/,
    /// seed/, migrations/, tests/, shadowops.toml); default: the bundled example.
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// DAG to trigger (default: `[dag] id` of the pipeline's shadowops.toml, else shadow_pipeline).
    #[arg(long, value_parser = dag_id)]
    pub dag_id: Option<String>,
    /// Write one JUnit test case per DAG task to FILE (for CI test results).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// On failure: keep the env (default at a terminal) or destroy it (default when CI is set).
    #[arg(long, value_enum)]
    pub on_failure: Option<OnFailure>,
    /// Stay in the foreground with a countdown; destroy at the deadline or on Ctrl-C.
    #[arg(long)]
    pub wait: bool,
    /// Host image: auto (the software cache when it exists, docs/local-target.md),
    /// base, or the one `shadowops bake` made.
    #[arg(long, value_enum, default_value_t = ImageChoice::Auto, env = "SHADOWOPS_IMAGE")]
    pub image: ImageChoice,
    /// CIDR allowed to reach SSH and Airflow (aws target), e.g. 203.0.113.7/32.
    #[arg(long, value_parser = operator_cidr)]
    pub allow_cidr: Option<String>,
    /// Extra Terraform variables (JSON), applied after shadowops' own: sizes,
    /// regions, image overrides. Secrets do not belong here.
    #[arg(long)]
    pub var_file: Option<PathBuf>,
    /// aws: the env's warehouse: `new` (a Redshift cluster of its own),
    /// `existing` (a database per env in the team's running cluster or
    /// Serverless workgroup, see --warehouse-config; no cluster is created),
    /// or `snapshot:NAME` (a new cluster restored from snapshot NAME).
    #[arg(long, default_value = "new", value_parser = warehouse_choice)]
    pub warehouse: WarehouseChoice,
    /// aws, --warehouse existing: the team's warehouse as JSON (endpoint,
    /// cluster_identifier or workgroup_name, db_user or secret_arn, vpc_id,
    /// host_subnet_id, ...; docs/aws.md).
    #[arg(long, value_name = "FILE", env = "SHADOWOPS_WAREHOUSE_CONFIG")]
    pub warehouse_config: Option<PathBuf>,
    /// aws: how long after the lease's end the in-cloud backstops fire (the
    /// instance powers off, the cluster pauses): whole hours and/or minutes,
    /// 10m to 24h (default 30m).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = backstop_grace)]
    pub backstop_grace: Option<BackstopGrace>,
    /// Print the outcome (and any failure report) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also run the pipeline at this base (git ref or folder) and compare
    /// the output tables: `compare --base REF` with its defaults (for CI).
    #[arg(long, value_name = "REF_OR_DIR")]
    pub compare_to: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub up: UpArgs,
    /// The base to compare the change (--pipeline) with: a git ref of the
    /// pipeline's repository (main, origin/main, HEAD~1, a tag) or a folder.
    #[arg(long)]
    pub base: String,
    /// Run the base this many extra times: what differs between base runs
    /// is noise (run ids, timestamps) and is left out of the verdict.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub noise_runs: u8,
    /// Exit 15 when a table differs outside --allow (default: report only).
    #[arg(long)]
    pub fail_on_diff: bool,
    /// A table or table.column expected to change (repeatable).
    #[arg(long = "allow", value_name = "TABLE[.COLUMN]")]
    pub allow: Vec<String>,
    /// Numbers within this absolute difference match (all tables).
    #[arg(long, default_value_t = 0.0)]
    pub abs_tolerance: f64,
    /// Numbers within this relative difference match (all tables), e.g. 1e-9.
    #[arg(long, default_value_t = 0.0)]
    pub rel_tolerance: f64,
    /// A column left out of every table's comparison (repeatable).
    #[arg(long = "skip-column", value_name = "COLUMN")]
    pub skip_columns: Vec<String>,
    /// Also copy the reports (compare.html, .json, .md) into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// ---- value parsers: each says exactly what is wrong with the value ----

/// An env name: a lowercase DNS label of 1-30 characters.
pub fn env_name(raw: &str) -> Result<String, String> {
    crate::env::EnvName::parse(raw).map(|n| n.as_str().to_string())
}

/// A lease or cap such as 90s, 30m, 2h, 1h30m: positive, never negative.
pub fn lease_duration(raw: &str) -> Result<Duration, String> {
    let trimmed = raw.trim();
    if trimmed.starts_with('-') {
        return Err(
            "negative durations would put the deadline in the past (use e.g. 30m, 2h)".to_string(),
        );
    }
    let d = humantime::parse_duration(trimmed)
        .map_err(|e| format!("invalid lease {raw:?}: {e} (use e.g. 90s, 30m, 2h, 1h30m)"))?;
    if d.is_zero() {
        return Err("a lease must be longer than zero".into());
    }
    Ok(d)
}

/// `new`, `existing` or `snapshot:NAME` (NAME: a Redshift snapshot
/// identifier: a letter first, letters, digits and single hyphens, at most
/// 255, not ending with a hyphen; `rs:` for an automated snapshot).
pub fn warehouse_choice(raw: &str) -> Result<WarehouseChoice, String> {
    match raw {
        "new" => return Ok(WarehouseChoice::New),
        "existing" => return Ok(WarehouseChoice::Existing),
        _ => {}
    }
    let Some(name) = raw.strip_prefix("snapshot:") else {
        return Err(format!("{raw:?}: expected new, existing or snapshot:NAME"));
    };
    let bare = name.strip_prefix("rs:").unwrap_or(name);
    let ok = !bare.is_empty()
        && bare.len() <= 255
        && bare.starts_with(|c: char| c.is_ascii_alphabetic())
        && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !bare.contains("--")
        && !bare.ends_with('-');
    if !ok {
        return Err(format!(
            "{name:?} is not a Redshift snapshot identifier (a letter first, then letters, digits and single hyphens, at most 255, not ending with a hyphen)"
        ));
    }
    Ok(WarehouseChoice::Snapshot(name.to_string()))
}

/// `--backstop-grace`: whole hours and/or minutes (30m, 1h, 1h30m, 90m),
/// 10m to 24h, the bounds terraform/aws's `backstop_grace` validates.
pub fn backstop_grace(raw: &str) -> Result<BackstopGrace, String> {
    let trimmed = raw.trim();
    let hint = "use whole hours and/or minutes between 10m and 24h, e.g. 30m, 1h, 1h30m";
    if trimmed.starts_with('-') {
        return Err(format!(
            "a negative grace would fire the backstops before the lease ends ({hint})"
        ));
    }
    let d = humantime::parse_duration(trimmed)
        .map_err(|e| format!("invalid grace {raw:?}: {e} ({hint})"))?;
    if d.subsec_nanos() != 0 || d.as_secs() % 60 != 0 {
        return Err(format!("{raw:?} is not whole minutes ({hint})"));
    }
    if d < Duration::from_secs(600) || d > Duration::from_secs(24 * 3600) {
        return Err(format!(
            "{raw:?} is outside 10m-24h: shorter races the reaper's destroy, longer keeps a forgotten env billing ({hint})"
        ));
    }
    let (h, m) = (d.as_secs() / 3600, d.as_secs() % 3600 / 60);
    let terraform = match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    };
    Ok(BackstopGrace {
        duration: d,
        terraform,
    })
}

/// The tag sweep's margin past `expires_at`: 0s or more (e.g. 10m, 1h).
pub fn sweep_margin(raw: &str) -> Result<Duration, String> {
    let trimmed = raw.trim();
    if trimmed.starts_with('-') {
        return Err(
            "a negative margin would sweep envs before their deadline (use e.g. 10m)".into(),
        );
    }
    humantime::parse_duration(trimmed)
        .map_err(|e| format!("invalid margin {raw:?}: {e} (use e.g. 0s, 10m, 1h)"))
}

/// A name of 1..=`max` characters, each a letter, a digit or one of `extra`;
/// `what` and `rule` make the message ("a DAG id", "letters, digits, ...").
fn restricted_name(
    raw: &str,
    max: usize,
    extra: &str,
    what: &str,
    rule: &str,
) -> Result<String, String> {
    if raw.is_empty() || raw.len() > max {
        return Err(format!("{what} has 1-{max} characters"));
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)))
    {
        Some(c) => Err(format!("{c:?} is not allowed in {what} ({rule})")),
        None => Ok(raw.to_string()),
    }
}

/// An env's owner as `up` records it: letters, digits, '.', '_', '-', '@'.
pub fn owner_name(raw: &str) -> Result<String, String> {
    restricted_name(
        raw,
        128,
        "._-@",
        "an owner",
        "letters, digits, '.', '_', '-', '@', as `up` records it; `shadowops list` shows it",
    )
}

/// An Airflow DAG id: letters, digits, '.', '_' and '-' (Airflow's own rule).
pub fn dag_id(raw: &str) -> Result<String, String> {
    restricted_name(
        raw,
        250,
        "._-",
        "a DAG id",
        "letters, digits, '.', '_', '-'",
    )
}

/// The operator's IPv4 CIDR that may reach SSH (and, on AWS, nothing else
/// of the env): a network address (no host bits) of /16 or narrower.
pub fn operator_cidr(raw: &str) -> Result<String, String> {
    let expected = "expected an IPv4 CIDR like 203.0.113.7/32";
    let (ip, len) = raw.split_once('/').ok_or(expected)?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| expected)?;
    let len: u32 = len.parse().map_err(|_| expected)?;
    if len > 32 {
        return Err(expected.into());
    }
    if len < 16 {
        return Err(format!(
            "/{len} would open SSH to {} addresses; give your own address (/32) or a /16 at most",
            if len == 0 {
                "the whole internet".to_string()
            } else {
                format!("2^{}", 32 - len)
            }
        ));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let net = u32::from(ip) & mask;
    if net != u32::from(ip) {
        return Err(format!(
            "{raw} has host bits set; the network is {}/{len}",
            std::net::Ipv4Addr::from(net)
        ));
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_networks_of_a_sane_size() {
        assert!(operator_cidr("203.0.113.7/32").is_ok());
        assert!(operator_cidr("10.20.0.0/16").is_ok());
        assert!(operator_cidr("0.0.0.0/0")
            .unwrap_err()
            .contains("whole internet"));
        assert!(operator_cidr("10.0.0.0/8").unwrap_err().contains("/8"));
        assert!(operator_cidr("203.0.113.7/24")
            .unwrap_err()
            .contains("203.0.113.0/24"));
        for bad in ["203.0.113.7", "300.1.1.1/32", "1.2.3.4/33", "x/32", ""] {
            assert!(operator_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_dag_ids() {
        assert_eq!(lease_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(lease_duration("-5m").unwrap_err().contains("negative"));
        assert!(lease_duration("0s")
            .unwrap_err()
            .contains("longer than zero"));
        assert!(lease_duration("soon")
            .unwrap_err()
            .contains("invalid lease"));
        assert!(dag_id("shadow_pipeline").is_ok());
        assert!(dag_id("a b").is_err() && dag_id("").is_err() && dag_id("x/y").is_err());
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut full = vec!["shadowops"];
        full.extend(args);
        Cli::try_parse_from(full).map(|c| c.command)
    }

    #[test]
    fn warehouse_choices() {
        assert_eq!(warehouse_choice("new").unwrap(), WarehouseChoice::New);
        assert_eq!(
            warehouse_choice("existing").unwrap(),
            WarehouseChoice::Existing
        );
        assert_eq!(
            warehouse_choice("snapshot:prod-nightly-2026-12-06").unwrap(),
            WarehouseChoice::Snapshot("prod-nightly-2026-12-06".into())
        );
        assert_eq!(
            warehouse_choice("snapshot:rs:prod-2026-12-06-03-00")
                .unwrap()
                .mode(),
            "snapshot"
        );
        for bad in [
            "shared",
            "snapshot:",
            "snapshot:1abc",
            "snapshot:a--b",
            "snapshot:a-",
            "snapshot:a;drop",
            "snapshot:a b",
        ] {
            assert!(warehouse_choice(bad).is_err(), "{bad}");
        }
        match parse(&["up", "--target", "aws"]).unwrap() {
            Command::Up(a) => {
                assert_eq!(a.warehouse, WarehouseChoice::New);
                assert!(a.backstop_grace.is_none());
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&["up", "--warehouse", "snapshot:bad name"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn backstop_graces_are_whole_minutes_from_10m_to_24h() {
        let g = |s: &str| backstop_grace(s).map(|g| g.terraform);
        assert_eq!(g("30m").unwrap(), "30m");
        assert_eq!(g("1h").unwrap(), "1h");
        assert_eq!(g("90m").unwrap(), "1h30m");
        assert_eq!(g("1h 30m").unwrap(), "1h30m");
        assert_eq!(g("10m").unwrap(), "10m");
        assert_eq!(g("24h").unwrap(), "24h");
        assert!(g("5m").unwrap_err().contains("outside 10m-24h"));
        assert!(g("25h").unwrap_err().contains("outside 10m-24h"));
        assert!(g("30m30s").unwrap_err().contains("whole minutes"));
        assert!(g("-30m").unwrap_err().contains("negative"));
        assert!(g("soon").unwrap_err().contains("invalid grace"));
        let e = parse(&["up", "--target", "aws", "--backstop-grace", "5m"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("outside 10m-24h"), "{e}");
    }

    #[test]
    fn reap_takes_a_target_a_margin_and_json() {
        match parse(&["reap"]).unwrap() {
            Command::Reap {
                dry_run,
                target,
                margin,
                json,
            } => {
                assert!(!dry_run && !json);
                assert_eq!(target, Target::Local);
                assert_eq!(margin, Duration::from_secs(600));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "reap",
            "--target",
            "aws",
            "--dry-run",
            "--margin",
            "0s",
            "--json",
        ])
        .unwrap()
        {
            Command::Reap {
                dry_run,
                target,
                margin,
                json,
            } => {
                assert!(dry_run && json);
                assert_eq!(target, Target::Aws);
                assert_eq!(margin, Duration::ZERO);
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&["reap", "--target", "aws", "--margin", "-5m"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("negative margin"), "{e}");
        assert!(parse(&["reap", "--target", "gcp"]).is_err());
    }

    #[test]
    fn destroy_takes_a_target_and_an_owner() {
        match parse(&[
            "destroy", "--env", "demo", "--target", "aws", "--owner", "alice",
        ])
        .unwrap()
        {
            Command::Destroy {
                env,
                target,
                owner,
                json,
            } => {
                assert_eq!(env.name, "demo");
                assert_eq!(target, Some(Target::Aws));
                assert_eq!(owner.as_deref(), Some("alice"));
                assert!(!json);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["destroy", "--env", "demo"]).unwrap() {
            Command::Destroy { target, owner, .. } => {
                assert!(target.is_none() && owner.is_none())
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&[
            "destroy", "--env", "demo", "--target", "aws", "--owner", "a b",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("not allowed in an owner"), "{e}");
        assert!(owner_name("bob@example.com").is_ok() && owner_name("").is_err());
    }
}
