//! Shopping sessions and the conversion funnel, in event time.
//!
//! # Sessions
//!
//! The [`Sessionizer`] groups click events by their `session_id` into sessions: a session is a
//! maximal run of one `session_id`'s events in which consecutive event times are less than `gap`
//! (default 30 minutes) apart. A pause of `gap` or more splits a `session_id` into several
//! sessions; each is identified by `(session_id, start)` in its [`SessionSummary`]. (Not by a
//! sequence number: that would need a counter per `session_id` that outlives its sessions, and
//! state would grow with every id ever seen.)
//!
//! Events may arrive out of order. An event within `gap` of an open session joins it (extending
//! its start or end); one within `gap` of two open sessions of the same id joins them into one.
//! A session is complete when the watermark reaches `last event + gap`: [`Sessionizer::close_idle`]
//! then returns its summary, once, and drops its state.
//!
//! An event older than the watermark may join open sessions, but neither start a session nor
//! move an open session's start back: either might join it to a session already returned. Such
//! an event is [`Observed::TooLate`] and goes back to the caller (for the late-events table),
//! never silently dropped.
//!
//! # Invariants
//!
//! - **S-1 gap rule**: sessions of one `session_id` are at least `gap` apart; with every event on
//!   time (no watermark until the end) the result equals sorting each id's events and splitting
//!   at pauses of `gap` or more, whatever the arrival order.
//! - **S-2 once**: each session is returned by `close_idle` exactly once, when the watermark
//!   reaches its last event + `gap`; every accepted event is counted in exactly one session.
//!   A session the watermark has ended is closed even before `close_some` returns it (callers
//!   may return them a few at a time): no event joins it, so returning it late changes nothing.
//! - **S-3 deterministic**: `close_idle` returns sessions by (end, session_id, start); a restored
//!   sessionizer behaves as the uninterrupted one.
//! - **S-4 no NaN**: revenue is summed in micro-units, rates are 0 over nothing.

use super::{from_micros, ratio, to_micros};
use crate::model::{ClickType, Timestamp};
use crate::stream::changelog::MapDelta;
use crate::stream::layered::{Delta, Layered, Whole};
use crate::stream::time::duration_micros;
use crate::stream::window::Accumulator;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// The open sessions by session id (one id's sessions disjoint, by ascending start, never
/// empty), layered so that a checkpoint is cut in constant time ([`crate::stream::layered`]).
/// A million sessions may be open at once, so the expiry index does not copy the id: it holds
/// the id's hash and the session number, and finds the id by both
/// ([`Layered::find_key`]; numbers are unique among open sessions). Ids of up to 24 bytes sit
/// in the table itself, so a lookup compares them without following a pointer.
type Open = Layered<CompactString, Vec<Session>>;

/// Session settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A pause this long (in event time) ends a session.
    #[serde(with = "crate::config::duration")]
    pub gap: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { gap: Duration::from_secs(30 * 60) }
    }
}

/// Why sessionizing cannot start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("session setting `gap` must be greater than 0")]
    ZeroGap,
}

/// One click event, as sessions see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Click<'a> {
    pub session_id: &'a str,
    /// Hash of the user id.
    pub user: u64,
    pub kind: ClickType,
    pub ts: Timestamp,
    pub price: Option<f64>,
    pub quantity: Option<u32>,
}

/// What [`Sessionizer::observe`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "too-late events must go to the late-events table"]
pub enum Observed {
    /// It started a new session.
    Opened,
    /// It joined (or joined up) open sessions.
    Joined,
    /// Behind the watermark and not inside (or just after) an open session: not counted.
    TooLate,
}

/// A finished session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    /// The user of the session's earliest event.
    pub user: u64,
    pub start: Timestamp,
    /// The last event's time (the session was closed `gap` later).
    pub end: Timestamp,
    pub duration_secs: f64,
    pub events: u64,
    pub page_views: u64,
    pub cart_adds: u64,
    pub cart_removes: u64,
    pub wishlist_adds: u64,
    pub purchases: u64,
    /// Sum of price × quantity (quantity 1 when absent) over purchase events.
    pub revenue: f64,
    /// Whether the session purchased anything.
    pub converted: bool,
}

/// An open session. Times in microseconds; counts saturate at `u32::MAX` (64 bytes a session,
/// of which a million may be open). Fields stay in this order: checkpoints store them by
/// position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Session {
    /// Unique among all sessions this sessionizer opened.
    id: u64,
    user: u64,
    start: i64,
    last: i64,
    events: u32,
    page_views: u32,
    cart_adds: u32,
    cart_removes: u32,
    wishlist_adds: u32,
    purchases: u32,
    revenue_micros: i64,
}

