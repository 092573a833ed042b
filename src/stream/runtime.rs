//! The runtime: reads the bus, drives the operators, cuts epochs, and hands outputs to the
//! [committer](super::committer), which lands them effectively once.
//!
//! One processing thread does all the computing (decode, score, aggregate, sessions) and never
//! waits on a disk; the committer thread does all the writing. Per loop the processing thread
//! polls a batch, runs it through the operators under the watermark as of the batch start,
//! advances the watermark, lets the operators close what it closes, and sends the outputs on.
//! Every `checkpoint_interval` it ends the epoch: each operator cuts a snapshot of its state in
//! constant time (layered state, [`super::layered`]), a checkpoint encoder thread writes the
//! snapshots into the checkpoint's draft file (into the page cache; the committer fsyncs it),
//! and the source positions go to the committer behind the epoch's outputs, with the encoding
//! to wait for. Rows and epochs wait in a queue bounded by rows ([`super::handover`]) while the
//! committer is busy, so that a commit or an fsync does not stop processing. Between batches the operators settle: layers the encoder let go of merge into
//! their base, a bounded amount per turn.
//!
//! On start it restores the newest checkpoint chain (a full checkpoint and the deltas after it,
//! see [`super::changelog`]), re-commits the newest one's staged writes (a no-op for tables that
//! have them) and reads on from its offsets; see the committer for why that gives
//! each output exactly once. With `until_caught_up`, when a poll finds nothing new, the end of
//! the log is taken as the end of the stream: the watermark moves past every window and session
//! that holds data (the newest event time plus the longest window and the allowed lateness), all
//! of them are emitted, and a last epoch is committed (none when nothing was read or produced
//! since the newest checkpoint). Events arriving later for those windows count as late.
//!
//! Time the processing thread spends not reading (ending an epoch, waiting for the committer) is
//! reported to the watermarks as a pause, so that records waiting in the log are not mistaken for
//! an idle partition (W-4 of [`super::time`]).
//!
//! After each batch the partitions whose event time runs more than `max_drift` ahead of the
//! watermark are paused (W-6 of [`super::time`]), so a backlog is read in step across topics and
//! partitions instead of one topic hours ahead of another, which would hold every window it
//! opens in memory. A poll that finds nothing in the partitions still read resumes them all, so
//! alignment never waits on a partition that has nothing to give.

use super::checkpoint::{CheckpointError, CheckpointStore, Stored};
use super::committer::{CommitError, Committer, Encoding, FromCommitter, Tables, ToCommitter};
use super::handover::{CHANNEL_MESSAGES, Gone, Handover, MAX_QUEUED_ROWS};
mod options;
mod sizes;

use super::operator::{Operator, OperatorError, SETTLE_MIN, Snapshot};
use super::operators::aggregate::{Aggregate, Scored};
use super::operators::decode::{Decode, Decoded};
use super::operators::score::ScoreOp;
use super::operators::sessions::Sessions;
use super::outputs::Outputs;
use super::source::{Input, Source};
use super::time::{WatermarkConfig, Watermarks, duration_micros};
use crate::analytics::sessions::SessionConfig;
use crate::bus::{BusError, Consumer, Producer};
use crate::fraud::FraudConfig;
use crate::model::{Clock, EventKind, Timestamp, Validator, topic};
pub use options::{Counters, Reload, RunOptions, Status};
use serde::{Deserialize, Serialize};
use sizes::Sizes;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

/// `[stream]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Names the processor: its checkpoints directory, its consumer group, and the application
    /// id of its Delta commits. Two processors with one id must not run at once.
    pub app_id: String,
    /// How often an epoch ends: outputs committed, checkpoint written.
    #[serde(with = "crate::config::duration")]
    pub checkpoint_interval: Duration,
    /// The most records per poll of the bus when catching up to the end of the log
    /// (`--until-caught-up`). Polls adapt below it: each asks for twice what the last one
    /// returned (at least 16). A live run polls at most 16, so that a record waits only for
    /// the few read with it (latency before throughput).
    pub poll_records: usize,
    /// A clickstream session closes after this long without events.
    #[serde(with = "crate::config::duration")]
    pub session_gap: Duration,
    pub watermark: WatermarkConfig,
}

