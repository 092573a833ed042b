//! `streamify bench`: whole-pipeline figures on this machine, each in a fresh temporary data dir.
//!
//! - **core**: decode + validate + enrich + score + every window and session, in-process on one
//!   thread, from encoded events in memory to rows dropped at the sink (no I/O);
//! - **pipeline**: the embedded log -> processor -> bronze, silver and gold Delta tables, with
//!   checkpoints, until caught up;
//! - **latency**: a generator paced at `--rate` into the log while the processor runs live;
//!   event -> alert decision latency (stamped when the processor reads the record from the log)
//!   in an HdrHistogram.
//! - **memory**: a world of `--memory-customers` customers (default 1,330,000) and three times as
//!   many transactions (shoppers are not equally active: that many make about three in four of
//!   them active, so the default holds state for about 1,000,000 customers, the goal's figure),
//!   processed by a `streamify process --until-caught-up` child process: its peak resident
//!   memory, its largest checkpoint, the customers it holds state for; then the time a restart
//!   takes to be caught up again (median of `--runs` restarts).
//!
//! Each throughput figure is the median of `--runs` runs.

use super::process::open_processor;
use crate::bus::Producer;
use crate::bus::memory::MemoryBus;
use crate::generate::{BusSink, Generator, RunOptions as GenerateOptions, World};
use crate::model::topic;
use crate::stream::memory_tables::NullTables;
use crate::stream::runtime::{Parts, Processor, RunOptions, Status, checkpoints_dir};
use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Transactions per run (their clickstream comes on top).
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Runs per figure; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Simulated shop traffic for the core and pipeline runs, in transactions per hour of event
    /// time: how densely events fill the windows. The default is the quickstart's shop.
    #[arg(long, default_value_t = 500_000.0)]
    pub transactions_per_hour: f64,
    /// Customers in the generated world (the fraud state holds one entry per active customer).
    #[arg(long)]
    pub customers: Option<u32>,
    /// Events per second offered in the latency run (its event time follows the wall clock).
    #[arg(long, default_value_t = 50_000.0)]
    pub rate: f64,
    /// How long the latency run lasts.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub latency_duration: Duration,
    /// Customers in the memory run's world (it generates three times as many transactions; about
    /// three in four of the customers transact).
    #[arg(long, default_value_t = 1_330_000)]
    pub memory_customers: u32,
    /// Only these figures (core, pipeline, latency, memory); default all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Figures {
    pub events_per_run: u64,
    pub core_events_per_second: Option<f64>,
    pub pipeline_events_per_second: Option<f64>,
    pub latency: Option<Latency>,
    pub memory: Option<Memory>,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub customers_in_world: u32,
    pub transactions: u64,
    /// Customers the processor held fraud state for at the end.
    pub customers_in_state: u64,
    pub open_windows: u64,
    pub peak_rss_bytes: u64,
    pub largest_checkpoint_bytes: u64,
    pub processing_seconds: f64,
    /// Median time of a restart on the caught-up data dir until caught up again.
    pub restart_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub offered_events_per_second: f64,
    pub processed_events_per_second: f64,
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The longest time the processor did not read while busy (closing windows, handing rows
    /// to the committer, checkpointing).
    pub max_stall_us: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn wanted(args: &Args, figure: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| o == figure)
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    if !(args.transactions_per_hour.is_finite() && args.transactions_per_hour > 0.0) {
        anyhow::bail!("--transactions-per-hour {}: use a positive number", args.transactions_per_hour);
    }
    let mut config = ctx.config.clone();
    config.generate.transactions_per_hour = args.transactions_per_hour;
    if let Some(customers) = args.customers {
        config.generate.customers = customers;
    }
    let mut problems = Vec::new();
    config.check(&mut problems);
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
    let ctx = &super::Context { config, config_file: None, data_dir: ctx.data_dir.clone(), clock: ctx.clock.clone() };
    let runs = args.runs.max(1);
    let mut figures = Figures { events_per_run: 0, ..Figures::default() };
    if wanted(&args, "core") {
        let (events, bus) = memory_bus(ctx, args.events);
        figures.events_per_run = events;
        let rates = (0..runs).map(|_| core(ctx, &bus, events)).collect::<anyhow::Result<Vec<_>>>()?;
        eprintln!("core: {:?} events/s", rates.iter().map(|r| r.round()).collect::<Vec<_>>());
        figures.core_events_per_second = Some(median(rates));
    }
    if wanted(&args, "pipeline") {
        let rates = (0..runs).map(|_| pipeline(ctx, args.events)).collect::<anyhow::Result<Vec<_>>>()?;
        eprintln!("pipeline: {:?} events/s", rates.iter().map(|r| r.round()).collect::<Vec<_>>());
        figures.pipeline_events_per_second = Some(median(rates));
    }
    if wanted(&args, "latency") {
        figures.latency = Some(latency(ctx, args.rate, args.latency_duration)?);
    }
    if wanted(&args, "memory") {
        figures.memory = Some(memory(ctx, args.memory_customers, runs)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "transactions per run: {} (plus their clickstream) at {} per hour of event time, {} customers, medians of {runs} runs",
            args.events, args.transactions_per_hour, ctx.config.generate.customers
        );
        if let Some(r) = figures.core_events_per_second {
            println!("core (decode + validate + enrich + score + windows, one thread, no I/O): {r:.0} events/s");
        }
        if let Some(r) = figures.pipeline_events_per_second {
            println!("pipeline (log -> processor -> bronze/silver/gold Delta, checkpoints): {r:.0} events/s");
        }
        if let Some(l) = &figures.latency {
            println!(
                "latency at {:.0} events/s offered ({:.0} processed, {} samples): p50 {} us, p99 {} us, p99.9 {} us, \
                 max {} us; longest stall {} us",
                l.offered_events_per_second,
                l.processed_events_per_second,
                l.samples,
                l.p50_us,
                l.p99_us,
                l.p999_us,
                l.max_us,
                l.max_stall_us
            );
        }
        if let Some(m) = &figures.memory {
            println!(
                "memory ({} customers, {} transactions, {} customers in state, {} open windows): peak RSS {} MiB, \
                 largest checkpoint {} MiB, processed in {:.1} s; restart to caught up {:.2} s",
                m.customers_in_world,
                m.transactions,
                m.customers_in_state,
                m.open_windows,
                m.peak_rss_bytes >> 20,
                m.largest_checkpoint_bytes >> 20,
                m.processing_seconds,
                m.restart_seconds
            );
        }
    }
    Ok(())
}

