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
//! - **too late** when `w >= end + L`: the window's final result is already out. The event is not
//!   counted in it but *returned* to the caller ([`Added::too_late`],
//!   [`Added::is_late_event`]), who writes it to the late-events table and counts it. Nothing is
//!   dropped silently.
//!
//! A window's **final result is emitted exactly once**, by [`WindowStore::advance`], when the
//! watermark reaches `end + L`. Lateness only delays finality: there is one row per window and
//! key, ever, so downstream exactly-once needs no retractions. Until then the live, partial
//! state of every open window is available from [`WindowStore::partial`] (the dashboard).
//!
//! # Invariants
//!
//! - **W-6 assignment**: every window [`assign`] returns contains `ts`, has length `size` and
//!   starts at a multiple of `slide`.
//! - **W-7 window count**: tumbling assigns exactly one window, sliding exactly `size / slide`
//!   (bounded by [`MAX_WINDOWS_PER_EVENT`]), in ascending start order. (Windows that would
//!   reach past the `i64` range are skipped; that only happens within `size` of year ±292,000.)
//! - **W-8 classification**: as defined above; an event is counted in exactly the windows it is
//!   not too late for, and reported too late for the others (a sliding event can be both).
//! - **W-9 exactly once**: each (window, key) is emitted at most once, and exactly once when the
//!   watermark reaches `end + allowed_lateness`; after that it is never reopened. The store keeps
//!   the highest watermark it was given, so a stale watermark cannot reopen a window.
//! - **W-10 deterministic**: `advance` emits in (end, start, key) order, and a store restored
//!   from its serialized state mid-stream produces the same outputs as one never interrupted.
//! - **W-11 bounded state**: after `advance(w)`, no open window has `end + allowed_lateness <= w`;
//!   a window's state is dropped when it is emitted.

use super::time::duration_micros;
use crate::model::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

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
        let (ts, size, slide) = (i128::from(ts), i128::from(g.size), i128::from(g.slide));
        let last = ts.div_euclid(slide) * slide;
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
pub trait Accumulator: Default + Clone + Serialize + DeserializeOwned {
    type Input: ?Sized;
    type Output;
    fn add(&mut self, input: &Self::Input);
    fn finish(&self) -> Self::Output;
}

/// What [`WindowStore::add`] did with an event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "events too late for a window must go to the late-events table"]
pub struct Added {
    /// Windows the event was counted in.
    pub updated: u32,
    /// Of those, windows the watermark had already passed (within the allowed lateness).
    pub late: u32,
    /// Windows already final, for which the event came too late (ascending). Empty, and so
    /// allocation-free, in the common case.
    pub too_late: Vec<Window>,
}

impl Added {
    /// Whether the event belongs in the late-events table: too late for some window, or counted
    /// in none (too late for all, or so far from 1970 that no window of it fits in `i64`
    /// microseconds, see W-7).
    pub fn is_late_event(&self) -> bool {
        !self.too_late.is_empty() || self.updated == 0
    }
}

/// A window's final result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Closed<K, O> {
    pub key: K,
    pub window: Window,
    pub output: O,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Slot<A> {
    start: i64,
    acc: A,
}

/// Keyed window state: accumulators per (window, key), emitted once each (W-9).
///
/// Per event the cost is one ordered-map lookup of the key and a short scan of that key's open
/// windows; the key is cloned only when it opens a window. Serialize it into the checkpoint.
#[derive(Clone, Debug)]
pub struct WindowStore<K, A> {
    spec: WindowSpec,
    geometry: Geometry,
    allowed_lateness: Duration,
    lateness: i64,
    /// The highest watermark seen, in microseconds.
    watermark: Option<i64>,
    /// Each key's open windows, by ascending start.
    open: BTreeMap<K, Vec<Slot<A>>>,
    /// (end, key) of every open window: the closing order.
    closing: BTreeSet<(i64, K)>,
}

impl<K: Ord + Clone + Serialize + DeserializeOwned, A: Accumulator> WindowStore<K, A> {
    pub fn new(spec: WindowSpec, allowed_lateness: Duration) -> Result<Self, WindowError> {
        let geometry = spec.geometry()?;
        let lateness = duration_micros(allowed_lateness);
        Ok(WindowStore {
            spec,
            geometry,
            allowed_lateness,
            lateness,
            watermark: None,
            open: BTreeMap::new(),
            closing: BTreeSet::new(),
        })
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    pub fn allowed_lateness(&self) -> Duration {
        self.allowed_lateness
    }

    /// The highest watermark given to `add` or `advance`.
    pub fn watermark(&self) -> Option<Timestamp> {
        self.watermark.map(Timestamp::from_micros)
    }

    /// Open (window, key) pairs: the state held in memory.
    pub fn len(&self) -> usize {
        self.closing.len()
    }

    pub fn is_empty(&self) -> bool {
        self.closing.is_empty()
    }

    fn raise_watermark(&mut self, watermark: Option<Timestamp>) -> Option<i64> {
        let given = watermark.map(Timestamp::micros);
        self.watermark = self.watermark.max(given);
        self.watermark
    }

    /// Counts `input`, an event of `key` at `ts`, in each of its windows that is not final yet
    /// under `watermark` (or a higher one given before), and reports the rest (W-8).
    pub fn add<Q>(&mut self, key: &Q, ts: Timestamp, input: &A::Input, watermark: Option<Timestamp>) -> Added
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        let wm = self.raise_watermark(watermark);
        let Geometry { size, slide } = self.geometry;
        let mut added = Added::default();
        let mut windows = Assigned::new(self.geometry, ts.micros()).peekable();
        while let Some(w) = windows.next_if(|w| classify_at(w.end.micros(), wm, self.lateness) == Lateness::TooLate) {
            added.too_late.push(w);
        }
        if windows.peek().is_none() {
            return added;
        }
        if !self.open.contains_key(key) {
            // A new key: the only place besides a window's opening where the key is cloned.
            self.open.insert(key.to_owned(), Vec::with_capacity((size / slide) as usize));
        }
        let Some(slots) = self.open.get_mut(key) else { return added };
        let mut i = 0;
        for w in windows {
            let start = w.start.micros();
            while i < slots.len() && slots[i].start < start {
                i += 1;
            }
            if i == slots.len() || slots[i].start != start {
                slots.insert(i, Slot { start, acc: A::default() });
                let fresh = self.closing.insert((w.end.micros(), key.to_owned()));
                debug_assert!(fresh, "W-9 window reopened");
            }
            slots[i].acc.add(input);
            added.updated += 1;
            if classify_at(w.end.micros(), wm, self.lateness) == Lateness::Late {
                added.late += 1;
            }
        }
        added
    }

