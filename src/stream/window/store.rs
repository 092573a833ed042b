//! [`WindowStore`]: keyed pane state that emits each window once (see the parent module).
//!
//! Per key the store keeps its live panes, sorted by start, and `next`, the start of the key's
//! next window to emit; one index entry per key, `(end of next window, key)`, gives the closing
//! order across keys. The rules that make W-8 and W-9 hold:
//!
//! - *freeze first*: before an event touches a key's panes, every window of that key the
//!   watermark made final is frozen (its panes merged, the pane at its start dropped), so no
//!   later event can leak into a final window through a shared pane. Other keys' final windows
//!   are frozen only as `advance` emits them: an hour's end makes a million customers' windows
//!   final at once, and they are not all copied into a queue;
//! - *next is exact*: `next` is the earliest window that holds a live pane and is not frozen.
//!   An event accepted for windows from `a` on (the earlier ones too late) sets
//!   `next = min(next, a)`; windows before `a` are final, so none of them can be emitted later
//!   with this event's pane in it.

use super::{Accumulator, Assigned, Geometry, Lateness, Window, WindowError, WindowSpec, classify_at};
use crate::model::Timestamp;
use crate::stream::changelog::MapDelta;
use crate::stream::layered::{Delta, Layered, Whole};
use crate::stream::time::duration_micros;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::time::Duration;

/// What a store's keys must be: ordered (the closing order), hashable (the layered state of
/// incremental checkpoints), serde, and shareable with the checkpoint encoder.
pub trait Key: Ord + Hash + Clone + Serialize + DeserializeOwned + Send + Sync + 'static {}

impl<K: Ord + Hash + Clone + Serialize + DeserializeOwned + Send + Sync + 'static> Key for K {}

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
    /// in none (too late for all, or so far from 1970 that its windows do not fit in `i64`
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

/// One pane's accumulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Pane<A> {
    start: i64,
    acc: A,
}

/// A key's live panes (non-empty, ascending) and the start of its next window to emit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct KeyState<A> {
    next: i64,
    panes: Vec<Pane<A>>,
}

/// A final window not yet returned by `advance`, as checkpoints store an entry of
/// `WindowStore::frozen` (written by `as_frozen_seq`).
#[derive(Deserialize)]
struct Frozen<K, A> {
    start: i64,
    key: K,
    acc: A,
}

/// Final windows frozen before `advance` reached them, by (start, key): the same order as
/// (end, key).
type FrozenMap<K, A> = BTreeMap<(i64, K), A>;

/// Keyed window state: one accumulator per key and pane, each (window, key) emitted once (W-9).
///
/// Per event: one hash lookup of the key and a scan of its few panes from the newest;
/// the key is cloned only when it is new or opens an earlier pane. Serialize it into the
/// checkpoint; restoring gives a store that behaves identically (W-10).
#[derive(Clone)]
pub struct WindowStore<K, A> {
    spec: WindowSpec,
    geometry: Geometry,
    allowed_lateness: Duration,
    lateness: i64,
    /// The highest watermark seen, in microseconds.
    watermark: Option<i64>,
    /// Each key's state: a hash lookup per event (an ordered map compared strings at every level),
    /// layered so that a checkpoint is cut in constant time ([`crate::stream::layered`]).
    keys: Layered<K, KeyState<A>>,
    /// (end of the key's next window, key), one per key in `keys`.
    due: BTreeSet<(i64, K)>,
    /// The panes in `keys`, counted as they come and go: the status reads [`len`](Self::len)
    /// every second, and a million keys are too many to walk on the processing thread.
    panes: usize,
    /// Final windows of keys an event touched before `advance` emitted them (freeze first).
    frozen: FrozenMap<K, A>,
}

impl<K: Key + std::fmt::Debug, A: std::fmt::Debug> std::fmt::Debug for WindowStore<K, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStore")
            .field("spec", &self.spec)
            .field("allowed_lateness", &self.allowed_lateness)
            .field("watermark", &self.watermark)
            .field("keys", &self.keys)
            .field("frozen", &self.frozen)
            .finish_non_exhaustive()
    }
}

