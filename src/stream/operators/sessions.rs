//! `sessions`: clickstream sessions and the 10-minute funnel per category, in event time.
//!
//! A session closes after 30 minutes (configurable) without events, once the watermark says no
//! earlier event can still come ([`crate::analytics::sessions`]); it goes to `gold/sessions`. The
//! funnel (views -> cart adds -> purchases, with conversion rates) is a 10-minute tumbling window
//! per product category, to `gold/funnel_10m`. Clicks too late for either go to `late_events`.

use crate::analytics::sessions::{
    Click, Funnel, FunnelOutput, Observed, SessionConfig, SessionError, Sessionizer, SessionizerDelta,
};
use crate::model::{ClickEvent, Timestamp, UserKey};
use crate::stream::changelog::MapDelta;
use crate::stream::layered::Layered;
use crate::stream::operator::{Operator, OperatorError, Snapshot, load, snapshot};
use crate::stream::outputs::{FunnelRow, LateEventRow, Outputs, SessionRow, event_date};
use crate::stream::window::{StoreDelta, WindowError, WindowSpec, WindowStore};
use compact_str::CompactString;
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

/// Changes of the users map in one epoch.
type Users = MapDelta<u64, (UserKey, i64)>;

/// Category of clicks without one.
const NO_CATEGORY: &str = "(none)";

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Window(#[from] WindowError),
}

pub struct Sessions {
    sessionizer: Sessionizer,
    funnel: WindowStore<CompactString, Funnel>,
    /// User ids by their hash, for session rows (the sessionizer keeps hashes only), with the
    /// time of the user's last click (microseconds) so that the map can be pruned.
    users: Layered<u64, (UserKey, i64)>,
    /// Users by the gap-long slice of event time that held their last click when they were filed
    /// (slice `n` is `[n * gap, (n + 1) * gap)`), so that pruning visits only users who may be
    /// due. A click in a later slice files its user again; the older entry goes stale and is
    /// skipped. Not checkpointed: rebuilt from `users` on restore.
    slices: BTreeMap<i64, Vec<u64>>,
    gap: i64,
    watermark: Option<Timestamp>,
    /// The last `watermark` call left sessions to return: their users are not pruned yet.
    closing: bool,
}

impl Sessions {
    pub fn new(config: &SessionConfig, allowed_lateness: Duration) -> Result<Self, SessionsError> {
        Ok(Sessions {
            sessionizer: Sessionizer::new(config)?,
            funnel: WindowStore::new(WindowSpec::tumbling(Duration::from_secs(600))?, allowed_lateness)?,
            users: Layered::default(),
            slices: BTreeMap::new(),
            gap: crate::stream::time::duration_micros(config.gap),
            watermark: None,
            closing: true,
        })
    }

    /// Open sessions.
    pub fn open_sessions(&self) -> usize {
        self.sessionizer.len()
    }

    pub fn add(&mut self, c: &ClickEvent, partition: u32, offset: u64, wm: Option<Timestamp>, out: &mut Outputs) {
        let user = super::user_hash(&c.user_id);
        let ts = c.event_timestamp.micros();
        let entry = self.users.get_or_insert_with(&user, || (UserKey::of(&c.user_id), i64::MIN));
        let before = entry.1;
        entry.1 = before.max(ts);
        if before == i64::MIN || before.div_euclid(self.gap) < ts.div_euclid(self.gap) {
            self.slices.entry(ts.div_euclid(self.gap)).or_default().push(user);
        }
        let click = Click {
            session_id: &c.session_id,
            user,
            kind: c.event_type,
            ts: c.event_timestamp,
            price: c.price,
            quantity: c.quantity,
        };
        let late = |table: &str, start: Timestamp, end: Timestamp| LateEventRow {
            window_table: table.to_string(),
            event_id: c.event_id.to_string(),
            event_time: c.event_timestamp,
            window_start: start,
            window_end: end,
            watermark: wm.unwrap_or(c.event_timestamp),
            source_partition: partition,
            source_offset: offset,
            event_date: event_date(c.event_timestamp),
        };
        if self.sessionizer.observe(&click, wm) == Observed::TooLate {
            out.late_events.push(late("sessions", c.event_timestamp, c.event_timestamp));
        }
        let category = c.category.as_deref().unwrap_or(NO_CATEGORY);
        let added = self.funnel.add(category, c.event_timestamp, &c.event_type, wm);
        if added.is_late_event() {
            let (start, end) =
                added.too_late.first().map_or((c.event_timestamp, c.event_timestamp), |w| (w.start, w.end));
            out.late_events.push(late("funnel_10m", start, end));
        }
    }
}

