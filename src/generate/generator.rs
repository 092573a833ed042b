//! The generator proper: episodes in arrival order, merged into one event-time-ordered stream
//! through a priority queue, with a [`Cursor`] that says where in the stream it stands.

use super::schedule::{EpisodeKind, Mix};
use super::{Params, STREAM_EPISODE, World, fraud, session, stream_rng};
use crate::model::{ClickEvent, Event, Timestamp, Transaction};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

/// The position of an event in the generated stream: events leave in increasing key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKey {
    pub time: Timestamp,
    pub episode: u64,
    pub seq: u32,
}

/// Events emitted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub transactions: u64,
    pub clicks: u64,
    /// Transactions with an injected fraud scenario.
    pub fraud: u64,
}

impl Counts {
    pub fn events(&self) -> u64 {
        self.transactions + self.clicks
    }
}

/// Where the generator stands: enough to resume the stream exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Emitted so far, over all runs of this sequence; `counts.transactions` is the counter.
    pub counts: Counts,
    /// The oldest episode with events not yet emitted (or the next episode to start).
    pub resume_episode: u64,
    pub resume_start: Timestamp,
    /// The key of the last emitted event; `None` before the first.
    pub last: Option<EventKey>,
}

/// Pre-built id prefixes: ids are `<kind><seed hex>-<episode hex>-<seq>`, unique within a seed.
pub(crate) struct Ids {
    tx: String,
    click: String,
    session: String,
    device: String,
}

impl Ids {
    fn new(seed: u64) -> Ids {
        Ids {
            tx: format!("T{seed:x}-"),
            click: format!("C{seed:x}-"),
            session: format!("S{seed:x}-"),
            device: format!("F{seed:x}-"),
        }
    }

    fn make(prefix: &str, episode: u64, seq: Option<u32>) -> CompactString {
        let mut s = CompactString::with_capacity(prefix.len() + 24);
        s.push_str(prefix);
        let _ = write!(s, "{episode:x}");
        if let Some(seq) = seq {
            let _ = write!(s, "-{seq}");
        }
        s
    }
}

/// What an episode builder writes into: its events with their time and position.
pub(crate) struct Ctx<'a> {
    pub world: &'a World,
    pub params: &'a Params,
    ids: &'a Ids,
    pub index: u64,
    pub start: i64,
    seq: u32,
    queue: &'a mut Queue,
    kept: u32,
}

impl Ctx<'_> {
    /// The session id of this episode.
    pub fn session_id(&self) -> CompactString {
        Ids::make(&self.ids.session, self.index, None)
    }

    /// A device id no customer owns (a fraudster's), unique to this episode.
    pub fn foreign_device(&self) -> CompactString {
        Ids::make(&self.ids.device, self.index, None)
    }

    /// The key of the next event at `at`, or `None` when a resume already emitted it.
    fn key(&mut self, at: i64) -> Option<EventKey> {
        debug_assert!(at >= self.start, "an episode's events start with it");
        let key = EventKey { time: Timestamp::from_micros(at.max(self.start)), episode: self.index, seq: self.seq };
        self.seq += 1;
        if self.queue.skip_through.is_some_and(|s| key <= s) { None } else { Some(key) }
    }

    /// Adds a transaction at `at`; its id and timestamp are filled in here.
    pub fn push_tx(&mut self, at: i64, mut tx: Transaction) {
        let Some(key) = self.key(at) else { return };
        tx.transaction_id = Ids::make(&self.ids.tx, self.index, Some(key.seq));
        tx.timestamp = key.time;
        self.queue.push(key, Event::Transaction(tx));
        self.kept += 1;
    }

    /// Adds a click at `at` when the clickstream is on; `build` gets the event id. The position
    /// is taken either way, so turning clicks off leaves the transactions unchanged.
    pub fn push_click(&mut self, at: i64, build: impl FnOnce(CompactString) -> ClickEvent) {
        let Some(key) = self.key(at) else { return };
        if self.params.clickstream {
            let mut click = build(Ids::make(&self.ids.click, self.index, Some(key.seq)));
            click.event_timestamp = key.time;
            self.queue.push(key, Event::Click(click));
            self.kept += 1;
        }
    }
}

/// Events waiting for their turn: a min-heap of keys pointing into a slab of events, so that
/// sifting moves small entries rather than whole events.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(EventKey, u32)>>,
    slab: Vec<Option<Event>>,
    free: Vec<u32>,
    /// While resuming: events at or before this key were already emitted.
    skip_through: Option<EventKey>,
}

impl Queue {
    fn push(&mut self, key: EventKey, event: Event) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((key, slot)));
    }

    fn peek_time(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse((k, _))| k.time.micros())
    }

    fn pop(&mut self) -> Option<(EventKey, Event)> {
        let Reverse((key, slot)) = self.heap.pop()?;
        let event = self.slab[slot as usize].take().expect("queued slots hold an event");
        self.free.push(slot);
        Some((key, event))
    }
}