impl Default for StreamConfig {
    /// The values of `config/default.toml`.
    fn default() -> Self {
        StreamConfig {
            app_id: "processor".into(),
            checkpoint_interval: Duration::from_secs(5),
            poll_records: 4096,
            session_gap: Duration::from_secs(30 * 60),
            watermark: WatermarkConfig::default(),
        }
    }
}

impl StreamConfig {
    pub fn check(&self, problems: &mut Vec<String>) {
        let app_ok = !self.app_id.is_empty()
            && self.app_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !app_ok {
            problems.push(format!("stream.app_id = {:?}: use lowercase letters, digits, `-` and `_`", self.app_id));
        }
        if self.checkpoint_interval < Duration::from_millis(100) {
            problems.push("stream.checkpoint_interval: use at least \"100ms\"".into());
        }
        if self.poll_records == 0 || self.poll_records > 1_000_000 {
            problems.push(format!("stream.poll_records = {}: use 1 to 1000000", self.poll_records));
        }
        if self.session_gap.is_zero() {
            problems.push("stream.session_gap = \"0s\": use a positive duration such as \"30m\"".into());
        }
        if let Err(e) = self.watermark.validate() {
            problems.push(format!("stream.watermark: {e}"));
        }
    }
}

/// What can stop the processor.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("reading the bus: {0}")]
    Bus(#[from] BusError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("restoring the checkpoint: {0}")]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("invalid stream settings: {0}")]
    Config(String),
    #[error("the committer thread stopped unexpectedly")]
    CommitterGone,
}

impl ProcessError {
    /// Whether a processor reopened from its checkpoint later may get past it (a full disk, an
    /// unavailable bus or store), rather than meeting it again (corrupt data, bad settings).
    pub fn retryable(&self) -> bool {
        match self {
            ProcessError::Bus(e) => e.retryable(),
            ProcessError::Commit(e) => e.retryable(),
            ProcessError::Checkpoint(e) => e.retryable(),
            ProcessError::Operator(_) | ProcessError::Config(_) | ProcessError::CommitterGone => false,
        }
    }
}

/// Everything the processor saves per epoch besides offsets.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProcessorState {
    pub watermarks: Option<Watermarks>,
    /// Operator name -> its saved state, in checkpoints of version 1 only (read, never written).
    #[serde(with = "bytes_map", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operators: BTreeMap<String, Vec<u8>>,
    /// Operator name -> where its saved state lies in the checkpoint's state section: (offset,
    /// length).
    #[serde(default)]
    pub images: BTreeMap<String, (u64, u64)>,
    /// Newest event time seen (microseconds).
    pub max_event_time: Option<i64>,
    pub counters: Counters,
}

mod bytes_map {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(map: &BTreeMap<String, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, &serde_bytes::Bytes> =
            map.iter().map(|(k, v)| (k.as_str(), serde_bytes::Bytes::new(v))).collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let m: BTreeMap<String, serde_bytes::ByteBuf> = BTreeMap::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.into_vec())).collect())
    }
}

/// The processor, restored and ready to run.
pub struct Processor {
    config: StreamConfig,
    clock: Arc<dyn Clock>,
    source: Source,
    decode: Decode,
    score: ScoreOp,
    aggregate: Aggregate,
    sessions: Sessions,
    state: ProcessorState,
    watermarks: Watermarks,
    epoch: u64,
    /// The counters as of the newest checkpoint, restored or written.
    checkpointed: Counters,
    sizes: Sizes,
    /// The watermark whose final windows and sessions are still being emitted, a bounded number
    /// per turn (see [`Processor::close_some`]); `None` once everything it closes is out.
    closing: Option<Timestamp>,
    /// Where the processing thread drafts each checkpoint (the committer finishes it).
    store: CheckpointStore,
    committer: Option<Committer>,
}