impl Operator for Sessions {
    fn name(&self) -> &'static str {
        "sessions"
    }

    fn restore(&mut self, image: &mut dyn Read, full: bool) -> Result<(), OperatorError> {
        if full {
            (self.sessionizer, self.funnel, self.users, self.watermark) = load(self.name(), image)?;
            self.slices.clear();
            for (user, (_, last)) in self.users.iter() {
                self.slices.entry(last.div_euclid(self.gap)).or_default().push(*user);
            }
        } else {
            let (sessions, funnel, users, watermark): (SessionizerDelta, StoreDelta<CompactString, Funnel>, Users, _) =
                load(self.name(), image)?;
            self.sessionizer.apply(sessions);
            self.funnel.apply(funnel).map_err(|e| OperatorError::new(self.name(), e))?;
            for (user, (_, last)) in &users.0 {
                self.slices.entry(last.div_euclid(self.gap)).or_default().push(*user);
            }
            self.users.apply(users);
            self.watermark = watermark;
        }
        Ok(())
    }

    fn watermark(&mut self, wm: Timestamp, budget: usize, out: &mut Outputs) -> bool {
        let mut closed = Vec::new();
        let more_sessions = self.sessionizer.close_some(wm, budget, &mut closed);
        for s in closed {
            let user_id = self.users.get(&s.user).map(|(id, _)| id.to_string()).unwrap_or_default();
            out.sessions.push(SessionRow {
                session_id: s.session_id,
                user_id,
                session_start: s.start,
                session_end: s.end,
                duration_secs: s.duration_secs,
                events: s.events as u32,
                page_views: s.page_views as u32,
                cart_adds: s.cart_adds as u32,
                cart_removes: s.cart_removes as u32,
                wishlist_adds: s.wishlist_adds as u32,
                purchases: s.purchases as u32,
                revenue: s.revenue,
                converted: s.converted,
                event_date: event_date(s.start),
            });
        }
        let more_funnels = self.funnel.advance_some(wm, budget, |closed| {
            let FunnelOutput { views, cart_adds, purchases, view_to_cart, cart_to_purchase, conversion } =
                closed.output;
            out.funnels.push(FunnelRow {
                window_start: closed.window.start,
                window_end: closed.window.end,
                category: closed.key.into(),
                views,
                cart_adds,
                purchases,
                view_to_cart_rate: view_to_cart,
                cart_to_purchase_rate: cart_to_purchase,
                conversion_rate: conversion,
                event_date: event_date(closed.window.start),
            });
        });
        self.watermark = Some(wm);
        self.closing = more_sessions;
        more_sessions || more_funnels
    }

    fn checkpoint(&mut self, full: bool) -> Snapshot {
        let watermark = self.watermark;
        match full {
            true => {
                snapshot(self.name(), (self.sessionizer.whole(), self.funnel.whole(), self.users.whole(), watermark))
            }
            false => {
                snapshot(self.name(), (self.sessionizer.delta(), self.funnel.delta(), self.users.delta(), watermark))
            }
        }
    }

    fn settle(&mut self, budget: usize) {
        self.sessionizer.settle(budget);
        self.funnel.settle(budget);
        self.users.settle(budget);
        self.prune(budget);
    }
}

