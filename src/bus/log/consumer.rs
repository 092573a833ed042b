//! The consumer: lock-free readers of partitions, positions, commits through [`super::offsets`].
//!
//! A reader returns only complete, valid frames. At the end of the last segment an incomplete or
//! invalid frame is "not yet": the buffered bytes are dropped and read again from the file on the
//! next poll, so a tail that a recovering writer cuts and rewrites is read as rewritten. Past the
//! end of a segment whose successor exists (a closed segment), the same frame is corruption.

use super::segment::{self, Bad, decode};
use super::{Log, offsets};
use crate::bus::{BusError, Consumer, Polled, Record, Result, TopicPartition};
use bytes::Bytes;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How much a reader reads from a segment at a time.
const READ_CHUNK: usize = 256 << 10;

/// Reads topics of the embedded log as a member of a consumer group.
pub struct LogConsumer {
    log: Log,
    group: String,
    readers: Vec<Reader>,
    /// The reader the next poll starts with, so that one busy partition cannot starve others.
    next_reader: usize,
}

impl LogConsumer {
    pub(crate) fn new(log: Log, group: &str, topics: &[&str]) -> Result<LogConsumer> {
        let committed = offsets::load(log.dir(), group)?;
        let mut names: Vec<&str> = topics.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut readers = Vec::new();
        for name in names {
            let topic = log.topic(name)?;
            for (p, partition) in topic.partitions().iter().enumerate() {
                let tp = TopicPartition::new(name, p as u32);
                let dir = partition.dir().to_path_buf();
                let position = match committed.get(&tp) {
                    Some(&offset) => offset,
                    None => segment::list(&dir)?.first().map_or(0, |s| s.base),
                };
                readers.push(Reader { tp, dir, position, segment: None, paused: false });
            }
        }
        Ok(LogConsumer { log, group: group.to_string(), readers, next_reader: 0 })
    }

    fn reader(&mut self, tp: &TopicPartition) -> Result<&mut Reader> {
        let partitions = self.readers.iter().filter(|r| r.tp.topic == tp.topic).count() as u32;
        self.readers.iter_mut().find(|r| r.tp == *tp).ok_or_else(|| BusError::NoSuchPartition {
            topic: tp.topic.clone(),
            partition: tp.partition,
            partitions,
        })
    }
}

impl Consumer for LogConsumer {
    fn poll(&mut self, max: usize) -> Result<Polled> {
        let mut polled = Polled::default();
        let n = self.readers.len();
        let mut left = max;
        for i in 0..n {
            if left == 0 {
                break;
            }
            let reader = &mut self.readers[(self.next_reader + i) % n];
            if reader.paused {
                continue;
            }
            let slot = match polled.topics.iter().position(|(t, _)| *t == reader.tp.topic) {
                Some(slot) => slot,
                None => {
                    polled.topics.push((reader.tp.topic.clone(), Vec::new()));
                    polled.topics.len() - 1
                }
            };
            match reader.read(left, &mut polled.topics[slot].1) {
                Ok(taken) => left -= taken,
                // Positions moved past what is in `polled`: hand it out, the error comes back
                // on the next poll.
                Err(_) if left < max => break,
                Err(error) => return Err(error),
            }
        }
        if n > 0 {
            self.next_reader = (self.next_reader + 1) % n;
        }
        polled.topics.retain(|(_, records)| !records.is_empty());
        Ok(polled)
    }

    fn seek(&mut self, tp: &TopicPartition, offset: u64) -> Result<()> {
        let reader = self.reader(tp)?;
        reader.position = offset;
        reader.segment = None;
        Ok(())
    }

    fn position(&self, tp: &TopicPartition) -> Option<u64> {
        self.readers.iter().find(|r| r.tp == *tp).map(|r| r.position)
    }

    fn commit(&mut self) -> Result<()> {
        let positions: Vec<_> = self.readers.iter().map(|r| (r.tp.clone(), r.position)).collect();
        offsets::commit(self.log.dir(), &self.group, &positions)
    }

