//! Watermarks: how far event time has progressed, across input partitions.
//!
//! Events arrive out of order, but within bounds: on one partition an event is rarely more than
//! `out_of_orderness` older than the newest event already seen there. So each partition `p`
//! vouches for event time up to `max_event(p) - out_of_orderness`, and the watermark is the
//! smallest such claim over the partitions that are still producing:
//!
//! ```text
//! watermark = max(previous watermark, min over active p of (max_event(p) - out_of_orderness))
//! ```
//!
//! A watermark `w` means "events with an event time `< w` are no longer expected"; an event older
//! than the watermark is *late* (what happens to it is [`super::window`]'s business).
//!
//! Idleness is judged in *processing* time, passed in by the caller as `now` (this module never
//! reads a clock): a partition that has had no record for `idle_timeout` is *idle* and does not
//! hold the watermark back, so one quiet partition cannot stall every window. Its next record
//! makes it active again; if that record is older than the watermark meanwhile reached, it is
//! late, which is the price of not waiting forever. A partition that has never produced counts
//! from when the tracker was created (or [`Watermarks::restart`]ed): it is active, and holds the
//! watermark at `None`, until `idle_timeout` has passed, then idle.
//!
//! [`Watermarks::observe`] records an event; [`Watermarks::tick`] re-judges idleness and
//! recomputes the watermark, and is meant to be called once per processed batch (cheap, but
//! O(partitions), so not per event).
//!
//! # Invariants
//!
//! - **W-1 monotonic**: the watermark never goes backwards, whatever is observed, including
//!   across a serde round trip of the state.
//! - **W-2 complete before defined**: the watermark is `None` until every active partition has
//!   seen an event; once it is `Some` it stays `Some`.
//! - **W-3 held by the slowest active partition**: a recomputation moves the watermark to exactly
//!   `min over active partitions of (max event time - out_of_orderness)` when that is ahead of the
//!   previous value, and otherwise leaves it alone; it never runs ahead of an active partition's
//!   claim except by holding an earlier value (W-1) or after `advance_to_end` (W-5).
//! - **W-4 idle partitions do not hold it back**: a partition without a record for `idle_timeout`
//!   of processing time is left out of the minimum; when every partition is idle the watermark
//!   holds still (an input that went quiet says nothing about event time; use W-5 to flush).
//!   Time the caller spends not reading (writing a checkpoint, waiting for its sink) is not
//!   idleness: it reports it with [`Watermarks::pause`], or a partition whose records merely
//!   waited to be read would be judged idle, the watermark would pass it, and its records would
//!   all be late.
//! - **W-5 end of input**: [`Watermarks::advance_to_end`] sets the watermark to
//!   [`END_OF_TIME`], which closes every window, and it stays there.
//! - **W-6 alignment never holds the watermark**: [`Watermarks::ahead`] names the partitions
//!   whose claim runs more than `max_drift` ahead of the watermark, for the reader to pause (as
//!   Flink's watermark alignment does). A partition whose claim is the minimum is never among
//!   them, so pausing what it names cannot stop the watermark from moving.
//!
//! Why alignment: reading a backlog, the source hands out records per partition, not per unit of
//! event time. A topic with few records per second of event time (transactions, beside six times
//! as many clicks) then runs hours ahead of the watermark, and every window and session it opens
//! waits in memory until the slowest partition catches up. Pausing what runs ahead keeps the
//! open state to what a live stream holds.
//!
//! Event times are `i64` microseconds; arithmetic saturates at the ends of the range.
//!
//! After restoring from a checkpoint, call [`Watermarks::restart`] with the new processing time:
//! the checkpointed record times come from before the crash, and without a fresh grace period
//! every partition would look idle at once.

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The watermark after [`Watermarks::advance_to_end`]: later than any event.
pub const END_OF_TIME: Timestamp = Timestamp::from_micros(i64::MAX);

