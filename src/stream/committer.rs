//! The committer: the processor's one I/O thread, which lands outputs and closes epochs.
//!
//! # The epoch protocol (the effectively-once guarantee)
//!
//! The processing thread sends the committer, in order, batches of [`Outputs`] and, at the end
//! of each epoch N, an epoch marker carrying the source offsets and operator state of the cut.
//! For each marker the committer:
//!
//! 1. **stages** every table's rows of the epoch ([`Tables::stage`]: the data files, written as
//!    the rows came, are finished, not committed, invisible to readers);
//! 2. writes **checkpoint N** atomically: offsets + state + the staged files
//!    ([`super::checkpoint`]; the operators' images are in its draft already, written there by
//!    the epoch's checkpoint encoder thread, which the committer waits for first);
//! 3. **commits** each table's staged files with the application transaction (app id, N),
//!    skipped for a table whose recorded version for the app id is already >= N;
//! 4. reports the epoch done, so the processing thread publishes the offsets for lag.
//!
//! Bus records (alerts, closed windows, dead letters) are sent and flushed as their batch of
//! outputs arrives, without waiting for the epoch.
//!
//! After a crash the processor loads the newest checkpoint N and runs step 3 for it again
//! (idempotent), then reads on from N's offsets with N's state. Every row of an epoch thus lands
//! in each table exactly once: before step 2 nothing of the epoch is visible and the epoch is
//! recomputed from checkpoint N-1; after step 2 the epoch's rows are fixed in the checkpoint and
//! only committed, at most once per table. Bus outputs are at-least-once (records of an epoch cut
//! short by a crash are sent again on replay) and carry deterministic keys (alert id, window,
//! source offset) so readers can drop repeats.

use super::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Draft, Stored};
use super::outputs::Outputs;
use super::source::Offsets;
use crate::bus::{BusError, Producer};
use crate::model::{Clock, topic};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

/// Staged writes per table, as the checkpoint stores them.
pub type Staged = BTreeMap<String, String>;

/// An error of a sink table (the lake, or a test double).
#[derive(Debug, thiserror::Error)]
#[error("table {table}: {message}")]
pub struct TableError {
    pub table: String,
    pub message: String,
    pub retryable: bool,
}

/// The tables of the processor: rows written into uncommitted files as they come, staged per
/// epoch, committed idempotently.
pub trait Tables: Send {
    /// Takes the rows of `outputs` into the current epoch (written, not yet visible).
    fn write(&mut self, outputs: &Outputs) -> Result<(), TableError>;
    /// Finishes the epoch's files, uncommitted; an empty map when it had no rows.
    fn stage(&mut self) -> Result<Staged, TableError>;
    /// Commits `staged` as epoch `epoch` of application `app_id`, once per table.
    fn commit(&mut self, app_id: &str, epoch: u64, staged: &Staged) -> Result<(), TableError>;
}