    /// Emits every window final under `watermark` (`end + allowed_lateness <= watermark`), in
    /// (end, start, key) order, and drops their state (W-9, W-10, W-11).
    pub fn advance(&mut self, watermark: Timestamp) -> Vec<Closed<K, A::Output>> {
        let mut out = Vec::new();
        self.advance_into(watermark, &mut out);
        out
    }

    /// [`advance`](Self::advance), appending to a buffer the caller reuses.
    pub fn advance_into(&mut self, watermark: Timestamp, out: &mut Vec<Closed<K, A::Output>>) {
        let Some(wm) = self.raise_watermark(Some(watermark)) else { return };
        while let Some((end, _)) = self.closing.first() {
            if end.saturating_add(self.lateness) > wm {
                break;
            }
            let Some((end, key)) = self.closing.pop_first() else { break };
            let start = end - self.geometry.size;
            let Some(slots) = self.open.get_mut(&key) else {
                debug_assert!(false, "W-11 closing index names a key without state");
                continue;
            };
            // Windows of one key close in start order, so this is the first slot.
            debug_assert_eq!(slots.first().map(|s| s.start), Some(start));
            let Some(i) = slots.iter().position(|s| s.start == start) else { continue };
            let slot = slots.remove(i);
            if slots.is_empty() {
                self.open.remove(&key);
            }
            let window = Window { start: Timestamp::from_micros(start), end: Timestamp::from_micros(end) };
            out.push(Closed { key, window, output: slot.acc.finish() });
        }
        debug_assert!(self.closing.first().is_none_or(|(end, _)| end.saturating_add(self.lateness) > wm), "W-11");
    }

    /// The open windows and their live state, by key then start (for the dashboard).
    pub fn partial(&self) -> impl Iterator<Item = (&K, Window, &A)> + '_ {
        let size = self.geometry.size;
        self.open.iter().flat_map(move |(key, slots)| {
            slots.iter().map(move |s| {
                let window =
                    Window { start: Timestamp::from_micros(s.start), end: Timestamp::from_micros(s.start + size) };
                (key, window, &s.acc)
            })
        })
    }
}

/// The serialized form: settings, watermark, and each key's open windows. The closing index is
/// rebuilt on load.
#[derive(Serialize)]
#[serde(bound = "K: Serialize, A: Serialize")]
struct SnapshotRef<'a, K, A> {
    spec: &'a WindowSpec,
    #[serde(with = "crate::config::duration")]
    allowed_lateness: Duration,
    watermark: Option<i64>,
    #[serde(serialize_with = "as_pairs")]
    open: &'a BTreeMap<K, Vec<Slot<A>>>,
}

fn as_pairs<S: Serializer, K: Serialize, V: Serialize>(map: &&BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.iter())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot<K, A> {
    spec: WindowSpec,
    #[serde(with = "crate::config::duration")]
    allowed_lateness: Duration,
    watermark: Option<i64>,
    open: Vec<(K, Vec<Slot<A>>)>,
}

impl<K: Serialize, A: Serialize> Serialize for WindowStore<K, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SnapshotRef {
            spec: &self.spec,
            allowed_lateness: self.allowed_lateness,
            watermark: self.watermark,
            open: &self.open,
        }
        .serialize(s)
    }
}

impl<'de, K: Ord + Clone + Serialize + DeserializeOwned, A: Accumulator> Deserialize<'de> for WindowStore<K, A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let snap = Snapshot::<K, A>::deserialize(d)?;
        let mut store = WindowStore::new(snap.spec, snap.allowed_lateness).map_err(serde::de::Error::custom)?;
        store.watermark = snap.watermark;
        let Geometry { size, slide } = store.geometry;
        let bad = |what: &str| serde::de::Error::custom(WindowError::State(what.to_string()));
        for (key, slots) in snap.open {
            let aligned = slots.iter().all(|s| s.start.rem_euclid(slide) == 0 && s.start.checked_add(size).is_some());
            if !aligned || slots.windows(2).any(|p| p[0].start >= p[1].start) {
                return Err(bad("window starts must be aligned to `slide` and ascending per key"));
            }
            for s in &slots {
                store.closing.insert((s.start + size, key.clone()));
            }
            if !slots.is_empty() && store.open.insert(key, slots).is_some() {
                return Err(bad("a key appears twice"));
            }
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests;
