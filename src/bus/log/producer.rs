//! The producer: buffers encoded frames per partition, appends them on `flush`.

use super::Log;
use super::segment::{encode_unsealed, frame_len};
use super::topic::Topic;
use crate::bus::{BusError, Producer, Result, partition_for};
use std::sync::Arc;

/// Writes records to the embedded log. Records are buffered by [`Producer::send`] and
/// acknowledged when [`Producer::flush`] returns `Ok`.
pub struct LogProducer {
    log: Log,
    topics: Vec<ProducerTopic>,
}

struct ProducerTopic {
    name: String,
    topic: Arc<Topic>,
    /// The partition the next empty-key record goes to.
    round_robin: u32,
    batches: Vec<Batch>,
}

/// Frames waiting for one partition, encoded back to back; reused across flushes.
#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    /// Where each frame ends in `buf`.
    ends: Vec<usize>,
}

impl LogProducer {
    pub(crate) fn new(log: Log) -> Self {
        LogProducer { log, topics: Vec::new() }
    }

    fn topic_index(&mut self, name: &str) -> Result<usize> {
        if let Some(i) = self.topics.iter().position(|t| t.name == name) {
            return Ok(i);
        }
        let topic = self.log.topic(name)?;
        let batches = (0..topic.len()).map(|_| Batch::default()).collect();
        self.topics.push(ProducerTopic { name: name.to_string(), topic, round_robin: 0, batches });
        Ok(self.topics.len() - 1)
    }

    /// Records sent and not yet flushed.
    pub fn pending(&self) -> usize {
        self.topics.iter().flat_map(|t| &t.batches).map(|b| b.ends.len()).sum()
    }
}

impl Producer for LogProducer {
    fn send(&mut self, topic: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let size = key.len() + value.len();
        let limit = self.log.config().max_record_bytes.min(u32::MAX as usize - 32);
        if size > limit {
            return Err(BusError::TooLarge { size, limit });
        }
        let index = self.topic_index(topic)?;
        let t = &mut self.topics[index];
        let n = t.topic.len();
        let partition = if key.is_empty() {
            let p = t.round_robin % n;
            t.round_robin = (p + 1) % n;
            p
        } else {
            partition_for(key, n)
        };
        let batch = &mut t.batches[partition as usize];
        batch.buf.reserve(frame_len(key.len(), value.len()));
        encode_unsealed(&mut batch.buf, key, value);
        batch.ends.push(batch.buf.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let inner = self.log.inner();
        // Every partition with records, taken in one global order (topic name, partition) so
        // that concurrent flushes never deadlock; held until all are written, so a failure can
        // cut back the ones already written and the flush takes all of its records or none.
        let mut touched: Vec<(usize, usize)> = Vec::new();
        for (ti, t) in self.topics.iter().enumerate() {
            touched.extend(t.batches.iter().enumerate().filter(|(_, b)| !b.ends.is_empty()).map(|(p, _)| (ti, p)));
        }
        touched.sort_unstable_by(|a, b| (&self.topics[a.0].name, a.1).cmp(&(&self.topics[b.0].name, b.1)));
        let topics: Vec<Arc<Topic>> = touched.iter().map(|&(ti, _)| self.topics[ti].topic.clone()).collect();
        let mut taken: Vec<_> =
            topics.iter().zip(&touched).map(|(topic, &(_, p))| topic.partitions()[p].take()).collect();
        for (taken, &(ti, p)) in taken.iter_mut().zip(&touched) {
            taken.reserve(&self.topics[ti].batches[p].ends, inner)?;
        }
        let mut syncs = Vec::new();
        for (i, &(ti, p)) in touched.iter().enumerate() {
            let batch = &mut self.topics[ti].batches[p];
            match taken[i].append(&mut batch.buf, &batch.ends, inner) {
                Ok(sync) => syncs.extend(sync),
                Err(error) => {
                    taken[..i].iter_mut().for_each(|t| t.undo());
                    return Err(error);
                }
            }
        }
        drop(taken);
        self.discard();
        // The partitions' fsyncs run side by side: the file system folds them into fewer
        // journal commits, so a flush touching N partitions costs far less than N fsyncs.
        super::syncs::run(syncs)
    }

    fn discard(&mut self) {
        for batch in self.topics.iter_mut().flat_map(|t| &mut t.batches) {
            batch.buf.clear();
            batch.ends.clear();
        }
    }
}
