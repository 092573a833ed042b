//! An in-memory bus for tests: same traits, no disk. Records become visible on `flush`, as on
//! the embedded log; nothing survives the process.

use super::{Consumer, Polled, Producer, Record, Result, TopicPartition, check_topic_name, partition_for};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// A record's key and value, shared with every record read of it.
type KeyValue = (Bytes, Bytes);

#[derive(Default)]
struct State {
    /// topic -> partition -> records by offset.
    topics: BTreeMap<String, Vec<Vec<KeyValue>>>,
    /// (group, partition) -> committed next offset.
    committed: HashMap<(String, TopicPartition), u64>,
}

/// A shared in-memory bus; clones share the same topics.
#[derive(Clone)]
pub struct MemoryBus {
    partitions: u32,
    state: Arc<Mutex<State>>,
}

impl MemoryBus {
    pub fn new(partitions: u32) -> Self {
        MemoryBus { partitions: partitions.max(1), state: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn producer(&self) -> MemoryProducer {
        MemoryProducer { bus: self.clone(), pending: Vec::new(), round_robin: 0 }
    }

    pub fn consumer(&self, group: &str, topics: &[&str]) -> MemoryConsumer {
        let mut positions = BTreeMap::new();
        let state = self.lock();
        for topic in topics {
            for p in 0..self.partitions {
                let tp = TopicPartition::new(topic, p);
                let start = state.committed.get(&(group.to_string(), tp.clone())).copied().unwrap_or(0);
                positions.insert(tp, start);
            }
        }
        drop(state);
        MemoryConsumer { bus: self.clone(), group: group.to_string(), positions, paused: BTreeSet::new(), next: 0 }
    }

    /// Every record of a topic, partition by partition.
    pub fn records(&self, topic: &str) -> Vec<Record> {
        let state = self.lock();
        let Some(parts) = state.topics.get(topic) else { return Vec::new() };
        let mut out = Vec::new();
        for (p, records) in parts.iter().enumerate() {
            for (offset, (key, value)) in records.iter().enumerate() {
                out.push(Record { partition: p as u32, offset: offset as u64, key: key.clone(), value: value.clone() });
            }
        }
        out
    }
}

pub struct MemoryProducer {
    bus: MemoryBus,
    pending: Vec<(String, u32, Bytes, Bytes)>,
    round_robin: u32,
}

impl Producer for MemoryProducer {
    fn send(&mut self, topic: &str, key: &[u8], value: &[u8]) -> Result<()> {
        check_topic_name(topic)?;
        let n = self.bus.partitions;
        let partition = if key.is_empty() {
            self.round_robin = self.round_robin.wrapping_add(1);
            self.round_robin % n
        } else {
            partition_for(key, n)
        };
        self.pending.push((topic.to_string(), partition, Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)));
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let n = self.bus.partitions as usize;
        let mut state = self.bus.lock();
        for (topic, partition, key, value) in self.pending.drain(..) {
            let parts = state.topics.entry(topic).or_insert_with(|| vec![Vec::new(); n]);
            parts[partition as usize].push((key, value));
        }
        Ok(())
    }

    fn discard(&mut self) {
        self.pending.clear();
    }
}

pub struct MemoryConsumer {
    bus: MemoryBus,
    group: String,
    positions: BTreeMap<TopicPartition, u64>,
    paused: BTreeSet<TopicPartition>,
    /// Counts polls, to start each at another partition.
    next: usize,
}

impl Consumer for MemoryConsumer {
    fn poll(&mut self, max: usize) -> Result<Polled> {
        let state = self.bus.lock();
        let mut polled = Polled::default();
        let mut left = max;
        // As the embedded log does: each poll starts one partition further on.
        let n = self.positions.len().max(1);
        let start = self.next % n;
        self.next = self.next.wrapping_add(1);
        let (before, after): (Vec<_>, Vec<_>) = self.positions.iter_mut().enumerate().partition(|(i, _)| *i < start);
        for (_, (tp, position)) in after.into_iter().chain(before) {
            if left == 0 {
                break;
            }
            if self.paused.contains(tp) {
                continue;
            }
            let Some(records) = state.topics.get(&tp.topic).map(|parts| &parts[tp.partition as usize]) else {
                continue;
            };
            let from = (*position as usize).min(records.len());
            let take = (records.len() - from).min(left);
            if take == 0 {
                continue;
            }
            let batch = records[from..from + take].iter().enumerate().map(|(i, (k, v))| Record {
                partition: tp.partition,
                offset: (from + i) as u64,
                key: k.clone(),
                value: v.clone(),
            });
            match polled.topics.iter_mut().find(|(t, _)| *t == tp.topic) {
                Some((_, out)) => out.extend(batch),
                None => polled.topics.push((tp.topic.clone(), batch.collect())),
            }
            *position += take as u64;
            left -= take;
        }
        Ok(polled)
    }

    fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<()> {
        self.positions.insert(tp.clone(), offset);
        Ok(())
    }

    fn position(&self, tp: &TopicPartition) -> Option<u64> {
        self.positions.get(tp).copied()
    }

    fn commit(&mut self) -> Result<()> {
        let offsets: Vec<_> = self.positions.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
        self.commit_offsets(&offsets)
    }

    fn commit_offsets(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        let mut state = self.bus.lock();
        for (tp, offset) in offsets {
            state.committed.insert((self.group.clone(), tp.clone()), *offset);
        }
        Ok(())
    }

    fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        Ok(self.bus.lock().committed.get(&(self.group.clone(), tp.clone())).copied())
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.keys().cloned().collect()
    }

    fn pause(&mut self, partitions: &[TopicPartition]) {
        self.paused.extend(partitions.iter().cloned());
    }

    fn resume(&mut self, partitions: &[TopicPartition]) {
        partitions.iter().for_each(|tp| {
            self.paused.remove(tp);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_appear_on_flush_and_groups_resume_from_commit() {
        let bus = MemoryBus::new(2);
        let mut p = bus.producer();
        p.send("t", b"a", b"1").unwrap();
        p.send("t", b"a", b"2").unwrap();
        assert!(bus.records("t").is_empty());
        p.flush().unwrap();
        let mut c = bus.consumer("g", &["t"]);
        let first = c.poll(1).unwrap();
        assert_eq!(first.topics[0].1[0].value, &b"1"[..]);
        c.commit().unwrap();
        let mut again = bus.consumer("g", &["t"]);
        let rest = again.poll(10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest.topics[0].1[0].value, &b"2"[..]);
    }

    #[test]
    fn records_read_twice_share_their_bytes() {
        let bus = MemoryBus::new(1);
        let mut p = bus.producer();
        p.send("t", b"k", b"a value").unwrap();
        p.flush().unwrap();
        let one = bus.consumer("one", &["t"]).poll(1).unwrap().topics.remove(0).1.remove(0);
        let two = bus.consumer("two", &["t"]).poll(1).unwrap().topics.remove(0).1.remove(0);
        assert_eq!((&one.key[..], &one.value[..]), (&b"k"[..], &b"a value"[..]));
        assert_eq!(one.value.as_ptr(), two.value.as_ptr(), "both reads point at the stored value: nothing copied");
        assert_eq!(bus.records("t")[0].value.as_ptr(), one.value.as_ptr());
    }
}
