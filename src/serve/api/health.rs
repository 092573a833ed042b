//! `GET /healthz` (the process answers) and `GET /readyz` (what this process runs is working:
//! the bus it ingests into, the lake it reads, the processor it hosts).
//!
//! The lake is ready when every table's newest commit can be read and parsed (what a read of the
//! table starts with), and, where this process writes the lake, a file can be created in it. A
//! lake not created yet is ready where its parent directory exists: the first commit creates it.

use crate::serve::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A processor that has not reported for this long is not ready.
const REPORT_WITHIN: Duration = Duration::from_secs(15);

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a check failed.
    pub status: &'static str,
    /// Per component: `ok`, `absent` (not run by this process) or what is wrong.
    pub checks: std::collections::BTreeMap<&'static str, String>,
}

/// Liveness: the server answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", checks: Default::default() })
}

/// Readiness: the bus, the lake and the processor this process runs are working.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut checks = std::collections::BTreeMap::new();
    let mut ok = true;
    let mut set = |name, result: Result<&str, String>| {
        ok &= result.is_ok();
        checks.insert(name, result.map_or_else(|e| e, str::to_string));
    };
    set("bus", state.ingest.as_ref().map_or(Ok("absent"), |ingest| ingest.health().map(|()| "ok")));
    let (dir, writes) = (state.lake_dir.clone(), state.with_processor);
    let lake = tokio::task::spawn_blocking(move || lake_health(&dir, writes)).await;
    set("lake", lake.unwrap_or_else(|e| Err(format!("the lake check failed: {e}"))));
    let processor = if state.with_processor {
        match state.live.health() {
            (true, Some(age)) if age <= REPORT_WITHIN => Ok("ok"),
            (true, Some(age)) => Err(format!("no report for {} s", age.as_secs())),
            (_, None) => Err("starting".to_string()),
            (false, Some(_)) => Err("stopped".to_string()),
        }
    } else {
        Ok("absent")
    };
    set("processor", processor);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Health { status: if ok { "ok" } else { "unavailable" }, checks })).into_response()
}

/// `Ok` when the lake at `dir` can be read (and written, with `writes`); otherwise what is wrong.
fn lake_health(dir: &Path, writes: bool) -> Result<&'static str, String> {
    if !dir.is_dir() {
        return match dir.parent() {
            Some(parent) if parent.is_dir() => Ok("ok"),
            _ => Err(format!("the lake's directory {} is missing", dir.display())),
        };
    }
    if writes {
        let probe = dir.join(format!(".readyz-{}", std::process::id()));
        std::fs::write(&probe, b"ready?")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| format!("cannot write in the lake's directory {}: {e}", dir.display()))?;
    }
    for layer in subdirs(dir)? {
        for table in subdirs(&layer)? {
            let log = table.join("_delta_log");
            if log.is_dir() {
                newest_commit_parses(&log)?;
            }
        }
    }
    Ok("ok")
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    Ok(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
}

/// The table's newest commit (`<version>.json`, one action per line) reads and parses.
fn newest_commit_parses(log: &Path) -> Result<(), String> {
    let newest = std::fs::read_dir(log)
        .map_err(|e| format!("cannot list the table log {}: {e}", log.display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let version = name.to_str()?.strip_suffix(".json")?.parse::<u64>().ok()?;
            Some((version, e.path()))
        })
        .max();
    let Some((_, path)) = newest else { return Ok(()) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        serde_json::from_str::<serde::de::IgnoredAny>(line)
            .map_err(|e| format!("{} line {} is not a Delta action: {e}", path.display(), n + 1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lake_is_ready_until_a_table_log_is_unreadable() {
        let data = tempfile::tempdir().unwrap();
        let lake = data.path().join("lake");
        assert_eq!(lake_health(&lake, true), Ok("ok"), "not created yet");
        assert!(lake_health(&data.path().join("gone/lake"), false).unwrap_err().contains("missing"));
        let log = lake.join("silver/silver_transactions/_delta_log");
        std::fs::create_dir_all(&log).unwrap();
        std::fs::write(log.join("00000000000000000000.json"), "{\"protocol\":{}}\n{\"metaData\":{}}\n").unwrap();
        std::fs::write(log.join("00000000000000000001.json"), "{\"add\":{}}\n").unwrap();
        assert_eq!(lake_health(&lake, true), Ok("ok"));
        assert!(
            std::fs::read_dir(&lake)
                .unwrap()
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().starts_with(".readyz"))
        );
        // A torn newest commit: named, with its line.
        std::fs::write(log.join("00000000000000000002.json"), "{\"add\":{}}\n{\"add\":").unwrap();
        let error = lake_health(&lake, false).unwrap_err();
        assert!(error.contains("00000000000000000002.json line 2"), "{error}");
    }
}
