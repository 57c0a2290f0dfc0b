//! The phases of `up`, one module each with one entry point `run(ctx, ...)`,
//! in the order of the README: vars -> provision -> handoff -> configure ->
//! pipeline -> lease. Each reads only what the phase before it wrote (the
//! env directory, or the value it returned) and records its outcome in
//! env.json through the shared context.

pub mod configure;
pub mod handoff;
pub mod lease;
pub mod migrate;
pub mod pipeline;
pub mod provision;
pub mod vars;

use crate::cli::{OnFailure, UntilPhase, UpArgs};
use crate::env::{self, EnvDir, EnvState, PhaseRecord, Status};
use crate::error::Failure;
use crate::report::{Detail, FailureReport, Phase};
use crate::runrec::Run;
use crate::supervise::Probe;
use crate::tools::Tools;
use anyhow::{anyhow, Result};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Everything an `up` knows once its input is validated; what the phases share.
pub struct Ctx {
    /// Held for the whole run: one `up` (or `compare`) per env at a time.
    pub _lock: crate::env::EnvLock,
    pub args: UpArgs,
    pub dir: EnvDir,
    pub home: PathBuf,
    pub assets: PathBuf,
    pub tools: Tools,
    pub lease: Duration,
    /// The staged (deployable) copy of the pipeline folder.
    pub pipeline_src: PathBuf,
    /// Its contract (shadowops.toml), `--dag-id` applied.
    pub spec: crate::pipeline_folder::Spec,
    /// `shadowops compare`: the warehouse schema this run of the pipeline
    /// works in and the run's label (base, change, noise1...); None for `up`.
    pub schema: Option<String>,
    pub run_label: Option<String>,
    pub state: EnvState,
    pub run: Run,
    pub force_from: Option<Phase>,
    pub var_file: Option<PathBuf>,
    /// What configure did in this run: its input digest and changed count.
    pub configured: Option<(String, u64)>,
    /// Airflow's API as this run reaches it, opened once (a tunnel on AWS).
    pub airflow: Option<(String, Option<crate::tunnel::Tunnel>)>,
    /// local `--image auto`: the host came from the base image because no
    /// software cache exists for this stamp; one is made once `up` succeeds.
    pub build_host_cache: bool,
    /// Airflow's health, waited for on a thread since the play ended
    /// (configure); joined by the first step that needs Airflow.
    pub airflow_boot: Option<configure::AirflowBoot>,
}

impl Ctx {
    /// A client for the env's Airflow: direct, or through the SSH tunnel the
    /// contract asks for (opened on first use, closed when the run ends).
    pub fn airflow(&mut self, shadow: &crate::contract::Shadow) -> Result<crate::airflow::Airflow> {
        if self.airflow.is_none() {
            self.airflow = Some(crate::tunnel::airflow(&self.dir, shadow, &self.run.dir)?);
        }
        let (url, _) = self.airflow.as_ref().expect("set above");
        Ok(crate::airflow::Airflow::new(url))
    }

    pub fn until(&self, phase: UntilPhase) -> bool {
        self.args.until.is_some_and(|u| u == phase)
    }

    pub fn forced(&self, phase: Phase) -> bool {
        self.force_from.is_some_and(|f| f <= phase)
    }

    /// Run one phase: progress header, duration in summary and env.json.
    pub fn timed<T>(&mut self, phase: Phase, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        crate::supervise::check_interrupted()?;
        let start = Instant::now();
        let out = f(self);
        let secs = start.elapsed().as_secs_f64();
        let outcome = match &out {
            Ok(_) => "ok",
            Err(e) if matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted)) => {
                "interrupted"
            }
            Err(_) => "failed",
        };
        self.run.phase(phase, outcome, secs, None);
        self.state.durations.insert(phase.as_str().into(), secs);
        let _ = self.dir.save_state(&self.state);
        out
    }

    pub fn mark(&mut self, phase: Phase, digest: String, secs: f64) -> Result<()> {
        self.state.phases.insert(
            phase.as_str().into(),
            PhaseRecord {
                digest,
                completed_at: Some(SystemTime::now()),
                duration_s: secs,
            },
        );
        self.state.updated_at = Some(SystemTime::now());
        self.dir.save_state(&self.state)
    }

    /// Record a phase failure in env.json and build the located report.
    pub fn fail(&mut self, report: FailureReport, log: Option<PathBuf>) -> anyhow::Error {
        // A step that failed because Ctrl-C stopped it was interrupted, not
        // broken: exit 130 and an env that says so (finish records it).
        if crate::supervise::interrupted() {
            return Failure::Interrupted.into();
        }
        let keep = self.on_failure() == OnFailure::Keep;
        let report = report.locate(self.dir.name.as_str(), self.run.dir.clone(), log, keep);
        self.state.last_failure = Some(env::LastFailure {
            phase: report.phase,
            message: report.summary.clone(),
            run: self.run.id.clone(),
            at: Some(SystemTime::now()),
        });
        self.state.status = Status::Failed;
        let _ = self.dir.save_state(&self.state);
        let _ = std::fs::write(
            self.run.file("failure.json"),
            serde_json::to_vec_pretty(&report).unwrap_or_default(),
        );
        Failure::Phase(Box::new(report)).into()
    }

    pub fn on_failure(&self) -> OnFailure {
        self.args.on_failure.unwrap_or(if in_ci() {
            OnFailure::Destroy
        } else {
            OnFailure::Keep
        })
    }
}

/// `CI` is set (CircleCI, GitHub Actions...): a machine thrown away after
/// the job.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

pub fn message_detail(e: &anyhow::Error) -> Detail {
    match e.downcast_ref::<crate::supervise::ProcessError>() {
        Some(p) => Detail::Message {
            message: format!("`{}` failed ({})", p.command, p.status),
            tail: p.stderr_tail.clone(),
        },
        None => Detail::Message {
            message: format!("{e:#}"),
            tail: Vec::new(),
        },
    }
}

/// Wait for the SSH banner (not just an open port): sshd accepts connections
/// a moment before it can answer. Bounded backoff.
pub fn wait_ssh(host: &str, port: u16, limit: Duration) -> Result<()> {
    use std::io::Read;
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("cannot resolve {host}"))?;
    crate::supervise::wait(
        &format!("SSH banner from {addr}"),
        limit,
        Duration::from_millis(300),
        move || match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                let mut buf = [0u8; 8];
                match s.read(&mut buf) {
                    Ok(n) if n >= 4 && &buf[..4] == b"SSH-" => Probe::Ready(()),
                    Ok(_) => Probe::Pending("no SSH banner".into()),
                    Err(e) => Probe::Pending(e.to_string()),
                }
            }
            Err(e) => Probe::Pending(e.to_string()),
        },
    )
}

/// Bound of the readiness waits (SSH, Airflow): `SHADOWOPS_READY_TIMEOUT`
/// seconds, default 90.
pub fn ready_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("SHADOWOPS_READY_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(90),
    )
}
