//! Looking after the lake: listing its tables, compacting small files, deleting unreferenced ones.
//!
//! Tables are found by listing `<root>/<layer>/` through the object store, so this works the same
//! on a local directory and on object storage. A directory counts as a table when it has a
//! `_delta_log`.
//!
//! `optimize` rewrites each partition's small files into files of about the target size in one
//! commit (zstd-compressed, as delta-rs does); rows and application transactions are unchanged.
//! `vacuum` runs delta-rs's *full* vacuum: it deletes every data file that the latest version does
//! not reference and that is older than the retention, i.e. files removed by optimize and files
//! staged by an epoch that was never committed. See [`crate::sink`] for why the retention must
//! exceed the longest time between staging an epoch and committing it.

use super::error::{LakeError, Result};
use super::lake::{Lake, Layer, TableInfo};
use deltalake::logstore::object_store::path::Path as StorePath;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::{DeltaTable, DeltaTableBuilder, ObjectStore, ObjectStoreError};
use serde::Serialize;
use std::num::NonZeroU64;
use std::time::Duration;

/// What `optimize` did to one table.
#[derive(Clone, Debug, Serialize)]
pub struct OptimizeReport {
    pub table: String,
    pub files_removed: u64,
    pub files_added: u64,
    /// The version after optimizing (unchanged when there was nothing to compact).
    pub version: u64,
}

/// What `vacuum` deleted (or would delete, in a dry run) in one table.
#[derive(Clone, Debug, Serialize)]
pub struct VacuumReport {
    pub table: String,
    pub dry_run: bool,
    /// Paths relative to the table root.
    pub files: Vec<String>,
}

impl Lake {
    /// Every Delta table under the root, bronze first, then silver, then gold, by name.
    pub fn tables(&self) -> Result<Vec<TableInfo>> {
        self.block_on(async {
            let mut found = Vec::new();
            for (layer, name) in self.table_names().await? {
                let table = self.load(layer, &name).await?;
                found.push(info(layer, &name, &table)?);
            }
            Ok(found)
        })
    }

    /// `(layer, name)` of every directory holding a Delta log.
    pub(super) async fn table_names(&self) -> Result<Vec<(Layer, String)>> {
        let store = DeltaTableBuilder::from_url(self.root().clone())
            .and_then(|b| b.build_storage())
            .map_err(|e| LakeError::Location { location: self.root().to_string(), message: e.to_string() })?
            .object_store(None);
        let storage = |source| LakeError::storage(self.root().to_string(), source);
        let mut names = Vec::new();
        for layer in Layer::ALL {
            let listing = match store.list_with_delimiter(Some(&StorePath::from(layer.as_str()))).await {
                Ok(listing) => listing,
                Err(ObjectStoreError::NotFound { .. }) => continue,
                Err(source) => return Err(storage(source)),
            };
            let mut layer_names = Vec::new();
            for prefix in listing.common_prefixes {
                let Some(name) = prefix.filename().map(str::to_string) else { continue };
                let log = prefix.clone().join("_delta_log");
                match store.list_with_delimiter(Some(&log)).await {
                    Ok(entries) if !entries.objects.is_empty() => layer_names.push(name),
                    Ok(_) | Err(ObjectStoreError::NotFound { .. }) => {}
                    Err(source) => return Err(storage(source)),
                }
            }
            layer_names.sort();
            names.extend(layer_names.into_iter().map(|n| (layer, n)));
        }
        Ok(names)
    }

    pub(super) async fn load(&self, layer: Layer, name: &str) -> Result<DeltaTable> {
        let id = format!("{layer}/{name}");
        let url = self.table_url(layer, name)?;
        let mut table = DeltaTableBuilder::from_url(url)
            .and_then(|b| b.build())
            .map_err(|e| LakeError::delta(id.as_str(), "locating", e))?;
        table.load().await.map_err(|e| LakeError::delta(id.as_str(), "loading", e))?;
        Ok(table)
    }

    /// The tables named `only` (by SQL name), or all of them.
    async fn select(&self, only: Option<&str>) -> Result<Vec<(Layer, String)>> {
        let names = self.table_names().await?;
        let Some(wanted) = only else { return Ok(names) };
        let chosen: Vec<_> = names.iter().filter(|(l, n)| l.sql_name(n) == wanted).cloned().collect();
        if chosen.is_empty() {
            return Err(LakeError::UnknownTable {
                name: wanted.to_string(),
                location: self.root().to_string(),
                known: names.iter().map(|(l, n)| l.sql_name(n)).collect(),
            });
        }
        Ok(chosen)
    }

    /// Compacts small files of one table (`only`, by SQL name) or of every table.
    pub fn optimize(&self, only: Option<&str>, target_size: u64) -> Result<Vec<OptimizeReport>> {
        let target = NonZeroU64::new(target_size).unwrap_or(NonZeroU64::MIN);
        self.block_on(async {
            let mut reports = Vec::new();
            for (layer, name) in self.select(only).await? {
                let table = self.load(layer, &name).await?;
                let (table, metrics) = table
                    .optimize()
                    .with_target_size(target)
                    .await
                    .map_err(|e| LakeError::delta(format!("{layer}/{name}"), "optimizing", e))?;
                reports.push(OptimizeReport {
                    table: layer.sql_name(&name),
                    files_removed: metrics.num_files_removed,
                    files_added: metrics.num_files_added,
                    version: table.version().unwrap_or_default(),
                });
            }
            Ok(reports)
        })
    }

    /// Deletes, in every table, data files not referenced by the latest version and older than
    /// `retention`; with `dry_run` only lists them.
    pub fn vacuum(&self, retention: Duration, dry_run: bool) -> Result<Vec<VacuumReport>> {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        self.block_on(async {
            let mut reports = Vec::new();
            for (layer, name) in self.select(None).await? {
                let table = self.load(layer, &name).await?;
                let (_, metrics) = table
                    .vacuum()
                    .with_mode(VacuumMode::Full)
                    .with_retention_period(retention)
                    .with_enforce_retention_duration(false)
                    .with_dry_run(dry_run)
                    .await
                    .map_err(|e| LakeError::delta(format!("{layer}/{name}"), "vacuuming", e))?;
                let mut files = metrics.files_deleted;
                files.sort();
                reports.push(VacuumReport { table: layer.sql_name(&name), dry_run, files });
            }
            Ok(reports)
        })
    }

    /// Opens every table for reading, with its SQL name.
    pub(crate) async fn load_all(&self) -> Result<Vec<(String, DeltaTable)>> {
        let mut tables = Vec::new();
        for (layer, name) in self.table_names().await? {
            tables.push((layer.sql_name(&name), self.load(layer, &name).await?));
        }
        Ok(tables)
    }
}

fn info(layer: Layer, name: &str, table: &DeltaTable) -> Result<TableInfo> {
    let id = format!("{layer}/{name}");
    let snapshot = table.snapshot().map_err(|e| LakeError::delta(id.as_str(), "reading", e))?;
    let (mut files, mut bytes, mut rows) = (0u64, 0u64, Some(0u64));
    for file in snapshot.log_data().iter() {
        files += 1;
        bytes += u64::try_from(file.size()).unwrap_or(0);
        rows = rows.zip(file.num_records()).map(|(sum, n)| sum + n as u64);
    }
    Ok(TableInfo {
        sql_name: layer.sql_name(name),
        layer,
        name: name.to_string(),
        location: table.table_url().to_string(),
        version: snapshot.version(),
        files,
        bytes,
        rows,
    })
}