/// A duration in whole microseconds, saturating at `i64::MAX`.
pub fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Watermark settings (`[stream.watermark]` style config section).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatermarkConfig {
    /// How much older than the newest event of its partition an event may be and still be on
    /// time. Larger values make results later but count more stragglers.
    #[serde(with = "crate::config::duration")]
    pub out_of_orderness: Duration,
    /// How long after the watermark passes a window's end the window still accepts late events
    /// before its result is final (see [`super::window`]).
    #[serde(with = "crate::config::duration")]
    pub allowed_lateness: Duration,
    /// Processing time without records after which a partition stops holding the watermark back.
    #[serde(with = "crate::config::duration")]
    pub idle_timeout: Duration,
    /// How far a partition's event time may run ahead of the watermark before reading it pauses
    /// until the others catch up (W-6). `0s` turns alignment off.
    #[serde(with = "crate::config::duration")]
    pub max_drift: Duration,
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        WatermarkConfig {
            out_of_orderness: Duration::from_secs(5),
            allowed_lateness: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(10),
            max_drift: Duration::from_secs(30),
        }
    }
}

impl WatermarkConfig {
    /// Checks the settings (the only rule: `idle_timeout` is not zero).
    pub fn validate(&self) -> Result<(), WatermarkError> {
        if self.idle_timeout.is_zero() {
            return Err(WatermarkError::Setting {
                setting: "idle_timeout",
                problem: "must be greater than 0 (a zero timeout makes every partition idle at once)",
            });
        }
        Ok(())
    }
}

/// Why watermark tracking cannot start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatermarkError {
    #[error("watermark setting `{setting}` {problem}")]
    Setting { setting: &'static str, problem: &'static str },
}

/// What one input partition has shown. Times are microseconds (exact through serde).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Partition {
    /// Newest event time seen, if any.
    max_event: Option<i64>,
    /// Processing time of the last record (or of creation / restart).
    last_record: i64,
}

/// The watermark over a set of input partitions. Serialize it into the checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Watermarks {
    config: WatermarkConfig,
    partitions: BTreeMap<u32, Partition>,
    current: Option<i64>,
}

impl Watermarks {
    /// Tracks `partitions` (the ones this worker reads) from processing time `now`.
    pub fn new(
        partitions: impl IntoIterator<Item = u32>,
        config: WatermarkConfig,
        now: Timestamp,
    ) -> Result<Self, WatermarkError> {
        config.validate()?;
        let fresh = Partition { max_event: None, last_record: now.micros() };
        let partitions = partitions.into_iter().map(|p| (p, fresh)).collect();
        Ok(Watermarks { config, partitions, current: None })
    }

    pub fn config(&self) -> &WatermarkConfig {
        &self.config
    }

    /// The watermark as of the last [`tick`](Self::tick) (or `advance_to_end`).
    pub fn current(&self) -> Option<Timestamp> {
        self.current.map(Timestamp::from_micros)
    }

    /// Records an event of `partition` that happened at `event_time`, read at processing time
    /// `now`. A partition not tracked yet (newly assigned) is added. The watermark itself moves on
    /// the next [`tick`](Self::tick).
    pub fn observe(&mut self, partition: u32, event_time: Timestamp, now: Timestamp) {
        let p = self.partitions.entry(partition).or_insert(Partition { max_event: None, last_record: now.micros() });
        p.max_event = Some(p.max_event.map_or(event_time.micros(), |m| m.max(event_time.micros())));
        // Processing time may step back (clock adjustment): keep the latest.
        p.last_record = p.last_record.max(now.micros());
    }

    /// Stops tracking a partition (revoked from this worker).
    pub fn remove(&mut self, partition: u32) {
        self.partitions.remove(&partition);
    }

    /// Gives every partition a fresh `idle_timeout` from `now`, under `config` (the settings
    /// may have changed since the checkpoint; the watermark stays where it was, W-1): call it
    /// after restoring the state from a checkpoint.
    pub fn restart(&mut self, now: Timestamp, config: WatermarkConfig) -> Result<(), WatermarkError> {
        config.validate()?;
        self.config = config;
        for p in self.partitions.values_mut() {
            p.last_record = now.micros();
        }
        Ok(())
    }

