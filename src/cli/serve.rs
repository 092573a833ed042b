//! `streamify serve`: the HTTP server alone (REST API, ingest onto the bus, SQL, dashboard,
//! `/metrics`), and the server part that `quickstart` and `run` start beside their processor.

use super::process::stop_on_signals;
use crate::serve::live::Live;
use crate::serve::metrics::{StatusRecorder, record_outputs};
use crate::serve::server::{self, Running};
use crate::serve::{AppState, Parts};
use crate::stream::committer::Tap;
use crate::stream::runtime::Status;
use anyhow::Context as _;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long requests in flight may finish at shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// The HTTP server's flags, shared by `serve`, `quickstart` and `run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// Port of the HTTP server (default: serve.port, 8080; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Address of the HTTP server (default: serve.bind, 127.0.0.1). Anything but loopback needs
    /// credentials in [serve.auth].
    #[arg(long)]
    pub bind: Option<IpAddr>,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
}

/// A started server and what feeds its live view.
pub struct Service {
    pub running: Running,
    pub live: Live,
    lake_dir: std::path::PathBuf,
    open: bool,
    clock: std::sync::Arc<dyn crate::model::Clock>,
}

impl Service {
    /// Starts the server; with a log it accepts events onto it (the caller's open log: one
    /// process shares one), with `processor` the caller's processor reports to [`Service::live`].
    pub fn start(
        ctx: &super::Context,
        args: &ServerArgs,
        log: Option<&crate::bus::log::Log>,
        processor: bool,
    ) -> anyhow::Result<Service> {
        let mut config = ctx.config.serve.clone();
        config.port = args.port.unwrap_or(config.port);
        config.bind = args.bind.unwrap_or(config.bind);
        let ingest = log.map(|log| (Box::new(log.producer()) as Box<dyn crate::bus::Producer>, ctx.validator()));
        let live = Live::new(config.memory_customer_rows);
        let state = AppState::new(Parts {
            config,
            live: live.clone(),
            clock: ctx.clock.clone(),
            lake_dir: ctx.data_dir.join("lake"),
            ingest,
            idempotency_journal: Some(ctx.data_dir.join("serve").join("idempotency.jsonl")),
            with_processor: processor,
        })
        .map_err(|e| anyhow::anyhow!(e))?;
        let open = state.auth.is_open();
        let running = server::start(state)?;
        Ok(Service { running, live, lake_dir: ctx.data_dir.join("lake"), open, clock: ctx.clock.clone() })
    }

    /// What to tell the user at start.
    pub fn banner(&self) -> String {
        let mut text = format!("dashboard: {}/dashboard/   API: {}/api/v1/status", self.running.url, self.running.url);
        if self.open {
            text.push_str(
                "\n  (open: no credentials configured, so only this machine can connect and every caller is admin)",
            );
        }
        text
    }

    /// Feeds a processor status report to the live view and the metrics.
    pub fn reporter(&self) -> impl FnMut(&Status, Option<u64>) + Send + 'static {
        let live = self.live.clone();
        let clock = self.clock.clone();
        let mut recorder = StatusRecorder::default();
        move |status, lag| {
            let now = clock.now();
            live.status(status, lag, now);
            recorder.record(status, lag, now);
        }
    }

    /// The committer tap feeding the live view and the metrics. Call it before the processor
    /// starts: it empties the in-memory gold windows and customers' transactions and reads the
    /// lake's newest alert, windows and transaction, the horizons of what memory answers
    /// ([`crate::serve::hot`], [`crate::serve::hot_gold`], [`crate::serve::hot_customers`]).
    pub fn tap(&self) -> Tap {
        let generation = self.live.reset();
        let (live, dir) = (self.live.clone(), self.lake_dir.clone());
        let spawned = std::thread::Builder::new().name("hot-horizons".into()).spawn(move || {
            use crate::serve::api::read::{lake_newest_alert, lake_newest_transaction, lake_newest_windows};
            let lake = crate::serve::api::LakeReader::new(dir);
            let alert = match lake_newest_alert(&lake, Duration::from_secs(60)) {
                Ok(newest) => {
                    live.set_lake_newest_alert(newest);
                    Some(newest)
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the lake's newest alert: alert lists are read from the lake");
                    None
                }
            };
            match lake_newest_windows(&lake, Duration::from_secs(60)) {
                Ok(newest) => live.set_lake_newest_windows(generation, newest),
                Err(error) => {
                    tracing::warn!(%error, "reading the lake's newest windows: KPIs and breakdowns are read from the lake")
                }
            }
            match (lake_newest_transaction(&lake, Duration::from_secs(60)), alert) {
                (Ok(transaction), Some(alert)) => live.set_lake_newest_customers(generation, transaction, alert),
                (Err(error), _) => {
                    tracing::warn!(%error, "reading the lake's newest transaction: customers are read from the lake")
                }
                (Ok(_), None) => {}
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "starting the hot-horizons thread: alerts, KPIs, breakdowns and customers are read from the lake");
        }
        let live = self.live.clone();
        Box::new(move |outputs| {
            live.fold(outputs);
            record_outputs(outputs);
        })
    }

    /// The processor stopped: its status stays, marked stopped; then the server stops.
    pub fn stop(self) -> anyhow::Result<()> {
        self.live.stopped();
        self.running.stop(GRACE).context("stopping the HTTP server")
    }
}

pub fn run(ctx: &super::Context, args: Args) -> anyhow::Result<()> {
    let stop = stop_on_signals()?;
    let log = ctx.open_log()?;
    let service = Service::start(ctx, &args.server, Some(&log), false)?;
    println!("streamify serve: {}", service.banner());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    service.stop()
}
