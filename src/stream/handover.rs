//! The processing thread's end of the channel to the committer.
//!
//! Guarantee: messages reach the committer in the order they were sent, none is lost while the
//! committer lives, and at most [`MAX_QUEUED_ROWS`] rows (bus messages count as rows) wait on
//! the processing side, plus the [`CHANNEL_MESSAGES`] messages in the channel.
//!
//! The channel itself holds a couple of messages. When it is full (the committer is busy for a
//! moment: an fsync, a Delta commit, waiting for a checkpoint's encoding) messages wait in a local
//! queue and the processing thread goes on; it blocks only once the queue holds more than the row
//! bound. Back-pressure is so bounded by rows, what costs memory, rather than by messages, which
//! come every few milliseconds at a low rate and would stop processing for any short pause.
//!
//! The channel is kept short because what it holds is not bounded by rows: when the watermark
//! closes an hour, each message carries thousands of windows. With 16 messages in the channel on
//! top of the queue, an hour's end or the end of a run closing a million customers' windows held
//! up to some 350 MB of closed windows between the two threads (then a row and an `analytics`
//! message each), which set the processor's peak memory.

use super::committer::ToCommitter;
use std::collections::VecDeque;
use std::sync::mpsc::{SyncSender, TrySendError};

/// The most rows waiting on the processing side before sending blocks: a couple of seconds of a
/// busy shop's output. A closed window's row is about 500 bytes (its `analytics` message is
/// written by the committer), so a queue of closed windows holds about 125 MB at most.
pub const MAX_QUEUED_ROWS: usize = 250_000;

/// Messages the channel to the committer holds (the rest wait in the queue, counted).
pub const CHANNEL_MESSAGES: usize = 2;

/// The committer hung up (it failed, and says why on its report channel).
#[derive(Debug)]
pub struct Gone;

pub struct Handover<S> {
    tx: SyncSender<ToCommitter<S>>,
    queue: VecDeque<ToCommitter<S>>,
    queued_rows: usize,
    max_rows: usize,
}

fn rows<S>(message: &ToCommitter<S>) -> usize {
    match message {
        ToCommitter::Rows(outputs) => outputs.rows() + outputs.messages.len(),
        ToCommitter::Epoch { .. } => 0,
    }
}

impl<S> Handover<S> {
    pub fn new(tx: SyncSender<ToCommitter<S>>, max_rows: usize) -> Self {
        Handover { tx, queue: VecDeque::new(), queued_rows: 0, max_rows }
    }

    /// Queues `message` behind those waiting and hands on what the channel takes now; waits
    /// while more than the row bound would be left waiting.
    pub fn send(&mut self, message: ToCommitter<S>) -> Result<(), Gone> {
        self.queued_rows += rows(&message);
        self.queue.push_back(message);
        self.pump()?;
        while self.queued_rows > self.max_rows {
            self.send_front()?;
        }
        Ok(())
    }

    /// Hands on what the channel takes now, without waiting.
    pub fn pump(&mut self) -> Result<(), Gone> {
        while let Some(message) = self.queue.pop_front() {
            let n = rows(&message);
            match self.tx.try_send(message) {
                Ok(()) => self.queued_rows -= n,
                Err(TrySendError::Full(message)) => {
                    self.queue.push_front(message);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => return Err(Gone),
            }
        }
        Ok(())
    }

    /// Hands on every waiting message, waiting as long as that takes.
    pub fn flush(&mut self) -> Result<(), Gone> {
        while !self.queue.is_empty() {
            self.send_front()?;
        }
        Ok(())
    }

    /// Messages waiting on this side (for tests and logs).
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    fn send_front(&mut self) -> Result<(), Gone> {
        if let Some(message) = self.queue.pop_front() {
            self.queued_rows -= rows(&message);
            self.tx.send(message).map_err(|_| Gone)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::stream::outputs::{DeadLetterRow, Outputs};
    use chrono::NaiveDate;
    use std::sync::mpsc::sync_channel;

    /// A message of `n` rows, told apart by the first row's offset.
    fn rows_message(id: u64, n: usize) -> ToCommitter<()> {
        let mut out = Outputs::default();
        for _ in 0..n {
            out.dead_letters.push(DeadLetterRow {
                source_topic: "transactions".into(),
                source_partition: 0,
                source_offset: id,
                stage: "decode".into(),
                kind: "test".into(),
                reason: "test".into(),
                message: String::new(),
                raw: None,
                raw_hex: None,
                ingest_time: Timestamp::from_micros(0),
                event_date: NaiveDate::default(),
            });
        }
        ToCommitter::Rows(Box::new(out))
    }

    fn id(message: &ToCommitter<()>) -> u64 {
        match message {
            ToCommitter::Rows(out) => out.dead_letters[0].source_offset,
            ToCommitter::Epoch { .. } => u64::MAX,
        }
    }

    #[test]
    fn a_full_channel_queues_in_order_without_blocking_until_the_row_bound() {
        let (tx, rx) = sync_channel(2);
        let mut handover = Handover::new(tx, 10);
        // 2 fit the channel, the next 3 (9 rows) wait here, and sending did not block.
        for i in 0..5 {
            handover.send(rows_message(i, 3)).unwrap();
        }
        assert_eq!(handover.waiting(), 3);
        // A 6th crosses the bound (12 rows): it blocks until the committer takes some.
        let taker = std::thread::spawn(move || rx.iter().map(|m| id(&m)).collect::<Vec<_>>());
        handover.send(rows_message(5, 3)).unwrap();
        assert!(handover.queued_rows <= 10, "{} rows left waiting", handover.queued_rows);
        handover.flush().unwrap();
        assert_eq!(handover.waiting(), 0);
        drop(handover);
        assert_eq!(taker.join().unwrap(), vec![0, 1, 2, 3, 4, 5], "order kept, nothing lost");
    }

    #[test]
    fn bus_messages_count_towards_the_row_bound() {
        let (tx, _rx) = sync_channel(1);
        let mut handover = Handover::new(tx, 10);
        handover.send(rows_message(0, 1)).unwrap(); // into the channel
        let mut alerts = Outputs::default();
        for i in 0..4u8 {
            alerts.messages.push(("fraud-alerts", vec![i], vec![i]));
        }
        handover.send(rows_message(1, 2)).unwrap();
        handover.send(ToCommitter::Rows(Box::new(alerts))).unwrap();
        assert_eq!((handover.waiting(), handover.queued_rows), (2, 6), "2 rows and 4 messages wait");
    }

    #[test]
    fn pump_hands_on_what_the_channel_frees() {
        let (tx, rx) = sync_channel(1);
        let mut handover = Handover::new(tx, 100);
        for i in 0..3 {
            handover.send(rows_message(i, 1)).unwrap();
        }
        assert_eq!(handover.waiting(), 2);
        assert_eq!(id(&rx.recv().unwrap()), 0);
        handover.pump().unwrap();
        assert_eq!(handover.waiting(), 1);
        assert_eq!(id(&rx.recv().unwrap()), 1);
        drop(rx);
        assert!(handover.pump().is_err(), "a committer gone is reported");
    }
}
