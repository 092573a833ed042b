//! Logs, metrics, progress and the process's own resource use. Every long batch command reports progress
//! through [`Progress`]: a bar with rate and ETA on a terminal, nothing while running otherwise.

pub mod metrics;
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

/// The process's peak resident memory so far (`VmHWM`), where the OS reports it (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_peak_rss(&status)
}

fn parse_peak_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_from_the_status_file() {
        assert_eq!(parse_peak_rss("Name:\tx\nVmPeak:\t  9 kB\nVmHWM:\t   2048 kB\nVmRSS: 1 kB\n"), Some(2048 * 1024));
        assert_eq!(parse_peak_rss("VmRSS: 1 kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().is_some_and(|b| b > 1 << 20), "this test process holds more than 1 MiB");
        }
    }
}
