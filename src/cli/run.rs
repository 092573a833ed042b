//! `streamify run`: the long-running service of a configured deployment. For now that is the
//! stream processor; the HTTP server and the scheduler join it in later releases. It stops
//! cleanly on SIGTERM or Ctrl-C (final epoch and checkpoint) and logs its status every 30 s.

use super::process::{StatusLine, Summary, open_processor, rules_reloader, stop_on_signals};
use crate::stream::runtime::{RunOptions, Status};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(ctx: &super::Context, _args: Args) -> anyhow::Result<()> {
    let stop = stop_on_signals()?;
    let processor = open_processor(ctx)?;
    let since = processor.counters().clone();
    tracing::info!(data_dir = %ctx.data_dir.display(), epoch = processor.epoch(), "streamify run: processor started");
    let mut status_line = StatusLine::new(Duration::from_secs(30));
    let on_status = Box::new(move |s: &Status| {
        if let Some(line) = status_line.line(s, None) {
            tracing::info!("{line}");
        }
    });
    let started = Instant::now();
    let status = processor.run(RunOptions { until_caught_up: false, stop, on_status, reload: rules_reloader(ctx) })?;
    tracing::info!("{}", Summary::new(&status, &since, started.elapsed().as_secs_f64()));
    Ok(())
}
