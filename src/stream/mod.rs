//! The stream processor: from the bus to scored, enriched and aggregated outputs.
//!
//! Every event carries the time it happened (its *event time*), and events arrive a little out of
//! order, from several bus partitions that progress at different speeds. A *watermark* is the
//! processor's running claim that no more events older than it are expected; [`time`] computes it
//! from what each input partition has shown, so that a slow partition holds it back and an idle
//! one does not. *Windows* cut event time into fixed intervals (tumbling or sliding) and
//! aggregate each key's events per interval; [`window`] assigns events to windows, decides
//! whether an event is on time, late or too late for a window, and emits each window's final
//! result exactly once when the watermark has passed it. Both are pure: no I/O, no clock (time is
//! passed in), deterministic, and their state is serde so that it is checkpointed and restored
//! after a crash to behave exactly as if nothing had happened. The invariants are numbered W-1,
//! W-2... across both files; the ids appear in the docs, the `debug_assert!`s and the test names.
//!
//! Around them: [`source`] reads the bus, [`operators`] decode, enrich and score, aggregate and
//! sessionize, each following the [`operator::Operator`] lifecycle, [`checkpoint`] stores epochs
//! atomically, and [`runtime`] drives it all.

pub mod changelog;
pub mod checkpoint;
pub mod committer;
pub mod handover;
pub mod layered;
pub mod memory_tables;
pub mod operator;
pub mod operators;
pub mod outputs;
pub mod priority;
pub mod runtime;
#[cfg(test)]
mod runtime_test;
pub mod source;
pub mod time;
pub mod window;

pub use outputs::Outputs;
