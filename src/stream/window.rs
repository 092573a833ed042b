//! Event-time windows: assignment, lateness, and keyed window state that emits each window once.
//!
//! # Windows
//!
//! A [`Window`] is the half-open event-time interval `[start, end)`. A [`WindowSpec`] cuts time
//! into windows of `size`, a new one starting every `slide` (`slide = size` for tumbling windows),
//! aligned to the Unix epoch: window starts are multiples of `slide`, so every worker and every
//! restart cuts the same windows. An event at `ts` belongs to the `size / slide` windows whose
//! start is in `(ts - size, ts]` ([`assign`]); an event exactly at a window's start belongs to it,
//! one exactly at its end belongs to the next.
//!
//! # Lateness and finality
//!
//! With watermark `w` (see [`super::time`]) and `allowed_lateness` `L`, an event for a window
//! ending at `end` is ([`classify`]):
//!
//! - **on time** when `w < end` (or there is no watermark yet): the window is still open;
//! - **late** when `end <= w < end + L`: the window is complete by the watermark, but still held
//!   for stragglers; the event is counted, nothing has been emitted yet;
//! - **too late** when `w >= end + L`: the window's final result is out (or due at the next
//!   `advance`). The event is not counted in it but *returned* to the caller
//!   ([`Added::too_late`], [`Added::is_late_event`]), who writes it to the late-events table and
//!   counts it. Nothing is dropped silently.
//!
//! A window's **final result is emitted exactly once**, by [`WindowStore::advance`], when the
//! watermark reaches `end + L`. Lateness only delays finality: there is one row per window and
//! key, ever, so downstream exactly-once needs no retractions. Until then the live, partial
//! state of every open window is available from [`WindowStore::partial`] (the dashboard). A
//! window that received no event for a key emits nothing for it.
//!
//! # State
//!
//! [`WindowStore`] keeps, per key, one [`Accumulator`] per *pane*: the `slide`-long interval
//! `[p, p + slide)` an event falls in. A window is the merge of its `size / slide` panes, built
//! when it closes, so an event costs one accumulator update whatever the overlap, and memory
//! is one accumulator per key and pane, not per window. A pane is dropped when the last window
//! containing it (the one starting at the pane) is emitted. Tumbling windows are one pane each.
//! A watermark that makes windows final *freezes* them (merges their panes) before any later
//! event can touch those panes, which is what keeps W-8 exact for sliding windows.
//!
//! # Invariants
//!
//! - **W-6 assignment**: every window [`assign`] returns contains `ts`, has length `size` and
//!   starts at a multiple of `slide`.
//! - **W-7 window count**: tumbling assigns exactly one window, sliding exactly `size / slide`
//!   (bounded by [`MAX_WINDOWS_PER_EVENT`]), in ascending start order. (Windows that would
//!   reach past the `i64` range are skipped, and the store counts such an event nowhere and
//!   says so; that only happens within `size` of year ±292,000.)
//! - **W-8 classification**: as defined above; an event is counted in exactly the windows it is
//!   not too late for, and reported too late for the others (a sliding event can be both).
//! - **W-9 exactly once**: each (window, key) is emitted at most once, and exactly once when the
//!   watermark reaches `end + allowed_lateness`; after that it is never reopened. The store keeps
//!   the highest watermark it was given, so a stale watermark cannot reopen a window.
//! - **W-10 deterministic**: `advance` emits in (end, start, key) order, and a store restored
//!   from its serialized state mid-stream produces the same outputs as one never interrupted.
//! - **W-11 bounded state**: after `advance(w)`, no state is held for a window with
//!   `end + allowed_lateness <= w`: a pane is dropped with its last window, so a key holds at
//!   most `(size + allowed_lateness) / slide + 1` panes, and a key without panes nothing.

use super::time::duration_micros;
use crate::model::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod store;

pub use store::{Added, Closed, Key, StoreChanges, StoreDelta, StoreImage, WindowStore};

/// The most windows one event may belong to (`size / slide`).
pub const MAX_WINDOWS_PER_EVENT: i64 = 1_000;

/// The event-time interval `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.start <= ts && ts < self.end
    }
}

/// How event time is cut into windows (a config section: `kind = "sliding"`, `size = "15m"`,
/// `slide = "5m"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowSpec {
    Tumbling {
        #[serde(with = "crate::config::duration")]
        size: Duration,
    },
    Sliding {
        #[serde(with = "crate::config::duration")]
        size: Duration,
        #[serde(with = "crate::config::duration")]
        slide: Duration,
    },
}

/// Why a window spec is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("window setting `{setting}` {problem}")]
    Setting { setting: &'static str, problem: String },
    #[error("checkpointed window state is inconsistent: {0}")]
    State(String),
}

/// A valid spec in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    size: i64,
    slide: i64,
}

impl WindowSpec {
    pub fn tumbling(size: Duration) -> Result<Self, WindowError> {
        let spec = WindowSpec::Tumbling { size };
        spec.validate().map(|()| spec)
    }