/// Generated events, encoded, on an in-memory bus: (events, bus).
fn memory_bus(ctx: &super::Context, transactions: u64) -> (u64, MemoryBus) {
    let bus = MemoryBus::new(ctx.config.bus.partitions);
    let params = ctx.config.generate.params(ctx.clock.as_ref());
    let world = Arc::new(World::build(&params, &ctx.config.pseudonymizer()));
    let mut generator = Generator::new(params, world);
    let mut producer = bus.producer();
    let mut buf = Vec::with_capacity(1024);
    let mut events = 0;
    while generator.counts().transactions < transactions {
        let event = generator.next_event();
        buf.clear();
        event.encode(&mut buf);
        let _ = producer.send(event.kind().topic(), &event.key(), &buf);
        events += 1;
    }
    let _ = producer.flush();
    (events, bus)
}

fn core(ctx: &super::Context, bus: &MemoryBus, events: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let config = &ctx.config;
    let processor = Processor::open(Parts {
        config: config.stream.clone(),
        fraud: config.fraud.clone(),
        validator: ctx.validator(),
        clock: ctx.clock.clone(),
        consumer: Box::new(
            bus.consumer(&format!("bench-{}", std::process::id()), &[topic::TRANSACTIONS, topic::CLICKSTREAM]),
        ),
        producer: Box::new(MemoryBus::new(1).producer()),
        tables: Box::new(NullTables),
        checkpoints: checkpoints_dir(dir.path(), "bench"),
        transaction_partitions: config.bus.partitions,
    })?;
    drain_timed(processor, events)
}

