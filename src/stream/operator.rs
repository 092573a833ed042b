//! The operator lifecycle: what the runtime calls on every stage of the processor, and when.
//!
//! The runtime ([`super::runtime`]) drives operators through one fixed sequence:
//!
//! 1. `restore` with each checkpoint of the newest chain, oldest first: a full image of its
//!    state, then the changes of each later epoch (nothing on a first start);
//! 2. `batch` for every batch of input (its typed `batch` method; the input type differs per
//!    operator, so it is not part of this trait);
//! 3. `watermark` whenever the event-time watermark advances, after the batch that advanced it,
//!    and again with the same watermark while it reports more results to emit (each call emits
//!    a bounded number, which the runtime hands on before asking for more);
//! 4. `tick` about once a second of processing time, for work driven by the wall clock (nothing
//!    that changes outputs: outputs depend on event time only, so a replay reproduces them);
//! 5. `checkpoint` at the end of an epoch: the operator hands over a [`Snapshot`] of its state,
//!    whole or only what changed since its previous checkpoint, as the runtime asks (see
//!    [`super::changelog`]). Taking it must cost about the same whatever the state holds (keyed
//!    state lives in [`super::layered`] maps, which cut in constant time): a checkpoint encoder
//!    thread writes it into the checkpoint while processing goes on;
//! 6. `settle` between batches: bounded housekeeping of layered state that snapshots let go of;
//! 7. `commit` once the epoch's checkpoint is durable and its sink writes are committed;
//! 8. `close` on a clean stop, after a final watermark and checkpoint.
//!
//! Hooks default to doing nothing, so an operator implements only what it needs. Operators never
//! do I/O of their own: what they produce goes into [`Outputs`], which the runtime hands to the
//! sinks, and their state goes to and from the reader or writer the runtime gives them.

use crate::model::Timestamp;
use std::io::{Read, Write};

/// An operator's state as of an epoch's end, owned (sharing frozen layers, never mutated
/// afterwards): written into the checkpoint later, off the processing thread.
pub type Snapshot = Box<dyn FnOnce(&mut dyn Write) -> Result<(), OperatorError> + Send>;

/// A [`Snapshot`] that writes `image` with [`save`].
pub fn snapshot<T: serde::Serialize + Send + 'static>(operator: &'static str, image: T) -> Snapshot {
    Box::new(move |out| save(operator, &image, out))
}

/// The least number of entries per layered map that one [`Operator::settle`] may merge; the
/// runtime allows more after a large batch (twice its events: each event adds at most one entry
/// to a map's live layer, so merging keeps up, and its cost stays in proportion to the batch).
pub const SETTLE_MIN: usize = 256;

/// An error from an operator: its state could not be saved or restored.
#[derive(Debug, thiserror::Error)]
#[error("operator {operator}: {message}")]
pub struct OperatorError {
    pub operator: &'static str,
    pub message: String,
}

impl OperatorError {
    pub fn new(operator: &'static str, message: impl ToString) -> Self {
        OperatorError { operator, message: message.to_string() }
    }
}

/// The lifecycle hooks every operator has.
pub trait Operator {
    /// A short stable name, also the key of the operator's state in checkpoints.
    fn name(&self) -> &'static str;

    /// Restores a state saved by [`Operator::checkpoint`]: a whole one (`full`), or the
    /// changes of the epoch after the one restored last.
    fn restore(&mut self, _image: &mut dyn Read, _full: bool) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The event-time watermark moved to `watermark`: close what it closes, emitting about
    /// `budget` results per window family at most. Returns whether results remain.
    fn watermark(&mut self, _watermark: Timestamp, _budget: usize, _out: &mut super::Outputs) -> bool {
        false
    }

    /// About once a second of processing time.
    fn tick(&mut self, _now: Timestamp) {}

    /// Ends the epoch: the operator's state to write into its checkpoint, whole when `full`,
    /// else what changed since its previous checkpoint. Either way the next one records changes
    /// afresh. Costs about the same whatever the state holds.
    fn checkpoint(&mut self, _full: bool) -> Snapshot {
        Box::new(|_| Ok(()))
    }

    /// Between batches: merges layered state that snapshots let go of, at most `budget` entries
    /// per map.
    fn settle(&mut self, _budget: usize) {}

    /// Epoch `epoch` is durable everywhere.
    fn commit(&mut self, _epoch: u64) {}

    /// A clean stop.
    fn close(&mut self, _out: &mut super::Outputs) {}
}

/// Serialises operator state: compact MessagePack, structs as arrays (field names repeated for
/// each of a million customers were most of the bytes), straight into the checkpoint. State
/// stays readable across versions when new fields go last with `#[serde(default)]`; [`load`]
/// also reads the named form.
pub fn save<T: serde::Serialize>(operator: &'static str, state: &T, out: &mut dyn Write) -> Result<(), OperatorError> {
    // MessagePack writes a few bytes at a time: into a buffer of a known type, not each through
    // the `dyn Write`.
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
    rmp_serde::encode::write(&mut buffered, state)
        .map_err(|e| e.to_string())
        .and_then(|()| buffered.flush().map_err(|e| e.to_string()))
        .map_err(|e| OperatorError::new(operator, format!("cannot save state: {e}")))
}

/// Restores state written by [`save`].
pub fn load<T: serde::de::DeserializeOwned>(operator: &'static str, image: &mut dyn Read) -> Result<T, OperatorError> {
    rmp_serde::from_read(image).map_err(|e| {
        OperatorError::new(
            operator,
            format!("cannot restore state from the checkpoint ({e}); was it written by another version?"),
        )
    })
}
