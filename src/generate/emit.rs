//! Running a generator into a sink: the bus (topics `transactions` and `clickstream`) or a pair
//! of JSON-lines files, in batches, each batch acknowledged by the sink before the state that
//! describes it is written.

use super::state::{GeneratorState, SinkState};
use super::{Counts, GenerateError, Generator, Result};
use crate::bus::Producer;
use crate::model::{Clock, Event, topic};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where generated events go.
pub trait Sink {
    /// Takes one event, already encoded in the bus encoding.
    fn send(&mut self, event: &Event, encoded: &[u8]) -> Result<()>;
    /// Makes everything sent durable; on `Ok` it is acknowledged.
    fn flush(&mut self) -> Result<()>;
    /// What the state file records about this sink (after a flush: the acknowledged part).
    fn state(&self) -> SinkState;
}

/// Into the bus: transactions keyed by customer, clicks keyed by session.
pub struct BusSink<P: Producer> {
    producer: P,
}

impl<P: Producer> BusSink<P> {
    pub fn new(producer: P) -> Self {
        BusSink { producer }
    }

    pub fn into_inner(self) -> P {
        self.producer
    }
}

impl<P: Producer> Sink for BusSink<P> {
    fn send(&mut self, event: &Event, encoded: &[u8]) -> Result<()> {
        let (topic, key) = match event {
            Event::Transaction(t) => (topic::TRANSACTIONS, t.key()),
            Event::Click(c) => (topic::CLICKSTREAM, c.key()),
        };
        Ok(self.producer.send(topic, &key, encoded)?)
    }

    fn flush(&mut self) -> Result<()> {
        Ok(self.producer.flush()?)
    }

    fn state(&self) -> SinkState {
        SinkState::Bus
    }
}

/// Into JSON-lines files: transactions to `FILE.jsonl`, clicks to `FILE.clickstream.jsonl`.
pub struct FileSink {
    paths: (PathBuf, PathBuf),
    files: (BufWriter<File>, BufWriter<File>),
    bytes: (u64, u64),
}

impl FileSink {
    /// The clickstream file next to a transactions file: `a/b.jsonl` -> `a/b.clickstream.jsonl`.
    pub fn clickstream_path(out: &Path) -> PathBuf {
        let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = out.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "jsonl".into());
        out.with_file_name(format!("{stem}.clickstream.{ext}"))
    }

    /// Creates (or truncates) both files.
    pub fn create(out: &Path) -> Result<FileSink> {
        let clicks = Self::clickstream_path(out);
        Self::open(out.to_path_buf(), clicks, (0, 0))
    }

    /// Reopens the files of a stopped run, cut back to their acknowledged lengths.
    pub fn reopen(state: &SinkState) -> Result<FileSink> {
        match state {
            SinkState::Files { transactions, clickstream, transactions_bytes, clickstream_bytes } => {
                Self::open(transactions.clone(), clickstream.clone(), (*transactions_bytes, *clickstream_bytes))
            }
            SinkState::Bus => Err(GenerateError::State {
                path: PathBuf::new(),
                why: "the stopped run wrote to the bus, not to files; resume without --out".into(),
            }),
        }
    }

    fn open(tx: PathBuf, clicks: PathBuf, bytes: (u64, u64)) -> Result<FileSink> {
        let open = |path: &Path, len: u64| -> Result<BufWriter<File>> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(GenerateError::io(dir))?;
            }
            let mut file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(len == 0)
                .open(path)
                .map_err(GenerateError::io(path))?;
            let actual = file.metadata().map_err(GenerateError::io(path))?.len();
            if actual < len {
                return Err(GenerateError::State {
                    path: path.to_path_buf(),
                    why: format!("is {actual} bytes but {len} were acknowledged; it was changed since"),
                });
            }
            file.set_len(len).map_err(GenerateError::io(path))?;
            file.seek(std::io::SeekFrom::Start(len)).map_err(GenerateError::io(path))?;
            Ok(BufWriter::with_capacity(1 << 20, file))
        };
        let files = (open(&tx, bytes.0)?, open(&clicks, bytes.1)?);
        Ok(FileSink { paths: (tx, clicks), files, bytes })
    }
}

impl Sink for FileSink {
    fn send(&mut self, event: &Event, encoded: &[u8]) -> Result<()> {
        let (file, bytes, path) = match event {
            Event::Transaction(_) => (&mut self.files.0, &mut self.bytes.0, &self.paths.0),
            Event::Click(_) => (&mut self.files.1, &mut self.bytes.1, &self.paths.1),
        };
        file.write_all(encoded).and_then(|_| file.write_all(b"\n")).map_err(GenerateError::io(path))?;
        *bytes += encoded.len() as u64 + 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for (file, path) in [(&mut self.files.0, &self.paths.0), (&mut self.files.1, &self.paths.1)] {
            file.flush().map_err(GenerateError::io(path))?;
            file.get_ref().sync_data().map_err(GenerateError::io(path))?;
        }
        Ok(())
    }

