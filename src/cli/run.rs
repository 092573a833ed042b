//! `streamify run`: the long-running service of a configured deployment: the stream processor
//! and the HTTP server (dashboard, API, ingest, `/metrics`); the scheduler joins them in a later
//! release. It stops cleanly on SIGTERM or Ctrl-C (final epoch and checkpoint, then the server
//! after requests in flight) and logs its status every 30 s. A processor that stops on an error
//! that may pass (a full disk, an unavailable bus) is reopened from its checkpoint after a wait
//! (1 s, doubling up to 60 s) while the server goes on serving and accepting what the log takes.

use super::lag::LagMeter;
use super::process::{StatusLine, Summary, open_processor_on, rules_reloader, stop_on_signals};
use super::serve::{ServerArgs, Service};
use crate::stream::runtime::{RunOptions, Status};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Do not start the HTTP server.
    #[arg(long)]
    pub no_serve: bool,
}

/// The first wait before reopening a processor that stopped on an error that may pass; it
/// doubles up to [`RESTART_MAX`].
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    let stop = stop_on_signals()?;
    let log = ctx.open_log()?;
    let mut processor = open_processor_on(ctx, &log)?;
    let service = if args.no_serve { None } else { Some(Service::start(ctx, &args.server, Some(&log), true)?) };
    if let Some(service) = &service {
        tracing::info!("{}", service.banner());
    }
    let since = processor.counters().clone();
    let started = Instant::now();
    let mut wait = RESTART_MIN;
    // A processor that stops on an error that may pass (a full disk, say) is reopened from its
    // checkpoint after a growing wait, while the server keeps serving (and /readyz says not ready).
    let result = loop {
        tracing::info!(data_dir = %ctx.data_dir.display(), epoch = processor.epoch(), "streamify run: processor started");
        let mut status_line = StatusLine::new(Duration::from_secs(30));
        let mut report = service.as_ref().map(|s| s.reporter());
        let meter = LagMeter::start(&ctx.log_dir());
        let on_status = Box::new(move |s: &Status| {
            let lag = meter.lag(s);
            if let Some(report) = report.as_mut() {
                report(s, lag);
            }
            if let Some(line) = status_line.line(s, lag) {
                tracing::info!("{line}");
            }
        });
        let tap = service.as_ref().map(Service::tap);
        let options =
            RunOptions { until_caught_up: false, stop: stop.clone(), on_status, reload: rules_reloader(ctx), tap };
        let ran = Instant::now();
        let error = match processor.run(options) {
            Ok(status) => break Ok(Some(status)),
            Err(error) if error.retryable() => error,
            Err(error) => break Err(anyhow::Error::from(error)),
        };
        if let Some(service) = &service {
            service.live.stopped();
        }
        if ran.elapsed() > RESTART_MAX {
            wait = RESTART_MIN;
        }
        match reopen(ctx, &log, &stop, &mut wait, &error) {
            Some(next) => processor = next,
            None => break Ok(None),
        }
    };
    if let Some(service) = service {
        service.stop()?;
    }
    if let Some(status) = result? {
        tracing::info!("{}", Summary::new(&status, &since, started.elapsed().as_secs_f64()));
    }
    Ok(())
}

/// Waits, then reopens the processor from its checkpoint, as long as it takes; `None` when
/// stopped meanwhile.
fn reopen(
    ctx: &super::Context,
    log: &crate::bus::log::Log,
    stop: &AtomicBool,
    wait: &mut Duration,
    error: &dyn std::fmt::Display,
) -> Option<crate::stream::runtime::Processor> {
    tracing::error!(%error, retry_in = ?*wait, "the processor stopped; it resumes from its last checkpoint");
    loop {
        let until = Instant::now() + *wait;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        *wait = (*wait * 2).min(RESTART_MAX);
        match open_processor_on(ctx, log) {
            Ok(processor) => return Some(processor),
            Err(error) => tracing::error!(error = format!("{error:#}"), retry_in = ?*wait, "reopening the processor"),
        }
    }
}
