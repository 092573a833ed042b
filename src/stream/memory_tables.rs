//! In-memory [`Tables`] with the lake's commit rules: staged rows invisible until committed,
//! one commit per table and epoch (a repeated epoch is a no-op). The "lake" outlives processor
//! instances, so tests can restart a processor over it as after a crash.

use super::committer::{Staged, TableError, Tables};
use super::outputs::{Outputs, RowSink};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default, Debug)]
pub struct MemoryLake {
    /// Committed rows per table, as JSON.
    pub committed: BTreeMap<String, Vec<serde_json::Value>>,
    /// Highest epoch committed per (table, app id).
    pub versions: BTreeMap<(String, String), u64>,
    /// Staged rows by stage id.
    staged: BTreeMap<String, Vec<serde_json::Value>>,
    next_id: u64,
    /// Fail the commit of this epoch once (to simulate a crash after the checkpoint).
    pub fail_commit_of: Option<u64>,
}

/// One processor's handle on a shared [`MemoryLake`].
#[derive(Clone, Default)]
pub struct MemoryTables {
    pub lake: Arc<Mutex<MemoryLake>>,
    buffer: BTreeMap<&'static str, Vec<serde_json::Value>>,
}

impl MemoryTables {
    pub fn new(lake: Arc<Mutex<MemoryLake>>) -> Self {
        MemoryTables { lake, buffer: BTreeMap::new() }
    }

    fn lake(&self) -> MutexGuard<'_, MemoryLake> {
        self.lake.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RowSink for BTreeMap<&'static str, Vec<serde_json::Value>> {
    type Error = TableError;

    fn rows<T: Serialize>(&mut self, table: &'static str, rows: &[T]) -> Result<(), TableError> {
        let buffer = self.entry(table).or_default();
        for row in rows {
            let value = serde_json::to_value(row).map_err(|e| TableError {
                table: table.into(),
                message: e.to_string(),
                retryable: false,
            })?;
            buffer.push(value);
        }
        Ok(())
    }
}

impl Tables for MemoryTables {
    fn write(&mut self, outputs: &Outputs) -> Result<(), TableError> {
        outputs.each_table(&mut self.buffer)
    }

    fn stage(&mut self) -> Result<Staged, TableError> {
        let buffer = std::mem::take(&mut self.buffer);
        let mut lake = self.lake();
        let mut staged = Staged::new();
        for (table, rows) in buffer {
            lake.next_id += 1;
            let id = format!("stage-{}", lake.next_id);
            lake.staged.insert(id.clone(), rows);
            staged.insert(table.to_string(), id);
        }
        Ok(staged)
    }

    fn commit(&mut self, app_id: &str, epoch: u64, staged: &Staged) -> Result<(), TableError> {
        let mut lake = self.lake();
        if lake.fail_commit_of == Some(epoch) {
            lake.fail_commit_of = None;
            return Err(TableError {
                table: "*".into(),
                message: format!("injected failure at epoch {epoch}"),
                retryable: true,
            });
        }
        for (table, id) in staged {
            let key = (table.clone(), app_id.to_string());
            if lake.versions.get(&key).is_some_and(|&v| v >= epoch) {
                continue;
            }
            let rows = lake.staged.get(id).cloned().ok_or_else(|| TableError {
                table: table.clone(),
                message: format!("staged files {id} are gone"),
                retryable: false,
            })?;
            lake.committed.entry(table.clone()).or_default().extend(rows);
            lake.versions.insert(key, epoch);
        }
        Ok(())
    }
}

/// Tables that drop every row (benchmarks of the processing itself).
#[derive(Clone, Copy, Default)]
pub struct NullTables;

impl Tables for NullTables {
    fn write(&mut self, _outputs: &Outputs) -> Result<(), TableError> {
        Ok(())
    }

    fn stage(&mut self) -> Result<Staged, TableError> {
        Ok(Staged::new())
    }

    fn commit(&mut self, _app_id: &str, _epoch: u64, _staged: &Staged) -> Result<(), TableError> {
        Ok(())
    }
}
