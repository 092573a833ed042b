//! What a run of the processor is given (its options and hooks) and what it reports (status
//! snapshots and the running totals kept in checkpoints).

use super::super::committer::Tap;
use crate::fraud::FraudConfig;
use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Running totals, kept in checkpoints so they survive restarts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub transactions: u64,
    pub clicks: u64,
    pub dead_letters: u64,
    pub alerts: u64,
    pub late_events: u64,
    pub windows_closed: u64,
}

/// A snapshot for status lines and the dashboard.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub counters: Counters,
    pub epoch: u64,
    pub committed_epoch: u64,
    pub watermark: Option<Timestamp>,
    pub customers: usize,
    pub open_windows: usize,
    pub open_sessions: usize,
    /// Microseconds from reading a transaction off the log to its fraud decision.
    pub latency_us: Vec<u64>,
    /// The offset of the next record to read, per topic and partition: with the log's end
    /// offsets, the consumer lag.
    pub positions: crate::stream::source::Offsets,
    /// The longest time since the last status that the processing thread did not read, while
    /// busy (closing windows, handing rows over, checkpointing), in microseconds.
    pub stall_us: u64,
}

/// Polled about once a second: new fraud rules to use from the next epoch, if they changed.
pub type Reload = Box<dyn FnMut() -> Option<FraudConfig> + Send>;

/// How a run goes.
pub struct RunOptions {
    /// Stop once the log is drained (end of stream), instead of waiting for more.
    pub until_caught_up: bool,
    /// Set to stop cleanly (final checkpoint) as soon as possible.
    pub stop: Arc<AtomicBool>,
    /// Called after each committed epoch and about once a second.
    pub on_status: Box<dyn FnMut(&Status) + Send>,
    pub reload: Option<Reload>,
    /// Sees every handover of outputs on the committer thread (the live view, metrics).
    pub tap: Option<Tap>,
}