impl Session {
    fn add(&mut self, c: &Click<'_>) {
        let ts = c.ts.micros();
        if ts < self.start {
            self.start = ts;
            self.user = c.user;
        }
        self.last = self.last.max(ts);
        self.events = self.events.saturating_add(1);
        let counter = match c.kind {
            ClickType::PageView => &mut self.page_views,
            ClickType::AddToCart => &mut self.cart_adds,
            ClickType::RemoveFromCart => &mut self.cart_removes,
            ClickType::WishlistAdd => &mut self.wishlist_adds,
            ClickType::Purchase => {
                let value = c.price.unwrap_or(0.0) * f64::from(c.quantity.unwrap_or(1));
                self.revenue_micros = self.revenue_micros.saturating_add(to_micros(value));
                &mut self.purchases
            }
        };
        *counter = counter.saturating_add(1);
    }

    /// Takes in `other`, a session of the same id less than `gap` away.
    fn absorb(&mut self, other: Session) {
        if other.start < self.start {
            self.start = other.start;
            self.user = other.user;
        }
        self.last = self.last.max(other.last);
        self.events = self.events.saturating_add(other.events);
        self.page_views = self.page_views.saturating_add(other.page_views);
        self.cart_adds = self.cart_adds.saturating_add(other.cart_adds);
        self.cart_removes = self.cart_removes.saturating_add(other.cart_removes);
        self.wishlist_adds = self.wishlist_adds.saturating_add(other.wishlist_adds);
        self.purchases = self.purchases.saturating_add(other.purchases);
        self.revenue_micros = self.revenue_micros.saturating_add(other.revenue_micros);
    }

    fn summary(&self, session_id: String) -> SessionSummary {
        SessionSummary {
            session_id,
            user: self.user,
            start: Timestamp::from_micros(self.start),
            end: Timestamp::from_micros(self.last),
            duration_secs: self.last.saturating_sub(self.start) as f64 / 1e6,
            events: self.events.into(),
            page_views: self.page_views.into(),
            cart_adds: self.cart_adds.into(),
            cart_removes: self.cart_removes.into(),
            wishlist_adds: self.wishlist_adds.into(),
            purchases: self.purchases.into(),
            revenue: from_micros(self.revenue_micros),
            converted: self.purchases > 0,
        }
    }
}

/// Open sessions, closed by the watermark. Serialize it into the checkpoint.
#[derive(Clone, Debug)]
pub struct Sessionizer {
    gap: i64,
    watermark: Option<i64>,
    next_id: u64,
    /// Each session id's open sessions, disjoint, by ascending start.
    open: Open,
    /// Sessions in `open`.
    sessions: usize,
    /// (a lower bound of last + gap, id, hash of the session id) per open session; refreshed
    /// lazily when popped, so that an event does not touch it. Not saved: a restore rebuilds it.
    expiry: BTreeSet<(i64, u64, u64)>,
}

/// Sessionizers are equal when they hold the same sessions and counters; the expiry index (whose
/// hashes are seeded per process) is derived from those.
impl PartialEq for Sessionizer {
    fn eq(&self, other: &Self) -> bool {
        (self.gap, self.watermark, self.next_id, &self.open) == (other.gap, other.watermark, other.next_id, &other.open)
    }
}

/// A [`Sessionizer`] as checkpoints hold it (`open` as a map sorted by id). `expiry` is written
/// empty and ignored on reading: checkpoints before the index was rebuilt on restore listed it.
#[derive(Serialize)]
struct Image<O> {
    gap: i64,
    watermark: Option<i64>,
    next_id: u64,
    open: O,
    expiry: [(); 0],
}

/// A whole [`Sessionizer`] as of an epoch's end (see [`Sessionizer::whole`]).
#[derive(Serialize)]
pub struct SessionizerImage(Image<Whole<CompactString, Vec<Session>>>);

/// [`Image`] read back.
#[derive(Deserialize)]
struct Restored {
    gap: i64,
    watermark: Option<i64>,
    next_id: u64,
    open: Open,
    #[serde(default)]
    #[allow(dead_code)]
    expiry: serde::de::IgnoredAny,
}

impl Serialize for Sessionizer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (gap, watermark, next_id, open) = (self.gap, self.watermark, self.next_id, &self.open);
        Image { gap, watermark, next_id, open, expiry: [] }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Sessionizer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Restored { gap, watermark, next_id, open, .. } = Restored::deserialize(d)?;
        let mut expiry = BTreeSet::new();
        let mut sessions = 0;
        for (id, open_sessions) in open.iter() {
            let hash = open.hash(id.as_str());
            sessions += open_sessions.len();
            expiry.extend(open_sessions.iter().map(|s| (s.last.saturating_add(gap), s.id, hash)));
        }
        Ok(Sessionizer { gap, watermark, next_id, open, sessions, expiry })
    }
}

