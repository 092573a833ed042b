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
    funnel: WindowStore<String, Funnel>,
    /// User ids by their hash, for session rows (the sessionizer keeps hashes only), with the
    /// time of the user's last click (microseconds) so that the map can be pruned.
    users: Layered<u64, (UserKey, i64)>,
    gap: i64,
    watermark: Option<Timestamp>,
    /// The watermark of the last pruning of `users` (microseconds): a walk over every user,
    /// done when the watermark has moved a gap on since, not at every checkpoint.
    pruned_at: Option<i64>,
}

impl Sessions {
    pub fn new(config: &SessionConfig, allowed_lateness: Duration) -> Result<Self, SessionsError> {
        Ok(Sessions {
            sessionizer: Sessionizer::new(config)?,
            funnel: WindowStore::new(WindowSpec::tumbling(Duration::from_secs(600))?, allowed_lateness)?,
            users: Layered::default(),
            gap: crate::stream::time::duration_micros(config.gap),
            watermark: None,
            pruned_at: None,
        })
    }

    /// Open sessions.
    pub fn open_sessions(&self) -> usize {
        self.sessionizer.len()
    }

    pub fn add(&mut self, c: &ClickEvent, partition: u32, offset: u64, wm: Option<Timestamp>, out: &mut Outputs) {
        let user = super::user_hash(&c.user_id);
        let ts = c.event_timestamp.micros();
        let entry = self.users.get_or_insert_with(&user, || (UserKey::of(&c.user_id), ts));
        entry.1 = entry.1.max(ts);
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
            event_id: c.event_id.clone(),
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
        } else {
            let (sessions, funnel, users, watermark): (SessionizerDelta, StoreDelta<String, Funnel>, Users, _) =
                load(self.name(), image)?;
            self.sessionizer.apply(sessions);
            self.funnel.apply(funnel).map_err(|e| OperatorError::new(self.name(), e))?;
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
        let mut windows = Vec::new();
        let more_funnels = self.funnel.advance_some(wm, budget, &mut windows);
        for closed in windows {
            let FunnelOutput { views, cart_adds, purchases, view_to_cart, cart_to_purchase, conversion } =
                closed.output;
            out.funnels.push(FunnelRow {
                window_start: closed.window.start,
                window_end: closed.window.end,
                category: closed.key,
                views,
                cart_adds,
                purchases,
                view_to_cart_rate: view_to_cart,
                cart_to_purchase_rate: cart_to_purchase,
                conversion_rate: conversion,
                event_date: event_date(closed.window.start),
            });
        }
        self.watermark = Some(wm);
        more_sessions || more_funnels
    }

    fn checkpoint(&mut self, full: bool) -> Snapshot {
        // Forget users whose sessions all closed long ago: their sessions' rows are out, and an
        // open session's last click is younger than the gap. A user is kept up to a gap longer
        // than the horizon says, as the walk runs once per gap of event time.
        if let Some(wm) = self.watermark.map(Timestamp::micros)
            && self.pruned_at.is_none_or(|at| wm.saturating_sub(at) >= self.gap)
        {
            self.pruned_at = Some(wm);
            let horizon = wm.saturating_sub(self.gap.saturating_mul(4));
            let old: Vec<u64> = self.users.iter().filter(|(_, (_, last))| *last < horizon).map(|(u, _)| *u).collect();
            for user in old {
                self.users.remove(&user);
            }
        }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClickType, UserId};

    const MINUTE: i64 = 60_000_000;

    fn click(user: UserId, session: &str, at_minutes: i64) -> ClickEvent {
        ClickEvent {
            event_id: format!("{session}-{at_minutes}"),
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

    /// Closes everything `wm` closes, then checkpoints; the session rows.
    fn close_and_checkpoint(s: &mut Sessions, wm_minutes: i64) -> Vec<SessionRow> {
        let mut out = Outputs::default();
        while s.watermark(Timestamp::from_micros(wm_minutes * MINUTE), 16, &mut out) {}
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
    fn users_are_forgotten_four_gaps_after_their_last_click_by_a_walk_once_per_gap() {
        let mut s = sessions();
        let mut out = Outputs::default();
        s.add(&click(UserId::Int(1), "a", 0), 0, 0, None, &mut out);
        assert_eq!(close_and_checkpoint(&mut s, 100).len(), 1, "the session closed");
        assert_eq!(s.users.len(), 1, "kept: its last click is within four gaps (120 minutes)");
        s.add(&click(UserId::Int(2), "b", 100), 0, 1, None, &mut out);
        // Four gaps after user 1's last click, but less than a gap after the last walk.
        assert_eq!(close_and_checkpoint(&mut s, 125).len(), 0);
        assert_eq!(s.users.len(), 2, "no walk within a gap of the last one");
        assert_eq!(close_and_checkpoint(&mut s, 130).len(), 1, "user 2's session closed a gap after its click");
        assert_eq!(s.users.len(), 1, "user 1 forgotten, user 2 kept");
        assert!(s.users.contains_key(&super::super::user_hash(&UserId::Int(2))));
    }
}
