//! The generator's durable state, `<data-dir>/generator/state.json`: the parameters, the
//! [`Cursor`] (seed, counters, start and resume point) and where the events went.
//!
//! It is written only after the sink acknowledged every event it describes (the producer's flush
//! returned, or the output files were flushed and fsynced), atomically: a temporary file is
//! written and fsynced, renamed over the old one, and the directory fsynced. A crash therefore
//! leaves either the previous or the new state, and both describe only acknowledged events. Events
//! sent after the last state write may or may not have reached the bus; a resumed run sends them
//! again (at-least-once towards the bus). For files the state also records the acknowledged
//! length of each file, and a resume cuts the files back to it, so a file run is exactly-once.

use super::{Cursor, GenerateError, Params, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the state file layout.
pub const STATE_VERSION: u32 = 1;

/// Where the described events went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkState {
    /// Topics `transactions` and `clickstream` of the data dir's bus.
    Bus,
    /// JSON-lines files, with the acknowledged length of each.
    Files { transactions: PathBuf, clickstream: PathBuf, transactions_bytes: u64, clickstream_bytes: u64 },
}

impl SinkState {
    /// Whether a resume into `other` continues the same output.
    pub fn same_target(&self, other: &SinkState) -> bool {
        match (self, other) {
            (SinkState::Bus, SinkState::Bus) => true,
            (SinkState::Files { transactions: a, .. }, SinkState::Files { transactions: b, .. }) => {
                let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
                canon(a) == canon(b)
            }
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SinkState::Bus => "the bus".to_string(),
            SinkState::Files { transactions, .. } => format!("--out {}", transactions.display()),
        }
    }
}

/// The contents of `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorState {
    pub version: u32,
    pub params: Params,
    pub cursor: Cursor,
    pub sink: SinkState,
}

impl GeneratorState {
    pub fn new(params: Params, cursor: Cursor, sink: SinkState) -> Self {
        GeneratorState { version: STATE_VERSION, params, cursor, sink }
    }

    /// `<data-dir>/generator/state.json`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("generator").join("state.json")
    }

    /// The stored state, `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<GeneratorState>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(GenerateError::io(path)(e)),
        };
        let state: GeneratorState = serde_json::from_str(&text).map_err(|e| GenerateError::State {
            path: path.to_path_buf(),
            why: format!("unreadable ({e}); delete it to start over"),
        })?;
        if state.version != STATE_VERSION {
            return Err(GenerateError::State {
                path: path.to_path_buf(),
                why: format!("version {} is not {STATE_VERSION}; delete it to start over", state.version),
            });
        }
        Ok(Some(state))
    }

    /// Replaces the stored state atomically and durably.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(GenerateError::io(dir))?;
        let tmp = path.with_extension("json.tmp");
        let mut file = File::create(&tmp).map_err(GenerateError::io(&tmp))?;
        let mut text = serde_json::to_vec_pretty(self).expect("state serializes");
        text.push(b'\n');
        file.write_all(&text).map_err(GenerateError::io(&tmp))?;
        file.sync_all().map_err(GenerateError::io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(GenerateError::io(path))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(GenerateError::io(dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Counts, EventKey};
    use crate::model::Timestamp;

    #[test]
    fn state_round_trips_bit_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = GeneratorState::path(dir.path());
        assert_eq!(GeneratorState::load(&path).unwrap(), None);
        let mut params = Params::defaults();
        params.fraud_rate = 0.1 + 0.2; // not a short decimal
        let cursor = Cursor {
            counts: Counts { transactions: 5, clicks: 70, fraud: 1 },
            resume_episode: 17,
            resume_start: Timestamp::from_micros(1_735_689_600_123_456),
            last: Some(EventKey { time: Timestamp::from_micros(1_735_689_700_000_001), episode: 20, seq: 3 }),
        };
        let state = GeneratorState::new(params, cursor, SinkState::Bus);
        state.save(&path).unwrap();
        let back = GeneratorState::load(&path).unwrap().unwrap();
        assert_eq!(back, state);
        assert_eq!(back.params.fraud_rate.to_bits(), (0.1f64 + 0.2).to_bits());
        std::fs::write(&path, "{").unwrap();
        assert!(GeneratorState::load(&path).unwrap_err().to_string().contains("delete it"));
    }
}