/// What the committer failed at; the processor stops (and resumes from its checkpoint).
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("writing the lake: {0}")]
    Table(#[from] TableError),
    #[error("writing the checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("writing to the bus: {0}")]
    Bus(#[from] BusError),
}

impl CommitError {
    pub fn retryable(&self) -> bool {
        match self {
            CommitError::Table(e) => e.retryable,
            CommitError::Checkpoint(e) => e.retryable(),
            CommitError::Bus(e) => e.retryable(),
        }
    }
}

/// The end of an epoch being encoded: waits for its checkpoint's `state` and the draft the
/// operators' images were written into (whole or changes only, as the draft says, with the
/// epoch).
pub type Encoding<S> = Box<dyn FnOnce() -> Result<(S, Draft), CheckpointError> + Send>;

/// A message from the processing thread.
pub enum ToCommitter<S> {
    Rows(Box<Outputs>),
    /// The end of an epoch.
    Epoch {
        offsets: Offsets,
        encoding: Encoding<S>,
    },
}

/// A message back: an epoch is durable, or the committer failed.
pub enum FromCommitter {
    Done {
        epoch: u64,
        offsets: Offsets,
        rows: u64,
        staged_tables: usize,
        /// Whether the checkpoint holds the whole operator state, and the state's bytes.
        full: bool,
        state_bytes: u64,
    },
    Failed(CommitError),
}

pub struct Committer {
    pub app_id: String,
    pub tables: Box<dyn Tables>,
    pub store: CheckpointStore,
    pub producer: Box<dyn Producer>,
    pub clock: Arc<dyn Clock>,
    /// Sees every handover of outputs after it is written (the live view, metrics).
    pub tap: Option<Tap>,
}

/// A reader of the outputs the committer lands, called on the committer thread.
pub type Tap = Box<dyn FnMut(&Outputs) + Send>;

impl Committer {
    /// Runs until the processing thread hangs up; reports every epoch (or the first failure).
    pub fn run<S: serde::Serialize>(mut self, rx: Receiver<ToCommitter<S>>, done: SyncSender<FromCommitter>) {
        let mut rows = 0u64;
        for message in rx {
            let result = match message {
                ToCommitter::Rows(outputs) => {
                    rows += outputs.rows() as u64;
                    self.rows(&outputs)
                }
                ToCommitter::Epoch { offsets, encoding } => {
                    self.epoch(&offsets, encoding).map(|(at, staged_tables, state_bytes)| {
                        let _ = done.send(FromCommitter::Done {
                            epoch: at.epoch,
                            offsets,
                            rows: std::mem::take(&mut rows),
                            staged_tables,
                            full: !at.delta,
                            state_bytes,
                        });
                    })
                }
            };
            if let Err(error) = result {
                let _ = done.send(FromCommitter::Failed(error));
                return;
            }
        }
    }

    fn rows(&mut self, outputs: &Outputs) -> Result<(), CommitError> {
        for (topic, key, value) in &outputs.messages {
            self.producer.send(topic, key, value)?;
        }
        // Closed windows go to `analytics` as JSON, written here rather than on the processing
        // thread, into two buffers for all of them.
        let (mut key, mut value) = (Vec::new(), Vec::with_capacity(1024));
        for (table, row) in &outputs.windows {
            match row.analytics_record(table, &mut key, &mut value) {
                Ok(()) => self.producer.send(topic::ANALYTICS, &key, &value)?,
                Err(e) => tracing::warn!(table, window_start = %row.window_start, "analytics record not written: {e}"),
            }
        }
        // Alerts and closed windows should reach their readers now, not at the end of the epoch.
        if !outputs.messages.is_empty() || !outputs.windows.is_empty() {
            self.producer.flush()?;
        }
        self.tables.write(outputs)?;
        if let Some(tap) = self.tap.as_mut() {
            tap(outputs);
        }
        Ok(())
    }

    /// Steps 1-3 of the protocol; returns the checkpoint written, the tables staged and the
    /// bytes of operator state.
    fn epoch<S: serde::Serialize>(
        &mut self,
        offsets: &Offsets,
        encoding: Encoding<S>,
    ) -> Result<(Stored, usize, u64), CommitError> {
        use crate::telemetry::metrics as m;
        let started = std::time::Instant::now();
        let staged = self.tables.stage()?;
        let (state, draft) = encoding()?;
        let state_bytes = draft.position();
        let written_at = self.clock.now();
        let Stored { epoch, delta } = draft.at();
        let checkpoint = Checkpoint { epoch, offsets: offsets.clone(), state, staged, written_at, delta };
        self.store.write(&checkpoint, draft)?;
        let committing = std::time::Instant::now();
        self.tables.commit(&self.app_id, epoch, &checkpoint.staged)?;
        self.producer.flush()?;
        metrics::histogram!(m::LAKE_COMMIT_DURATION).record(committing.elapsed().as_secs_f64());
        metrics::histogram!(m::CHECKPOINT_DURATION).record(started.elapsed().as_secs_f64());
        metrics::gauge!(m::CHECKPOINT_SIZE, "kind" => if delta { "delta" } else { "full" }).set(state_bytes as f64);
        Ok((Stored { epoch, delta }, checkpoint.staged.len(), state_bytes))
    }
}