    fn state(&self) -> SinkState {
        SinkState::Files {
            transactions: self.paths.0.clone(),
            clickstream: self.paths.1.clone(),
            transactions_bytes: self.bytes.0,
            clickstream_bytes: self.bytes.1,
        }
    }
}

/// When a run stops and how fast it goes.
#[derive(Clone)]
pub struct RunOptions {
    /// Stop after this many more transactions.
    pub transactions: Option<u64>,
    /// Stop after this much wall-clock time.
    pub duration: Option<Duration>,
    /// Pace to at most this many events per second of wall-clock time.
    pub rate: Option<f64>,
    /// Events per flush.
    pub batch_events: usize,
    /// Emit each event only once this clock has reached its event time (live traffic; events
    /// already due go out at once). Flushes at least every half second while waiting.
    pub realtime: Option<Arc<dyn Clock>>,
    /// Stop (after a last flush) when set.
    pub stop: Option<Arc<AtomicBool>>,
}

impl RunOptions {
    /// As fast as possible, until `transactions` more transactions.
    pub fn transactions(n: u64, batch_events: usize) -> Self {
        RunOptions { transactions: Some(n), duration: None, rate: None, batch_events, realtime: None, stop: None }
    }
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub transactions: u64,
    pub clickstream: u64,
    pub fraud: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub seed: u64,
    /// Transactions in the whole sequence so far (where a `--resume` continues).
    pub counter: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "generated {} transactions and {} click events ({} fraud) in {:.2}s ({:.0} events/s)",
            self.transactions, self.clickstream, self.fraud, self.seconds, self.events_per_second
        )
    }
}

/// Runs `generator` into `sink` until a limit in `options` is reached (or forever). After every
/// acknowledged flush the state goes to `state_path` and `on_commit` hears how much was
/// acknowledged since the last call.
pub fn run(
    generator: &mut Generator,
    sink: &mut dyn Sink,
    options: &RunOptions,
    state_path: Option<&Path>,
    on_commit: &mut dyn FnMut(Counts),
) -> Result<Summary> {
    let started = Instant::now();
    let first = generator.counts();
    let target = options.transactions.map(|n| first.transactions + n);
    let mut committed = first;
    let mut encoded = Vec::with_capacity(1024);
    let mut pending = 0usize;
    let mut emitted = 0u64;
    let mut last_flush = started;
    let mut commit = |generator: &Generator, sink: &mut dyn Sink, committed: &mut Counts| -> Result<()> {
        sink.flush()?;
        if let Some(path) = state_path {
            GeneratorState::new(generator.params().clone(), generator.cursor(), sink.state()).save(path)?;
        }
        let now = generator.counts();
        on_commit(Counts {
            transactions: now.transactions - committed.transactions,
            clicks: now.clicks - committed.clicks,
            fraud: now.fraud - committed.fraud,
        });
        *committed = now;
        Ok(())
    };
    loop {
        if target.is_some_and(|t| generator.counts().transactions >= t) {
            break;
        }
        let check_clock = options.rate.is_some() || emitted.is_multiple_of(1024);
        if check_clock {
            let elapsed = started.elapsed();
            if options.duration.is_some_and(|d| elapsed >= d) {
                break;
            }
            if let Some(rate) = options.rate {
                let due = Duration::from_secs_f64(emitted as f64 / rate);
                if due > elapsed {
                    if pending > 0 && last_flush.elapsed() >= Duration::from_millis(500) {
                        commit(generator, sink, &mut committed)?;
                        pending = 0;
                        last_flush = Instant::now();
                    }
                    std::thread::sleep((due - elapsed).min(Duration::from_millis(100)));
                    continue;
                }
            }
        }
        if options.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let event = generator.next_event();
        if let Some(clock) = &options.realtime {
            loop {
                let ahead = event.time().micros() - clock.now().micros();
                if ahead <= 0 || options.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                    break;
                }
                if pending > 0 && last_flush.elapsed() >= Duration::from_millis(500) {
                    commit(generator, sink, &mut committed)?;
                    pending = 0;
                    last_flush = Instant::now();
                }
                std::thread::sleep(Duration::from_micros(ahead.min(100_000) as u64));
            }
        }
        encoded.clear();
        event.encode(&mut encoded);
        sink.send(&event, &encoded)?;
        emitted += 1;
        pending += 1;
        if pending >= options.batch_events {
            commit(generator, sink, &mut committed)?;
            pending = 0;
            last_flush = Instant::now();
        }
    }
    commit(generator, sink, &mut committed)?;
    let seconds = started.elapsed().as_secs_f64();
    let total = generator.counts();
    let made = Counts {
        transactions: total.transactions - first.transactions,
        clicks: total.clicks - first.clicks,
        fraud: total.fraud - first.fraud,
    };
    Ok(Summary {
        transactions: made.transactions,
        clickstream: made.clicks,
        fraud: made.fraud,
        seconds,
        events_per_second: if seconds > 0.0 { made.events() as f64 / seconds } else { 0.0 },
        seed: generator.params().seed,
        counter: total.transactions,
    })
}