    /// The caller read nothing for `d` because it was busy (W-4): that time does not count
    /// towards any partition's idleness.
    pub fn pause(&mut self, d: Duration) {
        let d = duration_micros(d);
        for p in self.partitions.values_mut() {
            p.last_record = p.last_record.saturating_add(d);
        }
    }

    /// Whether `partition` is idle at processing time `now` (unknown partitions are idle).
    pub fn is_idle(&self, partition: u32, now: Timestamp) -> bool {
        self.partitions.get(&partition).is_none_or(|p| self.idle(p, now.micros()))
    }

    fn idle(&self, p: &Partition, now: i64) -> bool {
        now.saturating_sub(p.last_record) >= duration_micros(self.config.idle_timeout)
    }

    /// Re-judges idleness at processing time `now`, recomputes the watermark and returns it.
    pub fn tick(&mut self, now: Timestamp) -> Option<Timestamp> {
        let now = now.micros();
        let ooo = duration_micros(self.config.out_of_orderness);
        let mut claim: Option<i64> = None;
        let mut active = 0usize;
        let mut waiting = false;
        for p in self.partitions.values() {
            if self.idle(p, now) {
                continue; // W-4
            }
            active += 1;
            match p.max_event {
                Some(m) => {
                    let c = m.saturating_sub(ooo);
                    claim = Some(claim.map_or(c, |prev| prev.min(c)));
                }
                None => waiting = true, // W-2
            }
        }
        if let Some(c) = claim.filter(|_| active > 0 && !waiting) {
            let before = self.current;
            // W-1 and W-3: advance to the claim, never back.
            self.current = Some(before.map_or(c, |b| b.max(c)));
            debug_assert!(before.is_none_or(|b| self.current >= Some(b)), "W-1 watermark went backwards");
        }
        self.current()
    }

    /// Puts in `out` the partitions whose claim (newest event time less `out_of_orderness`) is
    /// more than `max_drift` ahead of the watermark: reading them can wait (W-6). Nothing while
    /// the watermark is undefined, after the end of input, or with `max_drift` zero.
    pub fn ahead(&self, out: &mut Vec<u32>) {
        out.clear();
        let (Some(current), false) = (self.current, self.config.max_drift.is_zero()) else { return };
        if current == END_OF_TIME.micros() {
            return;
        }
        let ooo = duration_micros(self.config.out_of_orderness);
        let claim = |p: &Partition| p.max_event.map(|m| m.saturating_sub(ooo));
        // The smallest claim bounds it too, so the slowest partition is never named (W-6).
        let Some(slowest) = self.partitions.values().filter_map(claim).min() else { return };
        let limit = current.max(slowest).saturating_add(duration_micros(self.config.max_drift));
        out.extend(
            self.partitions
                .iter()
                .filter(|(_, p)| claim(p).is_some_and(|c| c > limit))
                .map(|(&partition, _)| partition),
        );
    }