/// Runs `processor` until caught up; events/s, after checking it processed all `events`.
fn drain_timed(processor: Processor, events: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = processor.run(RunOptions {
        until_caught_up: true,
        stop: Arc::new(AtomicBool::new(false)),
        on_status: Box::new(|_| {}),
        reload: None,
        tap: None,
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let processed = status.counters.transactions + status.counters.clicks;
    anyhow::ensure!(processed == events, "processed {processed} of {events} events");
    Ok(events as f64 / seconds)
}

fn temp_context(ctx: &super::Context) -> anyhow::Result<(tempfile::TempDir, super::Context)> {
    let dir = tempfile::Builder::new().prefix("streamify-bench").tempdir()?;
    let tmp = super::Context {
        config: ctx.config.clone(),
        config_file: None,
        data_dir: dir.path().to_path_buf(),
        clock: ctx.clock.clone(),
    };
    Ok((dir, tmp))
}

/// Generates `transactions` (and their clickstream) into the context's log; the events made.
fn generate_into_log(ctx: &super::Context, transactions: u64) -> anyhow::Result<u64> {
    let log = ctx.open_log()?;
    let params = ctx.config.generate.params(ctx.clock.as_ref());
    let world = Arc::new(World::build(&params, &ctx.config.pseudonymizer()));
    let mut generator = Generator::new(params, world);
    let mut sink = BusSink::new(log.producer());
    let options = GenerateOptions::transactions(transactions, ctx.config.generate.batch_events);
    let made = crate::generate::run(&mut generator, &mut sink, &options, None, &mut |_| {})?;
    Ok(made.transactions + made.clickstream)
}

fn pipeline(ctx: &super::Context, transactions: u64) -> anyhow::Result<f64> {
    let (_dir, tmp) = temp_context(ctx)?;
    let events = generate_into_log(&tmp, transactions)?;
    let processor = open_processor(&tmp)?;
    drain_timed(processor, events)
}

fn latency(ctx: &super::Context, rate: f64, duration: Duration) -> anyhow::Result<Latency> {
    let (_dir, tmp) = temp_context(ctx)?;
    let log = tmp.open_log()?;
    let mut params = tmp.config.generate.params(tmp.clock.as_ref());
    params.start = tmp.clock.now();
    // At this pace about a third of the events are transactions: event time then runs roughly
    // with the wall clock, as in a live shop.
    params.transactions_per_hour = rate * 3600.0 / 3.0;
    let world = Arc::new(World::build(&params, &tmp.config.pseudonymizer()));
    let mut generator = Generator::new(params, world);
    let stop = Arc::new(AtomicBool::new(false));
    let options = GenerateOptions {
        transactions: None,
        duration: Some(duration),
        rate: Some(rate),
        batch_events: 256,
        realtime: None,
        stop: Some(stop.clone()),
    };
    let producer = log.producer();
    let generating = std::thread::spawn(move || {
        let mut sink = BusSink::new(producer);
        crate::generate::run(&mut generator, &mut sink, &options, None, &mut |_| {})
    });
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let h = histogram.clone();
    let max_stall = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stall = max_stall.clone();
    let processor = open_processor(&tmp)?;
    let stop_processor = stop.clone();
    let started = Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(duration + Duration::from_millis(500));
        stop_processor.store(true, Ordering::Relaxed);
    });
    let status: Status = processor.run(RunOptions {
        until_caught_up: false,
        stop: stop.clone(),
        on_status: Box::new(move |s: &Status| {
            let mut h = h.lock().unwrap_or_else(|p| p.into_inner());
            for &us in &s.latency_us {
                let _ = h.record(us.max(1));
            }
            stall.fetch_max(s.stall_us, Ordering::Relaxed);
        }),
        reload: None,
        tap: None,
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stopper.join();
    generating.join().map_err(|_| anyhow::anyhow!("generator panicked"))?.context("generating")?;
    let h = histogram.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Latency {
        offered_events_per_second: rate,
        processed_events_per_second: (status.counters.transactions + status.counters.clicks) as f64 / seconds,
        samples: h.len(),
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        max_stall_us: max_stall.load(Ordering::Relaxed),
    })
}

/// The memory and restart figures: generation in-process, processing in a child process so that
/// its peak memory is its own.
fn memory(ctx: &super::Context, customers: u32, restarts: usize) -> anyhow::Result<Memory> {
    let (dir, mut tmp) = temp_context(ctx)?;
    tmp.config.generate.customers = customers;
    // Dense enough that every customer's state is live at once (nothing idles out).
    tmp.config.generate.transactions_per_hour =
        tmp.config.generate.transactions_per_hour.max(f64::from(customers) * 3.0);
    let transactions = u64::from(customers) * 3;
    generate_into_log(&tmp, transactions)?;

    let child = |what: &str| -> anyhow::Result<super::process::Summary> {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command.arg("--data-dir").arg(dir.path()).args(["process", "--until-caught-up", "--json"]);
        if let Some(file) = &ctx.config_file {
            command.arg("--config").arg(file);
        }
        let output =
            command.stderr(std::process::Stdio::inherit()).output().with_context(|| format!("running the {what}"))?;
        anyhow::ensure!(output.status.success(), "the {what} failed: {}", output.status);
        let text = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(text.trim()).with_context(|| format!("reading the {what}'s summary: {text}"))
    };
    let first = child("processor")?;
    let largest_checkpoint_bytes = largest_file(&dir.path().join("checkpoints"));
    let mut restarts_s = Vec::new();
    for _ in 0..restarts {
        let started = Instant::now();
        child("restarted processor")?;
        restarts_s.push(started.elapsed().as_secs_f64());
    }
    Ok(Memory {
        customers_in_world: customers,
        transactions,
        customers_in_state: first.customers as u64,
        open_windows: first.open_windows as u64,
        peak_rss_bytes: first.peak_rss_bytes.unwrap_or(0),
        largest_checkpoint_bytes,
        processing_seconds: first.seconds,
        restart_seconds: median(restarts_s),
    })
}

fn largest_file(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => largest_file(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .max()
        .unwrap_or(0)
}