impl Sessions {
    /// Forgets users whose sessions all closed long ago, looking at most at `budget` filed users:
    /// those whose last click is four gaps behind the watermark. Their sessions' rows are out
    /// (once no ended session waits to be returned), and an open session's last click is younger
    /// than the gap. A user is kept up to a gap longer than that, as slices go whole.
    fn prune(&mut self, mut budget: usize) {
        let Some(wm) = self.watermark.map(Timestamp::micros) else { return };
        if self.closing {
            return;
        }
        let horizon = wm.saturating_sub(self.gap.saturating_mul(4));
        while budget > 0 {
            let Some(mut slice) = self.slices.first_entry() else { return };
            if slice.key().saturating_add(1).saturating_mul(self.gap) > horizon {
                return;
            }
            let filed = slice.get_mut();
            while budget > 0
                && let Some(user) = filed.pop()
            {
                budget -= 1;
                if self.users.get(&user).is_some_and(|(_, last)| *last < horizon) {
                    self.users.remove(&user);
                }
            }
            if filed.is_empty() {
                slice.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClickType, UserId};

    const MINUTE: i64 = 60_000_000;

    fn click(user: UserId, session: &str, at_minutes: i64) -> ClickEvent {
        ClickEvent {
            event_id: compact_str::format_compact!("{session}-{at_minutes}"),
            user_id: user,
            session_id: session.into(),
            event_type: ClickType::PageView,
            event_timestamp: Timestamp::from_micros(at_minutes * MINUTE),
            product_id: None,
            category: Some("books".into()),
            price: None,
            quantity: None,
            page_url: None,
            user_agent: None,
            ip_address: None,
        }
    }

    fn sessions() -> Sessions {
        Sessions::new(&SessionConfig { gap: Duration::from_secs(30 * 60) }, Duration::ZERO).unwrap()
    }

    /// Closes everything `wm` closes, settles (pruning users), then checkpoints; the session rows.
    fn close_and_checkpoint(s: &mut Sessions, wm_minutes: i64) -> Vec<SessionRow> {
        let mut out = Outputs::default();
        while s.watermark(Timestamp::from_micros(wm_minutes * MINUTE), 16, &mut out) {}
        s.settle(usize::MAX);
        s.checkpoint(false)(&mut Vec::new()).unwrap();
        out.sessions
    }

    #[test]
    fn session_rows_carry_the_users_id_as_it_was_written() {
        let mut s = sessions();
        let mut out = Outputs::default();
        s.add(&click(UserId::Int(42), "a", 0), 0, 0, None, &mut out);
        s.add(&click(UserId::Str("007".into()), "b", 1), 0, 1, None, &mut out);
        s.add(&click(UserId::Str("u-9".into()), "c", 2), 0, 2, None, &mut out);
        let mut users: Vec<String> = close_and_checkpoint(&mut s, 120).into_iter().map(|r| r.user_id).collect();
        users.sort();
        assert_eq!(users, ["007", "42", "u-9"]);
    }

    #[test]
    fn users_are_forgotten_when_the_slice_of_their_last_click_is_four_gaps_behind() {
        let mut s = sessions();
        let mut out = Outputs::default();
        let known = |s: &Sessions, id: i64| s.users.contains_key(&super::super::user_hash(&UserId::Int(id)));
        s.add(&click(UserId::Int(1), "a", 0), 0, 0, None, &mut out);
        s.add(&click(UserId::Int(1), "a", 10), 0, 1, None, &mut out); // same slice: [0, 30)
        s.add(&click(UserId::Int(3), "c", 5), 0, 2, None, &mut out);
        s.add(&click(UserId::Int(3), "c", 95), 0, 3, None, &mut out); // filed again in [90, 120)
        assert_eq!(close_and_checkpoint(&mut s, 100).len(), 2, "the sessions before minute 70 closed");
        assert_eq!(s.users.len(), 2, "kept: the last clicks are within four gaps (120 minutes)");
        s.add(&click(UserId::Int(2), "b", 100), 0, 4, None, &mut out);
        // User 1's last click (10) is four gaps behind 145, but its slice ends at 30.
        assert_eq!(close_and_checkpoint(&mut s, 145).len(), 2, "c and b closed");
        assert!(known(&s, 1) && known(&s, 2) && known(&s, 3), "slices go whole");
        assert_eq!(close_and_checkpoint(&mut s, 150).len(), 0);
        assert!(!known(&s, 1), "user 1 forgotten");
        assert!(known(&s, 2) && known(&s, 3), "kept: their last clicks are recent, whatever slices held them");
        // Pruning waits while ended sessions are still to be returned.
        s.add(&click(UserId::Int(4), "d", 151), 0, 5, None, &mut out);
        s.add(&click(UserId::Int(5), "e", 151), 0, 6, None, &mut out);
        assert!(s.watermark(Timestamp::from_micros(400 * MINUTE), 1, &mut out), "one of two sessions returned");
        s.settle(usize::MAX);
        assert_eq!(s.users.len(), 4, "nobody forgotten while a session waits");
        assert_eq!(close_and_checkpoint(&mut s, 400).len(), 1);
        assert_eq!(s.users.len(), 0, "all forgotten once every session is out");
    }
}