    fn commit_offsets(&mut self, offsets: &[(TopicPartition, u64)]) -> Result<()> {
        offsets::commit(self.log.dir(), &self.group, offsets)
    }

    fn committed(&self, tp: &TopicPartition) -> Result<Option<u64>> {
        Ok(offsets::load(self.log.dir(), &self.group)?.get(tp).copied())
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.readers.iter().map(|r| r.tp.clone()).collect()
    }

    fn pause(&mut self, partitions: &[TopicPartition]) {
        self.readers.iter_mut().filter(|r| partitions.contains(&r.tp)).for_each(|r| r.paused = true);
    }

    fn resume(&mut self, partitions: &[TopicPartition]) {
        self.readers.iter_mut().filter(|r| partitions.contains(&r.tp)).for_each(|r| r.paused = false);
    }
}

/// Reads one partition from its position on.
struct Reader {
    tp: TopicPartition,
    dir: PathBuf,
    /// The next offset `poll` returns.
    position: u64,
    segment: Option<OpenSegment>,
    /// Skipped by `poll` (see [`Consumer::pause`]).
    paused: bool,
}

/// A segment being read, with a window of its bytes.
struct OpenSegment {
    base: u64,
    path: PathBuf,
    file: File,
    /// Where the file's read cursor is.
    cursor: u64,
    /// File position of `buf[0]`.
    buf_pos: u64,
    buf: Vec<u8>,
    filled: usize,
    consumed: usize,
    /// The offset of the frame at `buf[consumed]`.
    expect: u64,
    /// Whether the last read stopped at the end of the file.
    at_eof: bool,
}

impl Reader {
    /// Appends up to `max` records to `out`; returns how many.
    fn read(&mut self, max: usize, out: &mut Vec<Record>) -> Result<usize> {
        let mut taken = 0;
        while taken < max {
            if self.segment.is_none() {
                self.segment = self.open_at_position()?;
            }
            let Some(seg) = self.segment.as_mut() else { break };
            let incomplete = match decode(&seg.buf[seg.consumed..seg.filled], seg.expect) {
                Ok(frame) => {
                    if frame.offset >= self.position {
                        out.push(Record {
                            partition: self.tp.partition,
                            offset: frame.offset,
                            key: Bytes::copy_from_slice(frame.key),
                            value: Bytes::copy_from_slice(frame.value),
                        });
                        self.position = frame.offset + 1;
                        taken += 1;
                    }
                    seg.consumed += frame.size;
                    seg.expect += 1;
                    continue;
                }
                Err(bad) => bad == Bad::Incomplete,
            };
            if incomplete && seg.refill()? > 0 {
                continue;
            }
            // At the end of what the file holds, or at an invalid frame. Whether the segment is
            // closed is decided before the bytes are read again, so a closed segment is final.
            // The usual case, caught up at a frame boundary, costs one `stat`; a partial or
            // invalid frame (a torn tail, or damage) lists the directory.
            let end = seg.expect;
            let next = segment::path(&self.dir, end);
            // (A segment never rolls empty, so an empty one is the active one.)
            let closed = if seg.consumed == seg.filled {
                end > seg.base && next.exists()
            } else {
                segment::list(&self.dir)?.last().is_some_and(|last| last.base > seg.base)
            };
            seg.discard();
            let verdict = loop {
                let decoded = decode(&seg.buf[..seg.filled], seg.expect).map(|_| ());
                match decoded {
                    Err(Bad::Incomplete) if seg.refill()? > 0 => {}
                    other => break other,
                }
            };
            match verdict {
                Ok(()) => continue,
                Err(Bad::Incomplete) if closed && seg.filled == 0 => {
                    if !next.exists() {
                        if !seg.path.exists() {
                            // Retention deleted this segment and the next: start over.
                            self.segment = None;
                            continue;
                        }
                        let why = format!("the segment ends at offset {end} but no segment starts there");
                        return corrupt(taken, &seg.path, seg.buf_pos, why);
                    }
                    self.segment = None;
                    self.position = self.position.max(end);
                }
                Err(bad) if closed => {
                    let why = match bad {
                        Bad::Incomplete => "a closed segment ends inside a frame".to_string(),
                        Bad::Invalid(why) => why,
                    };
                    return corrupt(taken, &seg.path, seg.buf_pos, why);
                }
                Err(_) => {
                    // Not yet, unless retention deleted the segment under us: then start over.
                    if !seg.path.exists() {
                        self.segment = None;
                        continue;
                    }
                    break;
                }
            }
        }
        Ok(taken)
    }

