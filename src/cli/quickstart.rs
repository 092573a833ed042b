//! `streamify quickstart`: a live shop on one machine with nothing installed.
//!
//! A generator thread produces shop traffic in real time (event time = wall-clock time) into the
//! embedded log while the processor scores, aggregates and lands it in the Delta lake; a status
//! line every few seconds shows the rate, alerts, lag and the last checkpoint. Ctrl-C (or
//! SIGTERM, or `--duration`) stops both cleanly: the generator's state and a final checkpoint are
//! written, so running it again continues where it stopped.

use super::process::{StatusLine, Summary, open_processor_on, rules_reloader, stop_on_signals};
use super::serve::{ServerArgs, Service};
use crate::generate::{BusSink, Generator, GeneratorState, RunOptions as GenerateOptions, World};
use crate::stream::runtime::{RunOptions, Status};
use anyhow::Context as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Simulated shop traffic in transactions per hour, shaped by hour of day and weekday (the
    /// default, 500000, is about 1,000 events/s with the clickstream).
    #[arg(long, default_value_t = 500_000.0)]
    pub transactions_per_hour: f64,

    /// Stop after this long, e.g. "30s" (default: run until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    #[command(flatten)]
    pub server: ServerArgs,

    /// Do not start the HTTP server (dashboard, API, /metrics).
    #[arg(long)]
    pub no_serve: bool,
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    if !(args.transactions_per_hour.is_finite() && args.transactions_per_hour > 0.0) {
        anyhow::bail!("--transactions-per-hour {}: use a positive number", args.transactions_per_hour);
    }
    let stop = stop_on_signals()?;
    let log = ctx.open_log()?;
    let state_path = GeneratorState::path(&ctx.data_dir);
    let (params, cursor) = match GeneratorState::load(&state_path)? {
        Some(state) => (state.params, Some(state.cursor)),
        None => {
            let mut p = ctx.config.generate.params(ctx.clock.as_ref());
            p.start = ctx.clock.now();
            p.transactions_per_hour = args.transactions_per_hour;
            (p, None)
        }
    };
    let world = Arc::new(World::build(&params, &ctx.config.pseudonymizer()));
    let mut generator = match &cursor {
        Some(c) => Generator::resume(params, world, c),
        None => Generator::new(params, world),
    };
    let options = GenerateOptions {
        transactions: None,
        duration: args.duration,
        rate: None,
        batch_events: ctx.config.generate.batch_events.min(4096),
        realtime: Some(ctx.clock.clone()),
        stop: Some(stop.clone()),
    };
    let producer = log.producer();
    let generator_thread = std::thread::Builder::new().name("generator".into()).spawn(move || {
        let mut sink = BusSink::new(producer);
        crate::generate::run(&mut generator, &mut sink, &options, Some(&state_path), &mut |_| {})
    })?;
    if let Some(d) = args.duration {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            stop.store(true, Ordering::Relaxed);
        });
    }

    let processor = open_processor_on(ctx, &log)?;
    let service = if args.no_serve { None } else { Some(Service::start(ctx, &args.server, Some(&log), true)?) };
    let since = processor.counters().clone();
    let lake = ctx.data_dir.join("lake");
    println!(
        "streamify quickstart: live shop traffic -> {} -> processor -> Delta lake in {}",
        ctx.log_dir().display(),
        lake.display()
    );
    if let Some(service) = &service {
        println!("{}", service.banner());
    }
    println!("Ctrl-C stops cleanly. Meanwhile, in another terminal: streamify sql \"select * from kpi_1m\"");
    let mut status_line = StatusLine::new(Duration::from_secs(3));
    let mut report = service.as_ref().map(|s| s.reporter());
    let meter = super::lag::LagMeter::start(&ctx.log_dir());
    let on_status = Box::new(move |s: &Status| {
        let lag = meter.lag(s);
        if let Some(report) = report.as_mut() {
            report(s, lag);
        }
        if let Some(line) = status_line.line(s, lag) {
            println!("{line}");
        }
    });
    let started = Instant::now();
    let result = processor.run(RunOptions {
        until_caught_up: false,
        stop: stop.clone(),
        on_status,
        reload: rules_reloader(ctx),
        tap: service.as_ref().map(Service::tap),
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(service) = service {
        service.stop()?;
    }
    let generated = generator_thread.join().map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    let status = result?;
    let generated = generated.context("generating traffic")?;
    println!("{generated}");
    println!("{}", Summary::new(&status, &since, started.elapsed().as_secs_f64()));
    println!("The lake is in {}; query it with `streamify sql`.", lake.display());
    Ok(())
}