    /// Everything has been read: the watermark jumps to [`END_OF_TIME`] for good (W-5).
    pub fn advance_to_end(&mut self) -> Timestamp {
        self.current = Some(END_OF_TIME.micros());
        END_OF_TIME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    fn tracker(partitions: u32) -> Watermarks {
        Watermarks::new(0..partitions, WatermarkConfig::default(), t(0)).unwrap()
    }

    #[test]
    fn w1_watermark_never_goes_backwards_when_a_partition_wakes_up_behind() {
        let mut w = tracker(2);
        w.observe(0, t(100), t(1));
        w.observe(1, t(50), t(1));
        assert_eq!(w.tick(t(1)), Some(t(45)));
        // Partition 1 goes quiet: after 10 s it no longer holds the watermark back.
        w.observe(0, t(120), t(12));
        assert_eq!(w.tick(t(12)), Some(t(115)));
        // It wakes up far behind: the watermark does not go back.
        w.observe(1, t(60), t(13));
        assert_eq!(w.tick(t(13)), Some(t(115)));
    }

    #[test]
    fn w2_none_until_every_active_partition_has_seen_an_event() {
        let mut w = tracker(3);
        assert_eq!(w.tick(t(0)), None);
        w.observe(0, t(100), t(1));
        w.observe(1, t(100), t(1));
        assert_eq!(w.tick(t(2)), None, "partition 2 never produced but is not idle yet");
        assert_eq!(w.tick(t(10)), Some(t(95)), "partition 2 is idle 10 s after start");
        w.remove(0);
        w.remove(1);
        assert_eq!(w.tick(t(11)), Some(t(95)), "once defined it stays defined");
    }

    #[test]
    fn w3_the_slowest_active_partition_holds_the_watermark() {
        let mut w = tracker(2);
        w.observe(0, t(100), t(1));
        w.observe(1, t(70), t(1));
        assert_eq!(w.tick(t(1)), Some(t(65)));
        w.observe(1, t(90), t(2));
        w.observe(1, t(80), t(2)); // out of order: the maximum counts
        assert_eq!(w.tick(t(2)), Some(t(85)));
        w.observe(1, t(200), t(3));
        assert_eq!(w.tick(t(3)), Some(t(95)));
    }

    #[test]
    fn w4_idle_partitions_do_not_hold_it_back_and_all_idle_holds_still() {
        let mut w = tracker(2);
        w.observe(0, t(100), t(0));
        w.observe(1, t(10), t(0));
        assert_eq!(w.tick(t(9)), Some(t(5)));
        w.observe(0, t(110), t(9));
        assert!(w.is_idle(1, t(10)) && !w.is_idle(0, t(10)));
        assert_eq!(w.tick(t(10)), Some(t(105)));
        assert_eq!(w.tick(t(1_000)), Some(t(105)), "everything idle: the watermark holds");
        w.observe(1, t(300), t(1_001));
        assert_eq!(w.tick(t(1_001)), Some(t(295)), "an active partition counts again");
    }

    #[test]
    fn w4_time_spent_not_reading_is_not_idleness() {
        let mut w = tracker(2);
        w.observe(0, t(100), t(0));
        w.observe(1, t(100), t(0));
        assert_eq!(w.tick(t(0)), Some(t(95)));
        // Busy for 12 s (a checkpoint): then only partition 0's records are in the next batch.
        w.pause(Duration::from_secs(12));
        w.observe(0, t(200), t(13));
        assert_eq!(w.tick(t(13)), Some(t(95)), "partition 1 was read 1 s of reading time ago");
        assert!(!w.is_idle(1, t(21)) && w.is_idle(1, t(22)), "10 s of reading time later it is idle");
        assert_eq!(w.tick(t(22)), Some(t(195)));
    }

    #[test]
    fn w5_advance_to_end_is_final() {
        let mut w = tracker(1);
        w.observe(0, t(100), t(0));
        w.tick(t(0));
        assert_eq!(w.advance_to_end(), END_OF_TIME);
        w.observe(0, t(200), t(1));
        assert_eq!(w.tick(t(1)), Some(END_OF_TIME));
        let back: Watermarks = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back.current(), Some(END_OF_TIME));
    }

    #[test]
    fn new_partitions_are_tracked_and_restart_gives_grace() {
        let mut w = tracker(1);
        w.observe(0, t(100), t(0));
        w.observe(7, t(50), t(0));
        assert_eq!(w.tick(t(0)), Some(t(45)));
        // Restored long after the checkpoint: without restart both would be idle.
        let mut back: Watermarks = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        back.restart(t(5_000), WatermarkConfig::default()).unwrap();
        back.observe(0, t(130), t(5_001));
        assert_eq!(back.tick(t(5_001)), Some(t(45)), "partition 7 still holds it within its grace");
        assert_eq!(back.tick(t(5_010)), Some(t(125)));
    }

