//! `streamify process`: the stream processor over the embedded log, landing the Delta lake.
//!
//! Also the assembly the other long-running commands (`run`, `quickstart`) share: the processor
//! built from the configuration, stopped cleanly (final epoch and checkpoint) on Ctrl-C or
//! SIGTERM, and a status line.

use crate::bus::Consumer as _;
use crate::config::Config;
use crate::model::topic;
use crate::sink::Lake;
use crate::sink::tables::LakeTables;
use crate::stream::runtime::{Counters, Parts, Processor, Reload, RunOptions, Status, checkpoints_dir};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stop once the log is drained, taking its end as the end of the stream: every window and
    /// session that holds data is emitted, then a final epoch is committed.
    #[arg(long)]
    pub until_caught_up: bool,

    /// Print the final figures as a JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The processor as configured, restored from its last checkpoint.
pub fn open_processor(ctx: &super::Context) -> anyhow::Result<Processor> {
    open_processor_on(ctx, &ctx.open_log()?)
}

/// The same on a log the process already has open: producers of one process must share it
/// (each partition has one writer per process).
pub fn open_processor_on(ctx: &super::Context, log: &crate::bus::log::Log) -> anyhow::Result<Processor> {
    let config = &ctx.config;
    let app_id = config.stream.app_id.clone();
    let consumer = log
        .consumer(&app_id, &[topic::TRANSACTIONS, topic::CLICKSTREAM])
        .context("opening the processor's consumer")?;
    let transaction_partitions =
        consumer.assignment().iter().filter(|tp| tp.topic == topic::TRANSACTIONS).count() as u32;
    let lake_dir = ctx.data_dir.join("lake");
    let lake = Lake::open(&lake_dir).with_context(|| format!("opening the lake in {}", lake_dir.display()))?;
    let processor = Processor::open(Parts {
        config: config.stream.clone(),
        fraud: config.fraud.clone(),
        validator: ctx.validator(),
        clock: ctx.clock.clone(),
        consumer: Box::new(consumer),
        producer: Box::new(log.producer()),
        tables: Box::new(LakeTables::open(lake)?),
        checkpoints: checkpoints_dir(&ctx.data_dir, &app_id),
        transaction_partitions,
    })?;
    Ok(processor)
}

/// A flag set by Ctrl-C or SIGTERM.
pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    Ok(stop)
}

/// Final figures of a run.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    pub transactions: u64,
    pub clicks: u64,
    pub dead_letters: u64,
    pub alerts: u64,
    pub late_events: u64,
    pub windows_closed: u64,
    pub epoch: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// State at the end: customers remembered by fraud scoring, open windows and sessions.
    pub customers: usize,
    pub open_windows: usize,
    pub open_sessions: usize,
    /// The process's peak resident memory (Linux).
    pub peak_rss_bytes: Option<u64>,
}

impl Summary {
    /// The figures of `status`, with the rate of what was processed since `since`.
    pub fn new(status: &Status, since: &Counters, seconds: f64) -> Self {
        let c = &status.counters;
        let events = (c.transactions + c.clicks + c.dead_letters)
            .saturating_sub(since.transactions + since.clicks + since.dead_letters);
        Summary {
            transactions: c.transactions,
            clicks: c.clicks,
            dead_letters: c.dead_letters,
            alerts: c.alerts,
            late_events: c.late_events,
            windows_closed: c.windows_closed,
            epoch: status.committed_epoch,
            seconds,
            events_per_second: if seconds > 0.0 { events as f64 / seconds } else { 0.0 },
            customers: status.customers,
            open_windows: status.open_windows,
            open_sessions: status.open_sessions,
            peak_rss_bytes: crate::telemetry::peak_rss_bytes(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "processed {} transactions and {} click events ({} dead letters) in {:.1}s ({:.0} events/s): \
             {} alerts, {} windows closed, {} late events; epoch {} committed; {} customers in state{}",
            self.transactions,
            self.clicks,
            self.dead_letters,
            self.seconds,
            self.events_per_second,
            self.alerts,
            self.windows_closed,
            self.late_events,
            self.epoch,
            self.customers,
            self.peak_rss_bytes.map_or(String::new(), |b| format!(", peak memory {} MiB", b >> 20))
        )
    }
}

/// One status line: totals, rates since the previous line, and the last checkpoint.
pub struct StatusLine {
    last: Option<(Instant, u64)>,
    every: Duration,
    printed: Instant,
}

impl StatusLine {
    pub fn new(every: Duration) -> Self {
        StatusLine { last: None, every, printed: Instant::now() }
    }

    /// The line to print now, if it is time for one.
    pub fn line(&mut self, s: &Status, lag: Option<u64>) -> Option<String> {
        if self.last.is_some() && self.printed.elapsed() < self.every {
            return None;
        }
        let c = &s.counters;
        let events = c.transactions + c.clicks + c.dead_letters;
        let now = Instant::now();
        let rate = match self.last {
            Some((at, n)) => (events - n.min(events)) as f64 / now.duration_since(at).as_secs_f64().max(1e-3),
            None => 0.0,
        };
        self.last = Some((now, events));
        self.printed = now;
        let lag = lag.map_or(String::new(), |l| format!(", lag {l}"));
        let wm = s.watermark.map_or("-".to_string(), |w| w.to_string());
        Some(format!(
            "{rate:>8.0} events/s | {} tx, {} clicks | {} alerts | {} dead letters, {} late | watermark {wm} | \
             checkpoint epoch {}{lag}",
            c.transactions, c.clicks, c.alerts, c.dead_letters, c.late_events, s.committed_epoch
        ))
    }
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    let processor = open_processor(ctx)?;
    let stop = stop_on_signals()?;
    let started = Instant::now();
    let interactive = std::io::stderr().is_terminal() && !args.json;
    let mut status_line = StatusLine::new(Duration::from_secs(5));
    let since = processor.counters().clone();
    let meter = interactive.then(|| super::lag::LagMeter::start(&ctx.log_dir()));
    let on_status = Box::new(move |s: &Status| {
        if let Some(meter) = &meter
            && let Some(line) = status_line.line(s, meter.lag(s))
        {
            eprintln!("{line}");
        }
    });
    let resumed = processor.epoch();
    if resumed > 0 {
        tracing::info!(epoch = resumed, "resuming from checkpoint");
    }
    let reload = rules_reloader(ctx);
    let status =
        processor.run(RunOptions { until_caught_up: args.until_caught_up, stop, on_status, reload, tap: None })?;
    let summary = Summary::new(&status, &since, started.elapsed().as_secs_f64());
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// Fraud rules reloaded from the `--config` file when it changes (checked about once a second):
/// the file is read again with the environment on top, as at start. An invalid edit is reported
/// and ignored; the rules in effect stay.
pub fn rules_reloader(ctx: &super::Context) -> Option<Reload> {
    let path = ctx.config_file.clone()?;
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    Some(Box::new(move || {
        let now = modified(&path);
        if now == seen {
            return None;
        }
        seen = now;
        match Config::load(Some(&path), std::env::vars()) {
            Ok(config) => {
                tracing::info!(file = %path.display(), version = config.fraud.version(), "fraud rules reloaded; in effect from the next epoch");
                Some(config.fraud)
            }
            Err(error) => {
                tracing::error!(file = %path.display(), %error, "the edited configuration is invalid; the rules in effect stay");
                None
            }
        }
    }))
}