    /// Opens the segment holding `position`, or the earliest one when retention deleted it.
    fn open_at_position(&mut self) -> Result<Option<OpenSegment>> {
        let segments = segment::list(&self.dir)?;
        let Some(first) = segments.first() else { return Ok(None) };
        if self.position < first.base {
            tracing::warn!(
                partition = %self.tp,
                from = self.position,
                to = first.base,
                "consumer position was deleted by retention; skipping to the earliest retained offset"
            );
            self.position = first.base;
        }
        let chosen = segments.iter().rev().find(|s| s.base <= self.position).unwrap_or(first);
        let file = match File::open(&chosen.path) {
            Ok(file) => file,
            // Deleted since listed: the next poll lists again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(BusError::Io { path: chosen.path.clone(), source }),
        };
        Ok(Some(OpenSegment {
            base: chosen.base,
            path: chosen.path.clone(),
            file,
            cursor: 0,
            buf_pos: 0,
            buf: Vec::new(),
            filled: 0,
            consumed: 0,
            expect: chosen.base,
            at_eof: false,
        }))
    }
}

/// Damage in a closed segment: an error, once the records read before it are returned.
fn corrupt(taken: usize, path: &Path, position: u64, why: String) -> Result<usize> {
    if taken > 0 {
        return Ok(taken);
    }
    Err(BusError::Corrupt {
        path: path.to_path_buf(),
        position,
        why: format!(
            "{why} in a closed segment; restore the partition from a backup or move the damaged segments away"
        ),
    })
}

impl OpenSegment {
    /// Drops the unconsumed bytes, so that they are read again from the file.
    fn discard(&mut self) {
        self.buf_pos += self.consumed as u64;
        self.filled = 0;
        self.consumed = 0;
    }

    /// Reads more of the file behind the unconsumed bytes; returns how many bytes past the
    /// previous end of the window came.
    ///
    /// A frame is never assembled across a read that hit the end of the file: if the last read
    /// did, a partial frame is dropped and read again from its start. Otherwise a torn tail read
    /// before a recovering writer cut it could be glued to the bytes written after the cut.
    fn refill(&mut self) -> Result<usize> {
        let old_end = self.buf_pos + self.filled as u64;
        if self.at_eof {
            self.discard();
        }
        if self.consumed > 0 {
            self.buf.copy_within(self.consumed..self.filled, 0);
            self.buf_pos += self.consumed as u64;
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        if self.filled >= 8 {
            let needed = 8 + u32::from_le_bytes(self.buf[4..8].try_into().expect("4 bytes")) as u64;
            if needed > self.buf.len() as u64 {
                // Grow only for a frame the file can hold; a torn length field must not make us
                // allocate gigabytes.
                let file_len = self.file.metadata().map_err(BusError::io(&self.path))?.len();
                if self.buf_pos + needed > file_len {
                    return Ok(0);
                }
                self.buf.resize((needed as usize).next_power_of_two(), 0);
            }
        }
        if self.filled == self.buf.len() {
            return Ok(0);
        }
        let at = self.buf_pos + self.filled as u64;
        if self.cursor != at {
            self.file.seek(SeekFrom::Start(at)).map_err(BusError::io(&self.path))?;
            self.cursor = at;
        }
        let want = self.buf.len() - self.filled;
        let n = segment::read_some(&mut self.file, &mut self.buf[self.filled..], &self.path)?;
        self.at_eof = n < want;
        self.filled += n;
        self.cursor += n as u64;
        Ok((self.buf_pos + self.filled as u64).saturating_sub(old_end) as usize)
    }
}