/// What the processor is built from.
pub struct Parts {
    pub config: StreamConfig,
    pub fraud: FraudConfig,
    pub validator: Validator,
    pub clock: Arc<dyn Clock>,
    pub consumer: Box<dyn Consumer>,
    pub producer: Box<dyn Producer>,
    pub tables: Box<dyn Tables>,
    /// `<data-dir>/checkpoints/<app_id>`.
    pub checkpoints: std::path::PathBuf,
    /// Partitions of the `transactions` topic (one fraud state each).
    pub transaction_partitions: u32,
}

/// The topics the processor reads.
pub const TOPICS: [&str; 2] = [topic::TRANSACTIONS, topic::CLICKSTREAM];
/// The smallest poll, and every poll of a live run (see [`StreamConfig::poll_records`]): 16
/// records take about 50 µs to process. Polls of 64 gave a p99 latency about three times as
/// high at 50k events/s (`streamify bench --only latency`).
const MIN_POLL: usize = 16;
/// A turn of the processing loop this long is logged (at debug level) with where the time went.
const STALL: Duration = Duration::from_millis(10);
/// Rows are handed to the committer once this many are ready, or after `SEND_EVERY`.
const SEND_ROWS: usize = 2048;
const SEND_EVERY: Duration = Duration::from_millis(10);
/// The most window (and session) results a window family emits before the runtime hands them
/// on, when everything must close at once (the end of the stream): the end of an hour closes a
/// million customers' windows.
const CLOSE_BUDGET: usize = 4096;
/// While processing, each turn of the loop emits at most this many results per window family,
/// plus [`CLOSE_PER_EVENT`] per event of the turn's batch: an hour's end spreads over turns
/// instead of stopping reading for as long as a million windows take. An event opens at most a
/// few windows per family, so closing keeps up with any rate.
const CLOSE_MIN: usize = 512;
const CLOSE_PER_EVENT: usize = 4;

impl Processor {
    /// Builds the operators and restores the newest checkpoint, if any.
    pub fn open(parts: Parts) -> Result<Processor, ProcessError> {
        let Parts { config, fraud, validator, clock, consumer, producer, mut tables, checkpoints, .. } = parts;
        let mut problems = Vec::new();
        config.check(&mut problems);
        if !problems.is_empty() {
            return Err(ProcessError::Config(problems.join("; ")));
        }
        let store = CheckpointStore::open(&checkpoints)?;
        let lateness = config.watermark.allowed_lateness;
        let mut score = ScoreOp::new(fraud, parts.transaction_partitions);
        let mut aggregate = Aggregate::new(lateness).map_err(|e| ProcessError::Config(e.to_string()))?;
        let session_config = SessionConfig { gap: config.session_gap };
        let mut sessions = Sessions::new(&session_config, lateness).map_err(|e| ProcessError::Config(e.to_string()))?;
        // The newest full checkpoint, then each delta after it, into the operators.
        let mut latest = None;
        let mut sizes = Sizes::default();
        for at in store.chain()? {
            let (mut ck, section) = store.read::<ProcessorState>(at)?;
            let bytes = Sizes::of(&ck.state);
            sizes.saved(!at.delta, bytes);
            for operator in [&mut score as &mut dyn Operator, &mut aggregate, &mut sessions] {
                let name = operator.name();
                if let Some(image) = ck.state.operators.get(name) {
                    operator.restore(&mut image.as_slice(), !at.delta)?;
                } else if let Some(&(offset, len)) = ck.state.images.get(name) {
                    operator.restore(&mut section.image(offset, len)?, !at.delta)?;
                }
            }
            tracing::debug!(epoch = at.epoch, delta = at.delta, bytes, "restored checkpoint");
            ck.state.operators.clear(); // restored into the operators; no need to hold the bytes
            ck.state.images.clear();
            latest = Some(ck);
        }
        if let Some(ck) = &latest {
            // Step 3 of the epoch protocol again: idempotent.
            tables.commit(&config.app_id, ck.epoch, &ck.staged).map_err(CommitError::from)?;
        }
        let source = Source::new(consumer, &TOPICS, latest.as_ref().map(|c| &c.offsets))?;
        let now = clock.now();
        let (epoch, state) = match latest {
            Some(ck) => (ck.epoch, ck.state),
            None => (0, ProcessorState::default()),
        };
        let watermarks = match &state.watermarks {
            Some(w) => {
                let mut w = w.clone();
                w.restart(now, config.watermark.clone()).map_err(|e| ProcessError::Config(e.to_string()))?;
                w
            }
            None => Watermarks::new(0..source.inputs(), config.watermark.clone(), now)
                .map_err(|e| ProcessError::Config(e.to_string()))?,
        };
        let state_watermark = watermarks.current();
        let committer = Committer {
            app_id: config.app_id.clone(),
            tables,
            store: store.clone(),
            producer,
            clock: clock.clone(),
            tap: None,
        };
        Ok(Processor {
            config,
            clock,
            source,
            decode: Decode::new(validator),
            score,
            aggregate,
            sessions,
            checkpointed: state.counters.clone(),
            state,
            watermarks,
            epoch,
            sizes,
            // What the restored watermark made final may not all have been emitted.
            closing: state_watermark,
            store,
            committer: Some(committer),
        })
    }