/// Episodes from the oldest one with events still queued to the newest generated: its start
/// and its events still queued, indexed by episode minus `base`.
#[derive(Default)]
struct Open {
    base: u64,
    episodes: VecDeque<(i64, u32)>,
}

impl Open {
    fn push(&mut self, index: u64, start: i64, remaining: u32) {
        if self.episodes.is_empty() {
            self.base = index;
        }
        debug_assert_eq!(self.base + self.episodes.len() as u64, index);
        self.episodes.push_back((start, remaining));
        self.trim();
    }

    fn emitted_one(&mut self, index: u64) {
        self.episodes[(index - self.base) as usize].1 -= 1;
        self.trim();
    }

    fn trim(&mut self) {
        while self.episodes.front().is_some_and(|e| e.1 == 0) {
            self.episodes.pop_front();
            self.base += 1;
        }
    }

    fn oldest(&self) -> Option<(u64, i64)> {
        self.episodes.front().map(|e| (self.base, e.0))
    }
}

/// The synthetic shop, as an endless stream of events in event-time order.
pub struct Generator {
    params: Params,
    world: Arc<World>,
    mix: Mix,
    ids: Ids,
    next_index: u64,
    next_start: i64,
    queue: Queue,
    open: Open,
    counts: Counts,
    last: Option<EventKey>,
}

impl Generator {
    /// A generator at the start of the sequence `params` describe.
    pub fn new(params: Params, world: Arc<World>) -> Generator {
        let start = params.start.micros();
        Generator::at(params, world, 0, start, None, Counts::default())
    }

    /// A generator that continues right after `cursor`: it regenerates the episodes still in
    /// flight and drops what was already emitted.
    pub fn resume(params: Params, world: Arc<World>, cursor: &Cursor) -> Generator {
        Generator::at(params, world, cursor.resume_episode, cursor.resume_start.micros(), cursor.last, cursor.counts)
    }

    fn at(
        params: Params,
        world: Arc<World>,
        next_index: u64,
        next_start: i64,
        skip_through: Option<EventKey>,
        counts: Counts,
    ) -> Generator {
        Generator {
            mix: Mix::new(&params),
            ids: Ids::new(params.seed),
            params,
            world,
            next_index,
            next_start,
            queue: Queue { skip_through, ..Queue::default() },
            open: Open::default(),
            counts,
            last: skip_through,
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Where the stream stands after the last event returned.
    pub fn cursor(&self) -> Cursor {
        let (resume_episode, resume_start) = self.open.oldest().unwrap_or((self.next_index, self.next_start));
        Cursor {
            counts: self.counts,
            resume_episode,
            resume_start: Timestamp::from_micros(resume_start),
            last: self.last,
        }
    }

    /// The next event in event-time order (the stream never ends).
    pub fn next_event(&mut self) -> Event {
        loop {
            // No episode that starts later than the earliest queued event can precede it.
            while self.queue.peek_time().is_none_or(|t| self.next_start <= t) {
                self.generate_episode();
            }
            let Some((key, event)) = self.queue.pop() else { continue };
            self.open.emitted_one(key.episode);
            debug_assert!(self.last.is_none_or(|l| l < key), "keys increase");
            self.last = Some(key);
            match &event {
                Event::Transaction(t) => {
                    self.counts.transactions += 1;
                    if t.injected_scenario.is_some() {
                        self.counts.fraud += 1;
                    }
                }
                Event::Click(_) => self.counts.clicks += 1,
            }
            return event;
        }
    }

    fn generate_episode(&mut self) {
        let index = self.next_index;
        let start = self.next_start;
        let mut rng = stream_rng(self.params.seed, STREAM_EPISODE, index);
        let (kind, gap) = self.mix.draw(&mut rng, Timestamp::from_micros(start));
        self.next_index += 1;
        self.next_start = start.saturating_add(gap);

        if self.queue.skip_through.is_some_and(|s| s.time.micros() < start) {
            self.queue.skip_through = None;
        }
        let mut ctx = Ctx {
            world: &self.world,
            params: &self.params,
            ids: &self.ids,
            index,
            start,
            seq: 0,
            queue: &mut self.queue,
            kept: 0,
        };
        match kind {
            EpisodeKind::Session => session::session(&mut ctx, &mut rng),
            EpisodeKind::Offline => session::offline(&mut ctx, &mut rng),
            EpisodeKind::Fraud => fraud::fraud(&mut ctx, &mut rng),
        }
        let kept = ctx.kept;
        self.open.push(index, start, kept);
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        Some(self.next_event())
    }
}
