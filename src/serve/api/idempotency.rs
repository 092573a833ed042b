//! Idempotency keys of ingest requests, remembered across restarts.
//!
//! The first request with a key is processed and its answer kept for `serve.idempotency_ttl`
//! (counted from that request); a repeat gets the same answer and sends nothing; a repeat while
//! the first is still running gets 409; a request that failed (a 503, say) leaves its key free,
//! so that its retry is processed. At most [`MAX_KEYS`] keys are kept, the oldest going first.
//!
//! Each answer is appended to a journal (one JSON line: key, time, status, answer) after the bus
//! acknowledged the request's records and before the answer is sent. On start the journal is
//! read back, entries past the TTL dropped and the file rewritten with the rest; it is rewritten
//! the same way whenever it holds twice as many lines as live keys. So a retry still finds its key
//! after the server restarted or crashed. Limits, stated: a crash between the bus's
//! acknowledgement and the journal line forgets that one key (its retry is ingested again: a
//! duplicate, never a loss), and lines are written but not fsynced, so a machine crash (not a
//! process crash) may forget the keys of its last seconds. One process at a time writes a
//! journal (an exclusive `flock`); another server on the same data dir keeps its keys in memory.

use super::ingest::IngestResponse;
use crate::serve::error::ApiError;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Keys remembered at most; the oldest go first past it.
const MAX_KEYS: usize = 100_000;

enum Entry {
    Running,
    Done(StatusCode, IngestResponse),
}

/// A request that [`Seen::begin`] let through: [`Claim::finish`] records its answer; dropped
/// unanswered (a panic on the way), it frees the key, so that a retry is processed.
pub struct Claim<'a> {
    seen: &'a Mutex<Seen>,
    key: Option<String>,
}

impl<'a> Claim<'a> {
    pub fn new(seen: &'a Mutex<Seen>, key: String) -> Self {
        Claim { seen, key: Some(key) }
    }

    /// Records the answer (journalled), or frees the key when the request failed.
    pub fn finish(mut self, outcome: Option<(StatusCode, IngestResponse)>) {
        if let Some(key) = self.key.take() {
            self.seen.lock().unwrap_or_else(|p| p.into_inner()).finish(&key, outcome);
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.seen.lock().unwrap_or_else(|p| p.into_inner()).finish(&key, None);
        }
    }
}

/// One journal line.
#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    /// When the first request with the key came, UTC microseconds.
    at: i64,
    status: u16,
    response: IngestResponse,
}

/// Idempotency keys seen recently.
pub struct Seen {
    ttl_micros: i64,
    entries: HashMap<String, (i64, Entry)>,
    order: VecDeque<(i64, String)>,
    journal: Option<Journal>,
}

struct Journal {
    path: PathBuf,
    file: File,
    lines: usize,
}

impl Seen {
    /// Keys in memory only: a restart forgets them.
    pub fn new(ttl: Duration) -> Self {
        let ttl_micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        Seen { ttl_micros, entries: HashMap::new(), order: VecDeque::new(), journal: None }
    }