impl<K: Key, A: Accumulator> WindowStore<K, A> {
    pub fn new(spec: WindowSpec, allowed_lateness: Duration) -> Result<Self, WindowError> {
        let geometry = spec.geometry()?;
        Ok(WindowStore {
            spec,
            geometry,
            allowed_lateness,
            lateness: duration_micros(allowed_lateness),
            watermark: None,
            keys: Layered::default(),
            due: BTreeSet::new(),
            panes: 0,
            frozen: BTreeMap::new(),
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

    /// Accumulators held: one per key and live pane, plus final windows awaiting `advance`.
    pub fn len(&self) -> usize {
        self.panes + self.frozen.len()
    }

    /// [`len`](Self::len) counted afresh, for the tests to check the running count against.
    #[cfg(test)]
    pub(super) fn recount(&self) -> usize {
        self.keys.iter().map(|(_, k)| k.panes.len()).sum::<usize>() + self.frozen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.frozen.is_empty()
    }

    /// Raises the watermark to `watermark` if higher.
    fn raise(&mut self, watermark: Option<Timestamp>) -> Option<i64> {
        self.watermark = self.watermark.max(watermark.map(Timestamp::micros));
        self.watermark
    }

    /// Whether the window ending at `end` is final under the store's watermark.
    fn is_final(&self, end: i64) -> bool {
        classify_at(end, self.watermark, self.lateness) == Lateness::TooLate
    }

    /// Counts `input`, an event of `key` at `ts`, in each of its windows that is not final under
    /// `watermark` (or a higher one given before), and reports the others (W-8).
    pub fn add<Q>(&mut self, key: &Q, ts: Timestamp, input: &A::Input, watermark: Option<Timestamp>) -> Added
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ToOwned + ?Sized,
        Q::Owned: Into<K>,
    {
        let wm = self.raise(watermark);
        let size = self.geometry.size;
        let mut added = Added::default();
        let windows = Assigned::new(self.geometry, ts.micros());
        let pane = windows.last;
        if windows.next < i128::from(i64::MIN) || pane + i128::from(size) > i128::from(i64::MAX) {
            return added; // W-7: not representable, counted nowhere
        }
        let (pane, mut first) = (pane as i64, None);
        for w in windows {
            match classify_at(w.end.micros(), wm, self.lateness) {
                Lateness::TooLate => added.too_late.push(w),
                lateness => {
                    first = first.or(Some(w.start.micros()));
                    added.updated += 1;
                    added.late += u32::from(lateness == Lateness::Late);
                }
            }
        }
        let Some(first) = first else { return added };
        self.count(key, pane, first, input);
        added
    }

    /// Counts `input` in `pane` of `key`, whose earliest window to count it in starts at
    /// `first`.
    fn count<Q>(&mut self, key: &Q, pane: i64, first: i64, input: &A::Input)
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ToOwned + ?Sized,
        Q::Owned: Into<K>,
    {
        let (size, wm, lateness) = (self.geometry.size, self.watermark, self.lateness);
        match self.keys.get_mut(key) {
            Some(state) if classify_at(state.next + size, wm, lateness) == Lateness::TooLate => {
                self.freeze_key(key); // freeze first
                self.count(key, pane, first, input);
            }
            Some(state) => {
                let panes = &mut state.panes;
                let at = panes.iter().rposition(|p| p.start <= pane).map_or(0, |i| i + 1);
                if at > 0 && panes[at - 1].start == pane {
                    panes[at - 1].acc.add(input);
                } else {
                    let mut acc = A::default();
                    acc.add(input);
                    panes.reserve_exact(1); // most keys hold one pane; a doubling would waste three
                    panes.insert(at, Pane { start: pane, acc });
                    self.panes += 1;
                }
                if first < state.next {
                    // An earlier pane: its windows close before the key's next one did.
                    let key: K = key.to_owned().into();
                    self.due.remove(&(state.next + size, key.clone()));
                    state.next = first;
                    self.due.insert((first + size, key));
                }
            }
            None => {
                let mut acc = A::default();
                acc.add(input);
                let panes = vec![Pane { start: pane, acc }]; // capacity 1
                self.panes += 1;
                let key: K = key.to_owned().into();
                self.keys.insert(key.clone(), KeyState { next: first, panes });
                self.due.insert((first + size, key));
            }
        }
    }

    /// Freezes the final windows of `key` into `frozen`, ahead of `advance`.
    fn freeze_key<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ToOwned + ?Sized,
        Q::Owned: Into<K>,
    {
        while let Some(end) = self.keys.get(key).map(|state| state.next + self.geometry.size)
            && self.is_final(end)
        {
            let key: K = key.to_owned().into();
            self.due.remove(&(end, key.clone()));
            if let Some((start, acc)) = self.freeze(end, &key) {
                self.frozen.insert((start, key), acc);
            }
        }
    }

    /// Freezes the window of `key` ending at `end`, the key's next one, whose index entry the
    /// caller removed: merges its panes, drops the pane at its start, and indexes the key's
    /// next window (or drops the key). Returns (start, accumulator).
    fn freeze(&mut self, end: i64, key: &K) -> Option<(i64, A)> {
        let Geometry { size, slide } = self.geometry;
        let start = end - size;
        let Some(state) = self.keys.get_mut(key) else {
            debug_assert!(false, "W-9 an index entry without state");
            return None;
        };
        // Panes before `start` went with earlier windows, so the window's panes lead.
        debug_assert!(state.panes.first().is_some_and(|p| p.start >= start && p.start < end), "W-9");
        let mut acc = if state.panes.first().is_some_and(|p| p.start == start) {
            self.panes -= 1;
            state.panes.remove(0).acc // its last window: no copy needed
        } else {
            A::default()
        };
        for p in state.panes.iter().take_while(|p| p.start < end) {
            acc.merge(&p.acc);
        }
        match state.panes.first() {
            Some(p) => {
                state.next = p.start.saturating_sub(size - slide).max(start + slide);
                self.due.insert((state.next + size, key.clone()));
            }
            None => {
                self.keys.remove(key);
            }
        }
        Some((start, acc))
    }

    /// The next final window in (end, key) order, frozen: the earlier of the first frozen one
    /// and the first the index says is final.
    fn next_final(&mut self) -> Option<(i64, K, A)> {
        let size = self.geometry.size;
        let due = self.due.first().filter(|(end, _)| self.is_final(*end)).map(|(end, key)| (end - size, key));
        let frozen = self.frozen.first_key_value().map(|((start, key), _)| (*start, key));
        let from_index = match (due, frozen) {
            (None, None) => return None,
            (Some(due), Some(frozen)) => due < frozen,
            (due, _) => due.is_some(),
        };
        if from_index {
            let (end, key) = self.due.pop_first()?;
            match self.freeze(end, &key) {
                Some((start, acc)) => Some((start, key, acc)),
                None => self.next_final(), // W-9 broken (debug builds stop): skip the entry
            }
        } else {
            self.frozen.pop_first().map(|((start, key), acc)| (start, key, acc))
        }
    }

    /// Emits every window final under `watermark` (`end + allowed_lateness <= watermark`), in
    /// (end, start, key) order, and drops their state (W-9, W-10, W-11).
    pub fn advance(&mut self, watermark: Timestamp) -> Vec<Closed<K, A::Output>> {
        let mut out = Vec::new();
        self.advance_some(watermark, usize::MAX, |closed| out.push(closed));
        out
    }

    /// [`advance`](Self::advance), handing at most `max` windows (the next in order) to `emit`;
    /// returns whether final windows remain for another call. An hour's end closes every
    /// customer's window at once: in chunks, their rows need not all be held at the same time.
    pub fn advance_some(
        &mut self,
        watermark: Timestamp,
        max: usize,
        mut emit: impl FnMut(Closed<K, A::Output>),
    ) -> bool {
        self.raise(Some(watermark));
        let size = self.geometry.size;
        for _ in 0..max {
            let Some((start, key, acc)) = self.next_final() else {
                debug_assert!(
                    self.keys.iter().all(|(_, k)| !self.is_final(k.panes[0].start + size)),
                    "W-11 state held for a final window"
                );
                return false;
            };
            emit(Closed { key, window: window(start, size), output: acc.finish() });
        }
        !self.frozen.is_empty() || self.due.first().is_some_and(|(end, _)| self.is_final(*end))
    }

    /// The live state of every window not emitted yet, by key and start (then any frozen ones):
    /// merged from panes on demand, so meant for the dashboard, not per event.
    pub fn partial(&self) -> impl Iterator<Item = (&K, Window, A)> + '_ {
        let Geometry { size, slide } = self.geometry;
        let mut keys: Vec<_> = self.keys.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let open = keys.into_iter().flat_map(move |(key, state)| {
            let last = state.panes.last().map_or(state.next, |p| p.start);
            let starts = (0..).map(move |i| state.next + i * slide).take_while(move |s| *s <= last);
            starts.filter_map(move |s| {
                let mut inside = state.panes.iter().filter(|p| p.start >= s && p.start < s + size).peekable();
                inside.peek()?;
                let mut acc = A::default();
                inside.for_each(|p| acc.merge(&p.acc));
                Some((key, window(s, size), acc))
            })
        });
        open.chain(self.frozen.iter().map(move |((start, key), acc)| (key, window(*start, size), acc.clone())))
    }
}

impl<K: Key, A: Accumulator> WindowStore<K, A> {
    /// Ends the epoch: what changed since the last checkpoint, the watermark, the keys written
    /// (C-1 of [`crate::stream::changelog`]) and the frozen windows. Cut in constant time but
    /// for the frozen windows (few: `advance` emits them), to be written off the processing
    /// thread.
    pub fn delta(&mut self) -> StoreChanges<K, A> {
        StoreChanges { watermark: self.watermark, keys: self.keys.delta(), frozen: self.frozen.clone() }
    }

    /// Ends the epoch: the whole store, cut as [`delta`](Self::delta) is.
    pub fn whole(&mut self) -> StoreImage<K, A> {
        StoreImage {
            spec: self.spec.clone(),
            allowed_lateness: self.allowed_lateness,
            watermark: self.watermark,
            keys: self.keys.whole(),
            frozen: self.frozen.clone(),
        }
    }

    /// Merges key state no checkpoint holds any more, at most `budget` keys (L-4 of
    /// [`crate::stream::layered`]).
    pub fn settle(&mut self, budget: usize) {
        self.keys.settle(budget);
    }

    /// Applies a [`delta`](Self::delta) to the store saved the epoch before, checking each key's
    /// state as a full load does.
    pub fn apply(&mut self, delta: StoreDelta<K, A>) -> Result<(), WindowError> {
        self.watermark = delta.watermark;
        let size = self.geometry.size;
        let MapDelta(set, removed) = delta.keys;
        for key in removed {
            if let Some((next, panes)) = self.keys.get(&key).map(|old| (old.next, old.panes.len())) {
                self.keys.remove(&key);
                self.due.remove(&(next + size, key));
                self.panes -= panes;
            }
        }
        for (key, state) in set {
            check_key(self.geometry, &state)?;
            if let Some((next, panes)) = self.keys.get(&key).map(|old| (old.next, old.panes.len())) {
                self.due.remove(&(next + size, key.clone()));
                self.panes -= panes;
            }
            self.due.insert((state.next + size, key.clone()));
            self.panes += state.panes.len();
            self.keys.insert(key, state);
        }
        self.frozen = frozen_map(self.geometry, delta.frozen)?;
        self.keys.forget_changes(); // restored: nothing changed since that epoch
        Ok(())
    }
}

/// The changes of a store in one epoch (see [`WindowStore::delta`]).
#[derive(Serialize)]
#[serde(bound = "K: Key, A: Serialize")]
pub struct StoreChanges<K, A> {
    watermark: Option<i64>,
    keys: Delta<K, KeyState<A>>,
    #[serde(serialize_with = "as_frozen_seq")]
    frozen: FrozenMap<K, A>,
}

/// A whole store as of an epoch's end (see [`WindowStore::whole`]); serializes as the store does.
#[derive(Serialize)]
#[serde(bound = "K: Key, A: Serialize")]
pub struct StoreImage<K, A> {
    spec: WindowSpec,
    #[serde(with = "crate::config::duration")]
    allowed_lateness: Duration,
    watermark: Option<i64>,
    #[serde(serialize_with = "whole_as_sorted_pairs")]
    keys: Whole<K, KeyState<A>>,
    #[serde(serialize_with = "as_frozen_seq")]
    frozen: FrozenMap<K, A>,
}

/// [`StoreChanges`] read back.
#[derive(Deserialize)]
#[serde(bound = "K: Key, A: Accumulator")]
pub struct StoreDelta<K, A> {
    watermark: Option<i64>,
    keys: MapDelta<K, KeyState<A>>,
    frozen: Vec<Frozen<K, A>>,
}

fn aligned(geometry: Geometry, start: i64) -> bool {
    start.rem_euclid(geometry.slide) == 0 && start.checked_add(geometry.size).is_some()
}

/// A key's restored state: panes aligned to `slide`, ascending, inside the next window.
fn check_key<A>(geometry: Geometry, state: &KeyState<A>) -> Result<(), WindowError> {
    let first = state.panes.first().map_or(i64::MIN, |p| p.start);
    if state.panes.is_empty()
        || !aligned(geometry, state.next)
        || !state.panes.iter().all(|p| aligned(geometry, p.start))
        || state.panes.windows(2).any(|p| p[0].start >= p[1].start)
        || !(first.saturating_sub(geometry.size) < state.next && state.next <= first)
    {
        return Err(WindowError::State(
            "panes must be aligned to `slide`, ascending, and inside the next window".into(),
        ));
    }
    Ok(())
}

/// Restored frozen windows: aligned, and in (end, key) order.
fn frozen_map<K: Ord, A>(geometry: Geometry, frozen: Vec<Frozen<K, A>>) -> Result<FrozenMap<K, A>, WindowError> {
    if !frozen.iter().all(|f| aligned(geometry, f.start))
        || frozen.iter().zip(frozen.iter().skip(1)).any(|(a, b)| (a.start, &a.key) >= (b.start, &b.key))
    {
        return Err(WindowError::State("frozen windows must be aligned and in (end, key) order".into()));
    }
    Ok(frozen.into_iter().map(|f| ((f.start, f.key), f.acc)).collect())
}

/// Frozen windows as a sequence of [`Frozen`], in order.
fn as_frozen_seq<S: Serializer, K: Serialize, A: Serialize>(frozen: &FrozenMap<K, A>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct FrozenRef<'a, K, A> {
        start: i64,
        key: &'a K,
        acc: &'a A,
    }
    s.collect_seq(frozen.iter().map(|((start, key), acc)| FrozenRef { start: *start, key, acc }))
}

fn window(start: i64, size: i64) -> Window {
    Window { start: Timestamp::from_micros(start), end: Timestamp::from_micros(start + size) }
}

/// The serialized form: settings, watermark, each key's state, frozen windows. The closing
/// index is rebuilt on load.
#[derive(Serialize)]
#[serde(bound = "K: Ord + Hash + Serialize, A: Serialize")]
struct SnapshotRef<'a, K, A> {
    spec: &'a WindowSpec,
    #[serde(with = "crate::config::duration")]
    allowed_lateness: Duration,
    watermark: Option<i64>,
    #[serde(serialize_with = "as_sorted_pairs")]
    keys: &'a Layered<K, KeyState<A>>,
    #[serde(serialize_with = "as_frozen_seq")]
    frozen: &'a FrozenMap<K, A>,
}

