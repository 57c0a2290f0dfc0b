//! shadowops: one-click throwaway shadow copies of the data platform.
//!
//! `main` stays thin: parse the arguments, run the command, map the outcome to
//! an exit code. Everything else lives in the modules below.

mod airflow;
mod ansible;
mod cli;
mod commands;
mod compare;
mod contract;
mod dag_run;
mod digest;
mod env;
mod error;
mod keys;
mod lease;
mod on_host;
mod paths;
mod phase;
mod phases;
mod pipeline_folder;
mod report;
mod run_page;
mod runrec;
mod supervise;
mod targets;
mod teardown;
mod terraform;
mod tools;
mod tunnel;
mod ui;
mod warehouse;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout with exit 0, usage errors with 2.
            let code = if e.use_stderr() { error::EXIT_USAGE } else { 0 };
            // A bad value is one line that names the flag, the value and
            // what is wrong with it (clap's own help hint adds nothing).
            if matches!(
                e.kind(),
                clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue
            ) {
                let text = e.to_string();
                eprintln!("{}", text.lines().next().unwrap_or("error: invalid value"));
            } else {
                let _ = e.print();
            }
            std::process::exit(code);
        }
    };
    ui::init(cli.verbose, cli.quiet);
    supervise::init();
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) => error::report_and_code(&err),
    };
    std::process::exit(code);
}