    #[test]
    fn w6_only_partitions_beyond_the_drift_are_ahead_and_never_the_slowest() {
        let mut w = tracker(3);
        let mut ahead = vec![99];
        w.ahead(&mut ahead);
        assert!(ahead.is_empty(), "no watermark yet: nothing is ahead");
        w.observe(0, t(1_000), t(0));
        w.observe(1, t(1_030), t(0));
        w.observe(2, t(1_031), t(0));
        assert_eq!(w.tick(t(0)), Some(t(995)));
        w.ahead(&mut ahead);
        assert_eq!(ahead, [2], "claims 1025 and 1026 against 995 + 30");
        // The slowest catches up: the watermark follows and nothing is ahead.
        w.observe(0, t(1_040), t(1));
        assert_eq!(w.tick(t(1)), Some(t(1_025)));
        w.ahead(&mut ahead);
        assert!(ahead.is_empty());
        // Settings change on restart; a zero drift turns alignment off.
        w.observe(2, t(5_000), t(2));
        w.tick(t(2));
        w.ahead(&mut ahead);
        assert_eq!(ahead, [2]);
        w.restart(t(3), WatermarkConfig { max_drift: Duration::ZERO, ..WatermarkConfig::default() }).unwrap();
        w.ahead(&mut ahead);
        assert!(ahead.is_empty());
        w.advance_to_end();
        w.restart(t(4), WatermarkConfig::default()).unwrap();
        w.ahead(&mut ahead);
        assert!(ahead.is_empty(), "after the end of input nothing waits");
    }

    #[test]
    fn config_defaults_round_trip_and_zero_idle_timeout_is_refused() {
        let c = WatermarkConfig::default();
        assert_eq!(c.out_of_orderness, Duration::from_secs(5));
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<WatermarkConfig>(&text).unwrap(), c);
        let partial: WatermarkConfig = serde_json::from_str(r#"{"allowed_lateness":"2m"}"#).unwrap();
        assert_eq!(partial.allowed_lateness, Duration::from_secs(120));
        assert!(serde_json::from_str::<WatermarkConfig>(r#"{"lateness":"2m"}"#).is_err());
        let bad = WatermarkConfig { idle_timeout: Duration::ZERO, ..c };
        let e = Watermarks::new([0], bad, t(0)).unwrap_err();
        assert!(e.to_string().starts_with("watermark setting `idle_timeout` must be greater than 0"), "{e}");
    }

    #[test]
    fn extreme_times_saturate() {
        let mut w = tracker(1);
        w.observe(0, Timestamp::from_micros(i64::MIN), Timestamp::from_micros(i64::MIN));
        assert_eq!(w.tick(Timestamp::from_micros(i64::MIN)), Some(Timestamp::from_micros(i64::MIN)));
        w.observe(0, Timestamp::from_micros(i64::MAX), Timestamp::from_micros(i64::MAX));
        assert_eq!(w.tick(Timestamp::from_micros(i64::MAX)), Some(Timestamp::from_micros(i64::MAX - 5 * S)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Observe { partition: u32, event: i64, dt: i64 },
        Tick { dt: i64 },
        Remove(u32),
        RoundTrip,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u32..5, -1_000i64..1_000, 0i64..4).prop_map(|(partition, event, dt)| Op::Observe {
                partition, event: event * S, dt: dt * S
            }),
            3 => (0i64..15).prop_map(|dt| Op::Tick { dt: dt * S }),
            1 => (0u32..5).prop_map(Op::Remove),
            1 => Just(Op::RoundTrip),
        ]
    }

    proptest! {
        #[test]
        fn w1_w2_watermark_is_monotonic_and_stays_defined(ops in proptest::collection::vec(op(), 0..200)) {
            let mut w = tracker(3);
            let mut now = 0i64;
            let mut last: Option<Timestamp> = None;
            for op in ops {
                match op {
                    Op::Observe { partition, event, dt } => {
                        now += dt;
                        w.observe(partition, Timestamp::from_micros(event), Timestamp::from_micros(now));
                    }
                    Op::Tick { dt } => now += dt,
                    Op::Remove(p) => w.remove(p),
                    Op::RoundTrip => w = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap(),
                }
                let current = w.tick(Timestamp::from_micros(now));
                prop_assert!(current >= last, "W-1: {current:?} < {last:?}");
                // W-6: some partition that holds the watermark is never paused.
                let mut ahead = Vec::new();
                w.ahead(&mut ahead);
                prop_assert!(ahead.len() < w.partitions.len() || w.partitions.is_empty(), "W-6: {ahead:?}");
                prop_assert!(last.is_none() || current.is_some(), "W-2");
                last = current;
            }
        }
    }
}
