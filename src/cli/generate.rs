//! `streamify generate`: synthetic shop traffic onto the bus (topics `transactions` and
//! `clickstream`) or into JSON-lines files, deterministic from a seed, resumable with `--resume`.

use crate::generate::{
    BusSink, FileSink, Generator, GeneratorState, Params, RunOptions, Sink, SinkState, Summary, World,
};
use crate::telemetry::Progress;
use anyhow::{Context as _, bail};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stop after N transactions (their clickstream comes in addition). Without --events or
    /// --duration the generator runs until interrupted.
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,

    /// Stop after this much wall-clock time, e.g. "60s" or "5m".
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Pace to R events per second of wall-clock time (default: as fast as possible).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,

    /// Seed of every random choice (default: generate.seed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Share of transactions in injected fraud scenarios, 0 to 1 (default: generate.fraud_rate).
    #[arg(long)]
    pub fraud_rate: Option<f64>,

    /// Continue the sequence of the last run exactly where its acknowledged events ended.
    #[arg(long)]
    pub resume: bool,

    /// Transactions only: sessions are still simulated, their clicks are not emitted.
    #[arg(long)]
    pub no_clickstream: bool,

    /// Write JSON lines (bus encoding) instead of the bus: transactions to FILE, clickstream to
    /// FILE's sibling `<stem>.clickstream.jsonl`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the summary as a JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate {rate}: use a positive number of events per second");
    }
    if let Some(f) = args.fraud_rate
        && !(0.0..=1.0).contains(&f)
    {
        bail!("--fraud-rate {f}: use 0 to 1 (0.02 is 2%)");
    }
    let state_path = GeneratorState::path(&ctx.data_dir);
    let wanted_sink = args.out.as_ref().map(|out| SinkState::Files {
        transactions: out.clone(),
        clickstream: FileSink::clickstream_path(out),
        transactions_bytes: 0,
        clickstream_bytes: 0,
    });
    let configured = {
        let mut p = ctx.config.generate.params(ctx.clock.as_ref());
        if let Some(seed) = args.seed {
            p.seed = seed;
        }
        if let Some(f) = args.fraud_rate {
            p.fraud_rate = f;
        }
        if args.no_clickstream {
            p.clickstream = false;
        }
        p
    };
    let (params, cursor, mut sink): (Params, _, Box<dyn Sink>) = if args.resume {
        let state = GeneratorState::load(&state_path)?
            .with_context(|| format!("no generator state at {}; run without --resume first", state_path.display()))?;
        let stored = &state.params;
        if args.seed.is_some_and(|s| s != stored.seed) {
            bail!(
                "--seed {} differs from the stopped run's seed {}; drop --seed to resume",
                configured.seed,
                stored.seed
            );
        }
        if args.fraud_rate.is_some_and(|f| f != stored.fraud_rate) {
            bail!("--fraud-rate differs from the stopped run's {}; drop it to resume", stored.fraud_rate);
        }
        if args.no_clickstream && stored.clickstream {
            bail!("--no-clickstream: the stopped run emitted clickstream; drop the flag to resume");
        }
        let target = wanted_sink.clone().unwrap_or(SinkState::Bus);
        if !state.sink.same_target(&target) {
            bail!("the stopped run wrote to {}; resume with the same target", state.sink.describe());
        }
        let changed: Vec<_> = stored
            .differences(&configured)
            .into_iter()
            .filter(|name| !matches!(*name, "seed" | "fraud_rate" | "clickstream" | "start"))
            .collect();
        if !changed.is_empty() {
            tracing::warn!(
                settings = changed.join(", "),
                "[generate] settings changed since the stopped run; resuming with the stored ones"
            );
        }
        let sink: Box<dyn Sink> = match &state.sink {
            SinkState::Bus => Box::new(BusSink::new(ctx.open_log()?.producer())),
            files => Box::new(FileSink::reopen(files)?),
        };
        (state.params.clone(), Some(state.cursor), sink)
    } else {
        let sink: Box<dyn Sink> = match &args.out {
            Some(out) => Box::new(FileSink::create(out)?),
            None => Box::new(BusSink::new(ctx.open_log()?.producer())),
        };
        (configured, None, sink)
    };

    let world = Arc::new(World::build(&params, &ctx.config.pseudonymizer()));
    let mut generator = match &cursor {
        Some(cursor) => Generator::resume(params, world, cursor),
        None => Generator::new(params, world),
    };
    let options = RunOptions {
        transactions: args.events,
        duration: args.duration,
        rate: args.rate,
        batch_events: ctx.config.generate.batch_events,
        realtime: None,
        stop: None,
    };
    let progress = match args.events {
        Some(n) => Progress::new(Some(n), "transactions", !args.json),
        None => Progress::new(None, "events", !args.json),
    };
    progress.set_message("generating");
    let counting_transactions = args.events.is_some();
    let summary: Summary =
        crate::generate::run(&mut generator, sink.as_mut(), &options, Some(&state_path), &mut |acked| {
            progress.inc(if counting_transactions { acked.transactions } else { acked.events() });
        })?;
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}
