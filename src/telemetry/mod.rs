//! Logs and progress reporting. Every long batch command reports progress through
//! [`Progress`]: a bar with rate and ETA on a terminal, nothing while running otherwise.

mod progress;

pub use progress::Progress;

use std::io::IsTerminal;

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Streamify's own messages from `info`, the libraries' (Delta, DataFusion) from `warn`: their
/// `info` lines describe every snapshot and scan.
pub const DEFAULT_FILTER: &str = "warn,streamify=info";

/// Installs the global tracing subscriber: `RUST_LOG` filters (default [`DEFAULT_FILTER`]), lines go to
/// stderr so that stdout stays for results.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