    /// The epoch of the checkpoint this processor resumed from (0: none).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Processes until stopped (or caught up), then commits a final epoch.
    pub fn run(mut self, mut options: RunOptions) -> Result<Status, ProcessError> {
        let mut committer = self.committer.take().ok_or(ProcessError::CommitterGone)?;
        committer.tap = options.tap.take();
        let (to_tx, to_rx) = sync_channel::<ToCommitter<ProcessorState>>(CHANNEL_MESSAGES);
        let (done_tx, done_rx) = sync_channel::<FromCommitter>(1024);
        let handle = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || committer.run(to_rx, done_tx))
            .map_err(|_| ProcessError::CommitterGone)?;
        let mut to = Handover::new(to_tx, MAX_QUEUED_ROWS);
        let result = self.process(&mut to, &done_rx, &mut options);
        let flushed = to.flush();
        drop(to);
        let _ = handle.join();
        // Epochs the committer finished after the loop ended.
        let mut status = self.status(Vec::new());
        // The committer's own failure explains a hang-up better than the hang-up does.
        drain(&done_rx, &mut self.source, &mut status, &mut self.sizes)?;
        result?;
        flushed?;
        (options.on_status)(&status);
        Ok(status)
    }

    fn process(
        &mut self,
        to: &mut Handover<ProcessorState>,
        done: &Receiver<FromCommitter>,
        options: &mut RunOptions,
    ) -> Result<(), ProcessError> {
        let mut inputs: Vec<Input> = Vec::with_capacity(self.config.poll_records);
        // Catching up to an end, polls are as big as allowed; live, small enough that a record
        // waits only for the few read with it.
        let max_poll =
            if options.until_caught_up { self.config.poll_records } else { self.config.poll_records.min(MIN_POLL) };
        let min_poll = MIN_POLL.min(max_poll);
        let mut want = min_poll;
        let mut last_send = Instant::now();
        let mut out = Outputs::default();
        let mut epoch_started = Instant::now();
        let mut last_status = Instant::now();
        let mut latency = Vec::new();
        let mut ahead = Vec::new();
        let mut status = self.status(Vec::new());
        // Until this run commits, the last committed epoch is the one it resumed from.
        status.committed_epoch = self.epoch;
        // The longest turn of the loop since the last status: how long reading stood still.
        let mut stall = Duration::ZERO;
        loop {
            if options.stop.load(Ordering::Relaxed) {
                break;
            }
            let mut turn = Instant::now();
            inputs.clear();
            self.source.poll(want, &mut inputs)?;
            if inputs.is_empty() && self.source.paused() > 0 {
                // Alignment waits for partitions that have nothing to read now: read the rest.
                self.source.align(&[]);
                self.source.poll(want, &mut inputs)?;
            }
            want = (inputs.len() * 2).clamp(min_poll, max_poll);
            let now = self.clock.now();
            if inputs.is_empty() {
                if options.until_caught_up {
                    self.end_of_stream(&mut out, to)?;
                    break;
                }
                if self.closing.is_none() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                turn = Instant::now(); // waiting for records is not a stall
            }
            let wm = self.watermarks.current();
            let settle = SETTLE_MIN + 2 * inputs.len();
            let close = CLOSE_MIN + CLOSE_PER_EVENT * inputs.len();
            for input in inputs.drain(..) {
                self.one(&input, now, wm, &mut out, &mut latency);
            }
            // From here to the next poll nothing is read: closing windows, handing rows to the
            // committer (which may block) and ending the epoch are not idleness (W-4).
            let busy = Instant::now();
            if let Some(new) = self.watermarks.tick(now)
                && Some(new) > wm
            {
                self.closing = Some(new);
            }
            self.close_some(close, &mut out);
            for operator in [&mut self.score as &mut dyn Operator, &mut self.aggregate, &mut self.sessions] {
                operator.settle(settle);
            }
            let closed = Instant::now();
            self.watermarks.ahead(&mut ahead);
            self.source.align(&ahead);
            // Rows go to the committer in chunks of some size, at least every few ms, and all of
            // them before the epoch they belong to ends.
            let epoch_ends = epoch_started.elapsed() >= self.config.checkpoint_interval;
            if !out.is_empty() && (epoch_ends || out.rows() >= SEND_ROWS || last_send.elapsed() >= SEND_EVERY) {
                last_send = Instant::now();
                let next = out.sized_like();
                to.send(ToCommitter::Rows(Box::new(std::mem::replace(&mut out, next))))?;
            }
            to.pump()?;
            let sent = Instant::now();
            if epoch_ends {
                self.end_epoch(to, false)?;
                epoch_started = Instant::now();
            }
            self.watermarks.pause(busy.elapsed());
            let took = turn.elapsed();
            stall = stall.max(took);
            if took >= STALL {
                let ms = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64() * 1e3;
                tracing::debug!(
                    ms = took.as_secs_f64() * 1e3,
                    read_and_process = ms(turn, busy),
                    close_and_settle = ms(busy, closed),
                    hand_over = ms(closed, sent),
                    checkpoint = ms(sent, Instant::now()),
                    "stall"
                );
            }
            let committed = drain(done, &mut self.source, &mut status, &mut self.sizes)?;
            if committed || last_status.elapsed() >= Duration::from_secs(1) {
                if let Some(config) = options.reload.as_mut().and_then(|reload| reload()) {
                    self.score.reload(config);
                }
                let committed_epoch = status.committed_epoch;
                status = self.status(std::mem::take(&mut latency));
                status.committed_epoch = committed_epoch;
                status.stall_us = std::mem::take(&mut stall).as_micros() as u64;
                (options.on_status)(&status);
                last_status = Instant::now();
            }
        }
        if !out.is_empty() {
            to.send(ToCommitter::Rows(Box::new(std::mem::take(&mut out)))).map_err(|_| ProcessError::CommitterGone)?;
        }
        // A clean stop ends on a full checkpoint, so that the next start reads one file; unless
        // nothing was read or produced since the newest checkpoint: a start from that one does no
        // more work, and rewriting the whole state would only make the stop slower.
        if self.epoch > 0 && self.state.counters == self.checkpointed && !self.score.reload_pending() {
            return Ok(());
        }
        self.end_epoch(to, true)
    }

    /// One record through decode, score, aggregate / sessions.
    fn one(&mut self, input: &Input, now: Timestamp, wm: Option<Timestamp>, out: &mut Outputs, latency: &mut Vec<u64>) {
        let kind = if input.topic == 0 { EventKind::Transaction } else { EventKind::Click };
        let Some(event) = self.decode.decode(kind, input, now, out) else {
            self.state.counters.dead_letters += 1;
            return;
        };
        let time = event.time();
        self.watermarks.observe(input.input, time, now);
        self.state.max_event_time = self.state.max_event_time.max(Some(time.micros()));
        match event {
            Decoded::Transaction(tx) => {
                self.state.counters.transactions += 1;
                let info = self.score.score(&tx, input.partition, input.offset, out);
                if info.alert {
                    self.state.counters.alerts += 1;
                }
                latency.push(input.read_at.elapsed().as_micros() as u64);
                let late_before = out.late_events.len();
                let scored = Scored {
                    tx: &tx,
                    country: info.country,
                    kpi: info.kpi,
                    source_partition: input.partition,
                    source_offset: input.offset,
                };
                self.aggregate.add(&scored, wm, out);
                self.state.counters.late_events += (out.late_events.len() - late_before) as u64;
            }
            Decoded::Click(click) => {
                self.state.counters.clicks += 1;
                let late_before = out.late_events.len();
                self.sessions.add(&click, input.partition, input.offset, wm, out);
                self.state.counters.late_events += (out.late_events.len() - late_before) as u64;
                Decode::land_click(input, now, click, out);
            }
        }
    }

    /// Emits at most `budget` results per window family of what the watermark in `closing` made
    /// final. The rest stays in the operators' state, which treats it as closed: an event for a
    /// final window is too late for it whether or not the window is out yet (W-8), and a click
    /// does not join a session its gap has ended.
    fn close_some(&mut self, budget: usize, out: &mut Outputs) {
        let Some(wm) = self.closing else { return };
        let before = out.windows.len() + out.sessions.len() + out.funnels.len();
        let mut more = self.score.watermark(wm, budget, out);
        more |= self.aggregate.watermark(wm, budget, out);
        more |= self.sessions.watermark(wm, budget, out);
        self.state.counters.windows_closed +=
            (out.windows.len() + out.sessions.len() + out.funnels.len() - before) as u64;
        if !more {
            self.closing = None;
        }
    }

    /// Lets the operators close everything `wm` closes now, handing their results to the
    /// committer in chunks of at most [`CLOSE_BUDGET`] per window family.
    fn advance(
        &mut self,
        wm: Timestamp,
        out: &mut Outputs,
        to: &mut Handover<ProcessorState>,
    ) -> Result<(), ProcessError> {
        self.closing = self.closing.max(Some(wm));
        loop {
            self.close_some(CLOSE_BUDGET, out);
            if self.closing.is_none() {
                return Ok(());
            }
            let next = out.sized_like();
            to.send(ToCommitter::Rows(Box::new(std::mem::replace(out, next))))?;
        }
    }

    /// The log is drained and that is the end of the stream: close everything that holds data.
    fn end_of_stream(&mut self, out: &mut Outputs, to: &mut Handover<ProcessorState>) -> Result<(), ProcessError> {
        let Some(max) = self.state.max_event_time else { return Ok(()) };
        let longest = duration_micros(Duration::from_secs(3600)).max(duration_micros(self.config.session_gap));
        let lateness = duration_micros(self.config.watermark.allowed_lateness);
        let end = Timestamp::from_micros(max.saturating_add(longest).saturating_add(lateness).saturating_add(1));
        self.advance(end, out, to)
    }

    /// Ends the epoch with a checkpoint: full when `full` or [`Sizes`] says so, else a delta.
    /// The operators cut snapshots of their state, which an encoder thread writes into the
    /// checkpoint's file while processing goes on; the committer waits for it after the epoch's
    /// rows.
    fn end_epoch(&mut self, to: &mut Handover<ProcessorState>, full: bool) -> Result<(), ProcessError> {
        self.epoch += 1;
        let full = full || self.sizes.next_is_full();
        self.sizes.full_in_flight |= full;
        let started = Instant::now();
        // Microseconds each operator took to cut its snapshot, for the log.
        let mut cut_us = [0u64; 3];
        let snapshots: Vec<(&'static str, Snapshot)> =
            [&mut self.score as &mut dyn Operator, &mut self.aggregate, &mut self.sessions]
                .into_iter()
                .zip(&mut cut_us)
                .map(|(operator, us)| {
                    let started = Instant::now();
                    let snapshot = operator.checkpoint(full);
                    *us = started.elapsed().as_micros() as u64;
                    (operator.name(), snapshot)
                })
                .collect();
        self.state.watermarks = Some(self.watermarks.clone());
        let mut state = self.state.clone();
        self.checkpointed = self.state.counters.clone();
        // Fields are evaluated only with debug logging on; each costs the same whatever the state.
        tracing::debug!(
            epoch = self.epoch,
            full,
            us = started.elapsed().as_micros() as u64,
            ?cut_us,
            customers = self.score.customers(),
            open_sessions = self.sessions.open_sessions(),
            watermark = ?self.watermarks.current(),
            paused_partitions = self.source.paused(),
            max_event_time = ?self.state.max_event_time.map(Timestamp::from_micros),
            "checkpoint cut"
        );
        let (epoch, store) = (self.epoch, self.store.clone());
        let encoder = std::thread::Builder::new()
            .name("checkpoint-encoder".into())
            .spawn(move || {
                super::priority::lower_priority(super::priority::BACKGROUND);
                let started = Instant::now();
                // Opened here: creating a file can wait on the file system's journal.
                let mut draft = store.draft(Stored { epoch, delta: !full })?;
                for (name, snapshot) in snapshots {
                    let start = draft.position();
                    if let Err(error) = snapshot(&mut draft) {
                        return Err(draft.failure().unwrap_or_else(|| draft.encode_error(error.to_string())));
                    }
                    state.images.insert(name.to_string(), (start, draft.position() - start));
                }
                let bytes = draft.position();
                tracing::debug!(epoch, full, bytes, ms = started.elapsed().as_millis() as u64, "checkpoint encoded");
                Ok((state, draft))
            })
            .map_err(|_| ProcessError::CommitterGone)?;
        let encoding: Encoding<ProcessorState> = Box::new(move || {
            encoder.join().unwrap_or_else(|_| {
                Err(CheckpointError::Encode {
                    path: format!("epoch {epoch}").into(),
                    why: "the checkpoint encoder panicked".into(),
                })
            })
        });
        let offsets = self.source.positions();
        to.send(ToCommitter::Epoch { offsets, encoding }).map_err(|_| ProcessError::CommitterGone)
    }

    fn status(&self, latency_us: Vec<u64>) -> Status {
        Status {
            counters: self.state.counters.clone(),
            epoch: self.epoch,
            committed_epoch: 0,
            watermark: self.watermarks.current(),
            customers: self.score.customers(),
            open_windows: self.aggregate.open_windows(),
            open_sessions: self.sessions.open_sessions(),
            latency_us,
            positions: self.source.positions(),
            stall_us: 0,
        }
    }

    /// Totals so far (restored from the checkpoint, then counting).
    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }
}

impl From<Gone> for ProcessError {
    fn from(_: Gone) -> Self {
        ProcessError::CommitterGone
    }
}

/// Takes the committer's reports: publishes committed offsets, or returns its failure.
fn drain(
    done: &Receiver<FromCommitter>,
    source: &mut Source,
    status: &mut Status,
    sizes: &mut Sizes,
) -> Result<bool, ProcessError> {
    let mut any = false;
    loop {
        match done.try_recv() {
            Ok(FromCommitter::Done { epoch, offsets, full, state_bytes, .. }) => {
                status.committed_epoch = epoch;
                sizes.saved(full, state_bytes as usize);
                if let Err(error) = source.publish(&offsets) {
                    tracing::warn!(%error, "could not publish consumer offsets (only lag reporting is affected)");
                }
                any = true;
            }
            Ok(FromCommitter::Failed(error)) => return Err(error.into()),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(any),
        }
    }
}

/// `<data-dir>/checkpoints/<app_id>`.
pub fn checkpoints_dir(data_dir: &Path, app_id: &str) -> std::path::PathBuf {
    data_dir.join("checkpoints").join(app_id)
}