/// The changes of a [`Sessionizer`] in one epoch: its counters, and the sessions touched.
#[derive(Serialize)]
pub struct SessionizerChanges {
    watermark: Option<i64>,
    next_id: u64,
    open: Delta<CompactString, Vec<Session>>,
}

/// [`SessionizerChanges`] read back.
#[derive(Deserialize)]
pub struct SessionizerDelta {
    watermark: Option<i64>,
    next_id: u64,
    open: MapDelta<CompactString, Vec<Session>>,
}

impl Sessionizer {
    pub fn new(config: &SessionConfig) -> Result<Self, SessionError> {
        if config.gap.is_zero() {
            return Err(SessionError::ZeroGap);
        }
        let gap = duration_micros(config.gap);
        Ok(Sessionizer {
            gap,
            watermark: None,
            next_id: 0,
            open: Open::default(),
            sessions: 0,
            expiry: BTreeSet::new(),
        })
    }

    /// Ends the epoch: what changed since the last checkpoint, the counters and the sessions
    /// touched (C-1 of [`crate::stream::changelog`]), cut in constant time.
    pub fn delta(&mut self) -> SessionizerChanges {
        SessionizerChanges { watermark: self.watermark, next_id: self.next_id, open: self.open.delta() }
    }

    /// Ends the epoch: the whole state, cut in constant time.
    pub fn whole(&mut self) -> SessionizerImage {
        let (gap, watermark, next_id) = (self.gap, self.watermark, self.next_id);
        SessionizerImage(Image { gap, watermark, next_id, open: self.open.whole(), expiry: [] })
    }

    /// Merges state no checkpoint holds any more, at most `budget` session ids.
    pub fn settle(&mut self, budget: usize) {
        self.open.settle(budget);
    }

    /// Applies a [`delta`](Self::delta) to the state saved the epoch before. A restored session's
    /// expiry entry is exact (`last + gap`); entries of sessions replaced or removed go stale and
    /// are skipped.
    pub fn apply(&mut self, delta: SessionizerDelta) {
        (self.watermark, self.next_id) = (delta.watermark, delta.next_id);
        let MapDelta(set, removed) = delta.open;
        for session_id in removed {
            self.set(session_id, Vec::new());
        }
        for (session_id, sessions) in set {
            self.set(session_id, sessions);
        }
        self.open.forget_changes(); // restored: nothing changed since that epoch
    }

    /// Sets the open sessions of `session_id` (none: removes it), with exact expiry entries.
    fn set(&mut self, session_id: CompactString, sessions: Vec<Session>) {
        let hash = self.open.hash(&*session_id);
        self.sessions -= self.open.get_hashed(hash, &*session_id).map_or(0, Vec::len);
        self.sessions += sessions.len();
        for s in &sessions {
            self.expiry.insert((s.last.saturating_add(self.gap), s.id, hash));
        }
        match sessions.is_empty() {
            true => drop(self.open.remove(&*session_id)),
            false => drop(self.open.insert(session_id, sessions)),
        }
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        self.sessions
    }

    pub fn is_empty(&self) -> bool {
        self.sessions == 0
    }

    /// Counts `click` in its session, under `watermark` (or a higher one given before).
    pub fn observe(&mut self, click: &Click<'_>, watermark: Option<Timestamp>) -> Observed {
        self.watermark = self.watermark.max(watermark.map(Timestamp::micros));
        let (ts, gap) = (click.ts.micros(), self.gap);
        let behind = self.watermark.is_some_and(|w| ts < w);
        let wm = self.watermark;
        // A session the watermark has ended is closed, whether or not `close_some` returned it
        // yet (the runtime emits a bounded number per turn): nothing joins it.
        let fits = |s: &Session| {
            ts < s.last.saturating_add(gap)
                && ts > s.start.saturating_sub(gap)
                && wm.is_none_or(|w| s.last.saturating_add(gap) > w)
        };
        let hash = self.open.hash(click.session_id);
        let open = self.open.get_mut_hashed(hash, click.session_id);
        let fitting = open.as_ref().and_then(|sessions| sessions.iter().position(fits));
        if let (Some(sessions), Some(first)) = (open, fitting) {
            if behind && ts < sessions[first].start {
                // Moving a start back behind the watermark could bridge to a session already
                // returned (one after an open session cannot be: it would still be open).
                return Observed::TooLate;
            }
            // Sessions are disjoint and sorted, so the ones ts fits are consecutive.
            let more = sessions[first + 1..].iter().take_while(|s| fits(s)).count();
            let joined: Vec<Session> = sessions.drain(first + 1..first + 1 + more).collect();
            let target = &mut sessions[first];
            target.add(click);
            for s in joined {
                target.absorb(s); // their expiry entries go stale and are skipped
            }
            self.sessions -= more;
            return Observed::Joined;
        }
        if behind {
            return Observed::TooLate;
        }
        let mut session = Session { id: self.next_id, user: click.user, start: ts, last: ts, ..Session::default() };
        self.next_id += 1;
        session.add(click);
        self.expiry.insert((ts.saturating_add(gap), session.id, hash));
        self.sessions += 1;
        match self.open.get_mut_hashed(hash, click.session_id) {
            Some(sessions) => {
                let at = sessions.partition_point(|s| s.start < ts);
                // Most ids hold one open session: a doubling (to four) would waste 192 bytes on each.
                sessions.reserve_exact(1);
                sessions.insert(at, session);
            }
            None => drop(self.open.insert(CompactString::new(click.session_id), vec![session])),
        }
        Observed::Opened
    }