    /// Keys journalled in `path` (created with its directory if missing), with those the journal
    /// holds from before `now` (UTC microseconds) within the TTL. Unreadable lines (a line torn
    /// by a crash) are skipped with a warning.
    pub fn open(ttl: Duration, path: &Path, now: i64) -> Result<Self, String> {
        let what = |e: std::io::Error| format!("the idempotency journal {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(what)?;
        }
        let file = OpenOptions::new().create(true).append(true).read(true).open(path).map_err(what)?;
        file.try_lock()
            .map_err(|e| format!("the idempotency journal {} is held by another process ({e})", path.display()))?;
        let mut seen = Seen::new(ttl);
        let mut lines: Vec<Line> = Vec::new();
        let mut skipped = 0;
        for line in BufReader::new(&file).lines() {
            match line.map_err(what).map(|l| serde_json::from_str::<Line>(&l)) {
                Ok(Ok(line)) => lines.push(line),
                Ok(Err(_)) => skipped += 1,
                Err(e) => return Err(e),
            }
        }
        if skipped > 0 {
            tracing::warn!(path = %path.display(), skipped, "skipped unreadable idempotency journal lines");
        }
        lines.sort_by_key(|l| l.at);
        for line in lines.into_iter().filter(|l| now.saturating_sub(l.at) < seen.ttl_micros) {
            let status = StatusCode::from_u16(line.status).unwrap_or(StatusCode::OK);
            seen.order.push_back((line.at, line.key.clone()));
            seen.entries.insert(line.key, (line.at, Entry::Done(status, line.response)));
        }
        seen.expire(now);
        seen.journal = Some(Journal { path: path.to_path_buf(), file, lines: 0 });
        seen.rewrite().map_err(what)?;
        Ok(seen)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: i64) {
        while let Some((at, key)) = self.order.front() {
            if now.saturating_sub(*at) < self.ttl_micros && self.order.len() <= MAX_KEYS {
                break;
            }
            if self.entries.get(key).is_some_and(|(t, _)| t == at) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }

    /// `Ok(None)`: first time, now marked running; `Ok(Some(..))`: the earlier answer.
    pub fn begin(&mut self, key: &str, now: i64) -> Result<Option<(StatusCode, IngestResponse)>, ApiError> {
        self.expire(now);
        match self.entries.get(key) {
            Some((_, Entry::Done(status, response))) => Ok(Some((*status, response.clone()))),
            Some((_, Entry::Running)) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "request_in_progress",
                "a request with this Idempotency-Key is still running; retry after it has been answered",
            )),
            None => {
                self.entries.insert(key.to_string(), (now, Entry::Running));
                self.order.push_back((now, key.to_string()));
                Ok(None)
            }
        }
    }

    /// Records the answer to the request that began with `key` (journalled), or forgets the key
    /// when it failed, so that a retry is processed.
    pub fn finish(&mut self, key: &str, outcome: Option<(StatusCode, IngestResponse)>) {
        let Some((status, response)) = outcome else {
            self.entries.remove(key);
            return;
        };
        let Some((at, entry)) = self.entries.get_mut(key) else { return };
        let line = Line { key: key.to_string(), at: *at, status: status.as_u16(), response };
        *entry = Entry::Done(status, line.response.clone());
        if let Err(error) = self.append(&line) {
            tracing::warn!(%error, "writing the idempotency journal: this key is kept in memory only");
        }
    }

    fn append(&mut self, line: &Line) -> std::io::Result<()> {
        let Some(journal) = self.journal.as_mut() else { return Ok(()) };
        let mut text = serde_json::to_vec(line)?;
        text.push(b'\n');
        journal.file.write_all(&text)?;
        journal.lines += 1;
        if journal.lines > 2 * self.entries.len() + 1000 {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Replaces the journal with the answers held now (written aside, fsynced, renamed over it).
    fn rewrite(&mut self) -> std::io::Result<()> {
        let Some(journal) = self.journal.as_mut() else { return Ok(()) };
        let aside = journal.path.with_extension("jsonl.new");
        let mut out = std::io::BufWriter::new(File::create(&aside)?);
        let mut lines = 0;
        for (at, key) in &self.order {
            if let Some((t, Entry::Done(status, response))) = self.entries.get(key)
                && t == at
            {
                let line = Line { key: key.clone(), at: *at, status: status.as_u16(), response: response.clone() };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                lines += 1;
            }
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&aside, &journal.path)?;
        if let Some(dir) = journal.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        journal.file = OpenOptions::new().append(true).open(&journal.path)?;
        journal.file.try_lock().map_err(std::io::Error::other)?;
        journal.lines = lines;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn answer(accepted: u64) -> Option<(StatusCode, IngestResponse)> {
        Some((StatusCode::OK, IngestResponse { accepted, rejected: 0, errors: vec![], duplicate: false }))
    }

    #[test]
    fn a_repeated_key_gets_the_first_answer_and_a_failed_one_is_forgotten() {
        let mut seen = Seen::new(Duration::from_secs(60));
        let t = 1_000 * SECOND;
        assert!(seen.begin("k", t).unwrap().is_none());
        assert_eq!(seen.begin("k", t).unwrap_err().code, "request_in_progress");
        seen.finish("k", answer(3));
        assert_eq!(seen.begin("k", t).unwrap().unwrap().1.accepted, 3);
        assert!(seen.begin("j", t).unwrap().is_none());
        seen.finish("j", None);
        assert!(seen.begin("j", t).unwrap().is_none(), "a failed request's key is free again");
        // Past the ttl a key is new again.
        assert!(seen.begin("k", t + 61 * SECOND).unwrap().is_none());
    }

    #[test]
    fn a_claim_dropped_unanswered_frees_its_key_and_a_finished_one_keeps_the_answer() {
        let seen = Mutex::new(Seen::new(Duration::from_secs(60)));
        assert!(seen.lock().unwrap().begin("k", 0).unwrap().is_none());
        drop(Claim::new(&seen, "k".into()));
        assert!(seen.lock().unwrap().begin("k", 0).unwrap().is_none(), "free again");
        Claim::new(&seen, "k".into()).finish(answer(2));
        assert_eq!(seen.lock().unwrap().begin("k", 0).unwrap().unwrap().1.accepted, 2);
    }

    #[test]
    fn answers_survive_a_restart_within_the_ttl_and_the_journal_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve/idempotency.jsonl");
        let ttl = Duration::from_secs(60);
        let t = 1_000 * SECOND;
        let mut seen = Seen::open(ttl, &path, t).unwrap();
        let held = Seen::open(ttl, &path, t).map(|_| ()).unwrap_err();
        assert!(held.contains("held by another process"), "{held}");
        for (key, n) in [("a", 1), ("b", 2)] {
            assert!(seen.begin(key, t).unwrap().is_none());
            seen.finish(key, answer(n));
        }
        assert!(seen.begin("running", t).unwrap().is_none(), "never answered: not journalled");
        assert!(seen.begin("failed", t + 30 * SECOND).unwrap().is_none());
        seen.finish("failed", None);
        assert!(seen.begin("late", t + 30 * SECOND).unwrap().is_none());
        seen.finish("late", answer(9));
        drop(seen);
        // A crash tore the last line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"key\":\"torn\",\"at\":").unwrap();

        let mut seen = Seen::open(ttl, &path, t + 10 * SECOND).unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen.begin("b", t + 10 * SECOND).unwrap().unwrap().1.accepted, 2);
        assert!(seen.begin("running", t + 10 * SECOND).unwrap().is_none());
        assert!(seen.begin("failed", t + 40 * SECOND).unwrap().is_none());
        drop(seen);
        // Past the ttl of the first two, only "late" is left, in the file too.
        let seen = Seen::open(ttl, &path, t + 70 * SECOND).unwrap();
        assert_eq!(seen.len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("\"late\""), "{text}");
    }

    #[test]
    fn the_journal_is_rewritten_when_most_of_its_lines_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idempotency.jsonl");
        let mut seen = Seen::open(Duration::from_secs(1), &path, 0).unwrap();
        for i in 0..3000i64 {
            let key = format!("k{i}");
            assert!(seen.begin(&key, i * SECOND).unwrap().is_none());
            seen.finish(&key, answer(1));
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 1002, "stale keys are dropped from the journal, {lines} lines");
        drop(seen);
        let seen = Seen::open(Duration::from_secs(1), &path, 2999 * SECOND).unwrap();
        assert_eq!(seen.len(), 1);
    }
}
