//! `streamify validate`: check the configuration and the data dir, report every problem at once.

use super::{Cli, EXIT_CONFIG};
use crate::config::Config;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &Args) -> ExitCode {
    let mut problems = Vec::new();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => Some(config),
        Err(errors) => {
            problems.extend(errors.0);
            None
        }
    };
    let mut notes = Vec::new();
    let log_dir = cli.data_dir.join("log");
    if !cli.data_dir.exists() {
        notes.push(format!("data dir {} does not exist yet; it is created on first use", cli.data_dir.display()));
    } else if !cli.data_dir.is_dir() {
        problems.push(format!("data dir {} is not a directory; pass another --data-dir", cli.data_dir.display()));
    } else if log_dir.exists() {
        let report = crate::bus::log::verify(&log_dir);
        problems.extend(report.problems);
        notes.extend(report.notes);
    }
    if config.as_ref().is_some_and(|c| c.privacy.email_key == Config::defaults().privacy.email_key) {
        notes.push(
            "privacy.email_key is the public development key; set STREAMIFY__PRIVACY__EMAIL_KEY in production".into(),
        );
    }
    if args.json {
        let report = serde_json::json!({ "ok": problems.is_empty(), "problems": problems, "notes": notes });
        println!("{report}");
    } else {
        for note in &notes {
            println!("note: {note}");
        }
        if problems.is_empty() {
            println!("ok: configuration and data dir {} are valid", cli.data_dir.display());
        } else {
            eprintln!("{} problem{} found:", problems.len(), if problems.len() == 1 { "" } else { "s" });
            for p in &problems {
                eprintln!("  - {p}");
            }
        }
    }
    if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_CONFIG) }
}
