//! The command line: one file per subcommand. This is the only place that assembles a pipeline
//! from its parts.

mod auth;
mod bench;
mod config;
mod generate;
mod ingest;
mod lag;
mod lake;
mod log;
mod process;
mod quickstart;
mod run;
mod serve;
mod sql;
mod validate;

use crate::config::{Config, ConfigErrors};
use crate::model::{Clock, SystemClock, Validator};
use crate::telemetry::{LogFormat, init_logging};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit status for configuration problems (sysexits' EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

#[derive(Parser, Debug)]
#[command(
    name = "streamify",
    version,
    about = "Real-time e-commerce analytics and fraud detection",
    propagate_version = true
)]
pub struct Cli {
    /// Where the log, checkpoints and lake live.
    #[arg(long, global = true, env = "STREAMIFY_DATA_DIR", default_value = "./streamify-data")]
    pub data_dir: PathBuf,

    /// A TOML file over the embedded defaults (see config/default.toml).
    #[arg(long, global = true, env = "STREAMIFY_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Live shop traffic, processed into the Delta lake as it arrives, on one machine with
    /// nothing installed. Ctrl-C stops cleanly.
    Quickstart(quickstart::Args),
    /// Generate realistic shop traffic (transactions + clickstream) onto the bus or into a file.
    Generate(generate::Args),
    /// Ingest JSON-lines or CSV files (or directories of them) onto the bus.
    Ingest(ingest::Args),
    /// Inspect the embedded log.
    #[command(subcommand)]
    Log(log::Command),
    /// The stream processor: score, aggregate and land the bus in the Delta lake.
    Process(process::Args),
    /// The long-running service of a configured deployment (stops cleanly on SIGTERM).
    Run(run::Args),
    /// Whole-pipeline figures on this machine (core, pipeline, latency, memory and restart).
    Bench(bench::Args),
    /// The HTTP server alone: dashboard, REST API, ingest onto the bus, SQL, /metrics.
    Serve(serve::Args),
    /// Credentials for the HTTP server: API tokens, password hashes, JWTs.
    #[command(subcommand)]
    Auth(auth::Command),
    /// Show the effective configuration (secrets redacted).
    #[command(subcommand)]
    Config(config::Command),
    /// Run SQL over the lake's tables (interactive without a query).
    Sql(sql::Args),
    /// List, compact and vacuum the lake's Delta tables.
    #[command(subcommand)]
    Lake(lake::Command),
    /// Check the configuration and the data dir; exit 0, or 78 listing every problem.
    Validate(validate::Args),
}

/// What every subcommand gets: the validated configuration, the data dir and the clock.
pub struct Context {
    pub config: Config,
    /// The `--config` file, if one was given (watched for fraud-rule reloads).
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub clock: Arc<dyn Clock>,
}

impl Context {
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("log")
    }

    /// Opens (creating if needed) the embedded log under the data dir, recovering a torn tail.
    pub fn open_log(&self) -> anyhow::Result<crate::bus::log::Log> {
        use anyhow::Context as _;
        crate::bus::log::Log::open(&self.log_dir(), self.config.bus.partitions, &self.config.bus.log)
            .with_context(|| format!("opening the log in {}", self.log_dir().display()))
    }

    /// The validator for incoming events.
    pub fn validator(&self) -> Validator {
        Validator::new(self.clock.clone(), self.config.validation.max_future, self.config.pseudonymizer())
    }
}

/// Parses arguments, runs the command and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            if let Some(config) = error.downcast_ref::<ConfigErrors>() {
                eprintln!("error: {config}");
                return ExitCode::from(EXIT_CONFIG);
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Validate(args) = &cli.command {
        return Ok(validate::run(&cli, args));
    }
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    let ctx = Context {
        config,
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        clock: Arc::new(SystemClock),
    };
    match cli.command {
        Command::Generate(args) => generate::run(&ctx, args)?,
        Command::Ingest(args) => ingest::run(&ctx, args)?,
        Command::Log(command) => log::run(&ctx, command)?,
        Command::Quickstart(args) => quickstart::run(&ctx, args)?,
        Command::Process(args) => process::run(&ctx, args)?,
        Command::Run(args) => run::run(&ctx, args)?,
        Command::Bench(args) => bench::run(&ctx, args)?,
        Command::Serve(args) => serve::run(&ctx, args)?,
        Command::Auth(command) => auth::run(&ctx, command)?,
        Command::Config(command) => config::run(&ctx, command)?,
        Command::Sql(args) => sql::run(&ctx, args)?,
        Command::Lake(command) => lake::run(&ctx, command)?,
        Command::Validate(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}
