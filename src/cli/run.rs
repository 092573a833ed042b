//! `streamify run`: the long-running service of a configured deployment: the stream processor
//! and the HTTP server (dashboard, API, ingest, `/metrics`); the scheduler joins them in a later
//! release. It stops cleanly on SIGTERM or Ctrl-C (final epoch and checkpoint, then the server
//! after requests in flight) and logs its status every 30 s.

use super::process::{StatusLine, Summary, open_processor_on, rules_reloader, stop_on_signals};
use super::serve::{ServerArgs, Service};
use crate::stream::runtime::{RunOptions, Status};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Do not start the HTTP server.
    #[arg(long)]
    pub no_serve: bool,
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    let stop = stop_on_signals()?;
    let log = ctx.open_log()?;
    let processor = open_processor_on(ctx, &log)?;
    let service = if args.no_serve { None } else { Some(Service::start(ctx, &args.server, Some(&log), true)?) };
    if let Some(service) = &service {
        tracing::info!("{}", service.banner());
    }
    let since = processor.counters().clone();
    tracing::info!(data_dir = %ctx.data_dir.display(), epoch = processor.epoch(), "streamify run: processor started");
    let mut status_line = StatusLine::new(Duration::from_secs(30));
    let mut report = service.as_ref().map(|s| s.reporter());
    let on_status = Box::new(move |s: &Status| {
        if let Some(report) = report.as_mut() {
            report(s, None);
        }
        if let Some(line) = status_line.line(s, None) {
            tracing::info!("{line}");
        }
    });
    let started = Instant::now();
    let tap = service.as_ref().map(Service::tap);
    let result =
        processor.run(RunOptions { until_caught_up: false, stop, on_status, reload: rules_reloader(ctx), tap });
    if let Some(service) = service {
        service.stop()?;
    }
    let status = result?;
    tracing::info!("{}", Summary::new(&status, &since, started.elapsed().as_secs_f64()));
    Ok(())
}