    pub fn sliding(size: Duration, slide: Duration) -> Result<Self, WindowError> {
        let spec = WindowSpec::Sliding { size, slide };
        spec.validate().map(|()| spec)
    }

    pub fn size(&self) -> Duration {
        match *self {
            WindowSpec::Tumbling { size } | WindowSpec::Sliding { size, .. } => size,
        }
    }

    pub fn slide(&self) -> Duration {
        match *self {
            WindowSpec::Tumbling { size } => size,
            WindowSpec::Sliding { slide, .. } => slide,
        }
    }

    /// Sizes are positive whole microseconds, `size` a multiple of `slide`, and an event belongs
    /// to at most [`MAX_WINDOWS_PER_EVENT`] windows.
    pub fn validate(&self) -> Result<(), WindowError> {
        self.geometry().map(|_| ())
    }

    fn geometry(&self) -> Result<Geometry, WindowError> {
        let micros = |setting: &'static str, d: Duration| {
            let problem = if d.is_zero() {
                "must be greater than 0"
            } else if !d.subsec_nanos().is_multiple_of(1_000) {
                "must be a whole number of microseconds"
            } else if d.as_micros() > i64::MAX as u128 / 4 {
                "is too long"
            } else {
                return Ok(duration_micros(d));
            };
            Err(WindowError::Setting { setting, problem: problem.to_string() })
        };
        let size = micros("size", self.size())?;
        let slide = micros("slide", self.slide())?;
        let setting = |problem: String| WindowError::Setting { setting: "slide", problem };
        if size % slide != 0 {
            let (s, d) = (humantime::format_duration(self.size()), humantime::format_duration(self.slide()));
            return Err(setting(format!("({d}) must divide the window `size` ({s}) evenly")));
        }
        if size / slide > MAX_WINDOWS_PER_EVENT {
            let n = size / slide;
            return Err(setting(format!("makes every event fall into {n} windows (at most {MAX_WINDOWS_PER_EVENT})")));
        }
        Ok(Geometry { size, slide })
    }
}

/// The windows containing `ts`, in ascending start order (W-6, W-7). An invalid spec (see
/// [`WindowSpec::validate`]) assigns none.
pub fn assign(spec: &WindowSpec, ts: Timestamp) -> Assigned {
    match spec.geometry() {
        Ok(g) => Assigned::new(g, ts.micros()),
        Err(_) => Assigned { next: 1, last: 0, size: 1, slide: 1 },
    }
}

/// The iterator [`assign`] returns. Starts are kept in `i128` so no step can overflow.
#[derive(Clone, Debug)]
pub struct Assigned {
    next: i128,
    last: i128,
    size: i64,
    slide: i64,
}

impl Assigned {
    fn new(g: Geometry, ts: i64) -> Self {
        // Divide in i64 (an i128 division is a slow library call on the hot path), multiply in i128.
        let last = i128::from(ts.div_euclid(g.slide)) * i128::from(g.slide);
        let (size, slide) = (i128::from(g.size), i128::from(g.slide));
        Assigned { next: last - size + slide, last, size: g.size, slide: g.slide }
    }
}

impl Iterator for Assigned {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        while self.next <= self.last {
            let start = self.next;
            self.next += i128::from(self.slide);
            let end = start + i128::from(self.size);
            if let (Ok(start), Ok(end)) = (i64::try_from(start), i64::try_from(end)) {
                return Some(Window { start: Timestamp::from_micros(start), end: Timestamp::from_micros(end) });
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = if self.next > self.last { 0 } else { (self.last - self.next) / i128::from(self.slide) + 1 };
        (0, usize::try_from(n).ok())
    }
}

/// Where an event stands relative to one of its windows (W-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lateness {
    /// The watermark has not reached the window's end.
    OnTime,
    /// The watermark passed the end, but by less than the allowed lateness: still counted.
    Late,
    /// The window's final result is out: the event goes to the late-events table.
    TooLate,
}

/// Classifies an event for `window` under `watermark` (W-8).
pub fn classify(window: Window, watermark: Option<Timestamp>, allowed_lateness: Duration) -> Lateness {
    classify_at(window.end.micros(), watermark.map(Timestamp::micros), duration_micros(allowed_lateness))
}

fn classify_at(end: i64, watermark: Option<i64>, lateness: i64) -> Lateness {
    match watermark {
        Some(w) if w >= end.saturating_add(lateness) => Lateness::TooLate,
        Some(w) if w >= end => Lateness::Late,
        _ => Lateness::OnTime,
    }
}

/// What a window keeps per key: events in, one output when it closes.
pub trait Accumulator: Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    type Input: ?Sized;
    type Output;
    fn add(&mut self, input: &Self::Input);
    /// Adds everything `other` has seen, as if its inputs had been added here. Sliding windows
    /// are kept as `slide`-long panes and merged when they close (see [`WindowStore`]).
    fn merge(&mut self, other: &Self);
    fn finish(&self) -> Self::Output;
}

#[cfg(test)]
mod tests;