    /// Returns the sessions complete under `watermark` (last event + gap <= watermark), by
    /// (end, session_id, start), and drops them (S-2, S-3).
    pub fn close_idle(&mut self, watermark: Timestamp) -> Vec<SessionSummary> {
        let mut out = Vec::new();
        self.close_some(watermark, usize::MAX, &mut out);
        out.sort_by(|a, b| (a.end, &a.session_id, a.start).cmp(&(b.end, &b.session_id, b.start)));
        out
    }

    /// [`close_idle`](Self::close_idle) for at most `max` sessions, appended to `out` in no
    /// particular order; returns whether more may be complete (call again with the watermark).
    pub fn close_some(&mut self, watermark: Timestamp, max: usize, out: &mut Vec<SessionSummary>) -> bool {
        let wm = watermark.micros().max(self.watermark.unwrap_or(i64::MIN));
        self.watermark = Some(wm);
        let mut closed = 0;
        while self.expiry.first().is_some_and(|(due, _, _)| *due <= wm) {
            if closed == max {
                return true;
            }
            let Some((_, id, hash)) = self.expiry.pop_first() else { break };
            let gap = self.gap;
            let taken = self.open.update_where(
                hash,
                |sessions| sessions.iter().any(|s| s.id == id),
                |session_id, sessions| {
                    let Some(i) = sessions.iter().position(|s| s.id == id) else { return (None, false) };
                    let due = sessions[i].last.saturating_add(gap);
                    if due > wm {
                        return (Some(Err(due)), false); // extended since it was filed
                    }
                    let session = sessions.remove(i);
                    (Some(Ok(session.summary(session_id.to_string()))), sessions.is_empty())
                },
            );
            match taken.flatten() {
                None => {} // absorbed or replaced
                Some(Err(due)) => {
                    self.expiry.insert((due, id, hash));
                }
                Some(Ok(summary)) => {
                    self.sessions -= 1;
                    out.push(summary);
                    closed += 1;
                }
            }
        }
        false
    }
}

/// The funnel of one window (and key, e.g. a product category): views, cart adds, purchases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    views: u64,
    cart_adds: u64,
    purchases: u64,
}

/// A finished funnel. Rates are 0 when their denominator is, and may exceed 1 (a window can see
/// a purchase whose cart add fell in the previous window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelOutput {
    pub views: u64,
    pub cart_adds: u64,
    pub purchases: u64,
    pub view_to_cart: f64,
    pub cart_to_purchase: f64,
    /// Purchases per view.
    pub conversion: f64,
}

impl Accumulator for Funnel {
    type Input = ClickType;
    type Output = FunnelOutput;

    fn add(&mut self, kind: &ClickType) {
        match kind {
            ClickType::PageView => self.views += 1,
            ClickType::AddToCart => self.cart_adds += 1,
            ClickType::Purchase => self.purchases += 1,
            ClickType::RemoveFromCart | ClickType::WishlistAdd => {}
        }
    }

    fn merge(&mut self, other: &Funnel) {
        self.views += other.views;
        self.cart_adds += other.cart_adds;
        self.purchases += other.purchases;
    }

    fn finish(&self) -> FunnelOutput {
        FunnelOutput {
            views: self.views,
            cart_adds: self.cart_adds,
            purchases: self.purchases,
            view_to_cart: ratio(self.cart_adds, self.views),
            cart_to_purchase: ratio(self.purchases, self.cart_adds),
            conversion: ratio(self.purchases, self.views),
        }
    }
}

#[cfg(test)]
mod tests;