/// Key order, so that equal stores give equal bytes.
fn as_sorted_pairs<S: Serializer, K: Ord + Hash + Serialize, V: Serialize>(
    map: &&Layered<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut pairs: Vec<_> = map.iter().collect();
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    s.collect_seq(pairs)
}

/// [`as_sorted_pairs`] of a cut.
fn whole_as_sorted_pairs<S: Serializer, K: Ord + Hash + Serialize, V: Serialize>(
    map: &Whole<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.sorted())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot<K, A> {
    spec: WindowSpec,
    #[serde(with = "crate::config::duration")]
    allowed_lateness: Duration,
    watermark: Option<i64>,
    keys: Vec<(K, KeyState<A>)>,
    frozen: Vec<Frozen<K, A>>,
}

impl<K: Ord + Hash + Serialize, A: Serialize> Serialize for WindowStore<K, A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (spec, allowed_lateness, watermark) = (&self.spec, self.allowed_lateness, self.watermark);
        SnapshotRef { spec, allowed_lateness, watermark, keys: &self.keys, frozen: &self.frozen }.serialize(s)
    }
}

impl<'de, K: Key, A: Accumulator> Deserialize<'de> for WindowStore<K, A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let snap = Snapshot::<K, A>::deserialize(d)?;
        let mut store = WindowStore::new(snap.spec, snap.allowed_lateness).map_err(serde::de::Error::custom)?;
        store.watermark = snap.watermark;
        let (geometry, size) = (store.geometry, store.geometry.size);
        for (key, state) in snap.keys {
            check_key(geometry, &state).map_err(serde::de::Error::custom)?;
            store.due.insert((state.next + size, key.clone()));
            store.panes += state.panes.len();
            if !store.keys.insert(key, state) {
                return Err(serde::de::Error::custom(WindowError::State("a key appears twice".into())));
            }
        }
        store.frozen = frozen_map(geometry, snap.frozen).map_err(serde::de::Error::custom)?;
        store.keys.forget_changes(); // restored: nothing changed since that epoch
        Ok(store)
    }
}
