//! The processor's input: the `transactions` and `clickstream` topics, read by one consumer.
//!
//! Every topic partition is one *input* with a dense index (topics in the order given, then
//! partitions), which is what the watermark tracker counts. Positions come from the checkpoint
//! (never from the consumer group's committed offsets, which are only published for lag), so a
//! restart reads exactly the records after the last checkpoint.

use crate::bus::{BusError, Consumer, TopicPartition};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Instant;

/// Next offset per partition, per topic: the source part of a checkpoint.
pub type Offsets = BTreeMap<String, Vec<u64>>;

/// One record read from the bus.
pub struct Input {
    /// Index of the topic partition among the source's inputs.
    pub input: u32,
    /// Index of the topic in the list given to [`Source::new`].
    pub topic: u8,
    pub partition: u32,
    pub offset: u64,
    pub value: Bytes,
    /// When the processor read it: the start of its latency.
    pub read_at: Instant,
}

pub struct Source {
    consumer: Box<dyn Consumer>,
    topics: Vec<String>,
    /// First input index of each topic.
    base: Vec<u32>,
    inputs: u32,
    /// The inputs paused by [`Source::align`], ascending.
    paused: Vec<u32>,
}

impl Source {
    /// Reads `topics` through `consumer`, from `offsets` when given (else from the start).
    pub fn new(mut consumer: Box<dyn Consumer>, topics: &[&str], offsets: Option<&Offsets>) -> Result<Self, BusError> {
        let assignment = consumer.assignment();
        let mut base = Vec::with_capacity(topics.len());
        let mut inputs = 0u32;
        for topic in topics {
            base.push(inputs);
            inputs += assignment.iter().filter(|tp| tp.topic == *topic).count() as u32;
        }
        for tp in &assignment {
            let offset = offsets.and_then(|o| o.get(&tp.topic)).and_then(|p| p.get(tp.partition as usize)).copied();
            consumer.seek(tp, offset.unwrap_or(0))?;
        }
        let topics = topics.iter().map(|t| t.to_string()).collect();
        Ok(Source { consumer, topics, base, inputs, paused: Vec::new() })
    }

    /// How many topic partitions are read.
    pub fn inputs(&self) -> u32 {
        self.inputs
    }

    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// Up to `max` records; empty when caught up.
    pub fn poll(&mut self, max: usize, out: &mut Vec<Input>) -> Result<(), BusError> {
        let polled = self.consumer.poll(max)?;
        let read_at = Instant::now();
        for (topic, records) in polled.topics {
            let Some(t) = self.topics.iter().position(|name| *name == topic) else { continue };
            for r in records {
                out.push(Input {
                    input: self.base[t] + r.partition,
                    topic: t as u8,
                    partition: r.partition,
                    offset: r.offset,
                    value: r.value,
                    read_at,
                });
            }
        }
        Ok(())
    }

    /// Reads only the inputs not in `ahead` (ascending) from the next poll on: the watermark's
    /// alignment ([`super::time::Watermarks::ahead`]). Cheap when nothing changes.
    pub fn align(&mut self, ahead: &[u32]) {
        if ahead == self.paused.as_slice() {
            return;
        }
        let resume: Vec<_> = self.paused.iter().filter(|i| !ahead.contains(i)).filter_map(|&i| self.tp(i)).collect();
        let pause: Vec<_> = ahead.iter().filter(|i| !self.paused.contains(i)).filter_map(|&i| self.tp(i)).collect();
        self.consumer.resume(&resume);
        self.consumer.pause(&pause);
        self.paused = ahead.to_vec();
    }

    /// How many inputs [`Source::align`] holds back.
    pub fn paused(&self) -> usize {
        self.paused.len()
    }

    /// The topic partition of an input index.
    fn tp(&self, input: u32) -> Option<TopicPartition> {
        let t = self.base.iter().rposition(|&b| b <= input)?;
        Some(TopicPartition::new(&self.topics[t], input - self.base[t]))
    }

    /// The next offset to read per partition: what a checkpoint stores.
    pub fn positions(&self) -> Offsets {
        let mut offsets = Offsets::new();
        for tp in self.consumer.assignment() {
            let next = self.consumer.position(&tp).unwrap_or(0);
            let partitions = offsets.entry(tp.topic.clone()).or_default();
            if partitions.len() <= tp.partition as usize {
                partitions.resize(tp.partition as usize + 1, 0);
            }
            partitions[tp.partition as usize] = next;
        }
        offsets
    }

    /// Publishes positions as the consumer group's committed offsets (for lag in `log stats`).
    pub fn publish(&mut self, offsets: &Offsets) -> Result<(), BusError> {
        let list: Vec<(TopicPartition, u64)> = offsets
            .iter()
            .flat_map(|(topic, parts)| {
                parts.iter().enumerate().map(|(p, &o)| (TopicPartition::new(topic, p as u32), o))
            })
            .collect();
        self.consumer.commit_offsets(&list)
    }
}
