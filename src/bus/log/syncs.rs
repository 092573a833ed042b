//! The fsyncs of one flush, side by side on long-lived threads.
//!
//! A flush that touched several partitions fsyncs them in parallel: the file system folds
//! concurrent fsyncs into fewer journal commits, so N partitions cost far less than N fsyncs
//! one after another. The threads doing it are a small pool kept for the life of the process.
//! A thread spawned per fsync (as before) cost a stack mapped and unmapped each time: at a few
//! hundred flushes a second that was over a thousand threads a second, whose mapping work and
//! scheduling stalled the processing thread of the same process (`streamify bench --only
//! latency`, seen with `perf sched timehist`).
//!
//! The caller runs one of the fsyncs itself and waits for the rest; the first error wins. If
//! the pool cannot start a thread, the caller runs the fsyncs itself, one after another.

use super::partition::PendingSync;
use crate::bus::{BusError, Result};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

/// Threads in the pool: enough for every partition of the default topics at once.
const THREADS: usize = 8;
/// An fsync needs little stack.
const STACK: usize = 64 * 1024;

type Job = (PendingSync, Sender<Result<()>>);

/// Runs `syncs`, in parallel when there are several; the first error wins.
pub(crate) fn run(mut syncs: Vec<PendingSync>) -> Result<()> {
    let Some(last) = syncs.pop() else { return Ok(()) };
    if syncs.is_empty() {
        return last.run();
    }
    let Some(pool) = pool() else {
        return syncs.into_iter().fold(last.run(), |result, sync| result.and(sync.run()));
    };
    let (reply, replies) = channel();
    let mut sent = 0;
    let mut result = Ok(());
    for sync in syncs {
        let job = (sync, reply.clone());
        match super::lock(pool).send(job) {
            Ok(()) => sent += 1,
            // No worker is left to take it (they only stop if one panicked): run it here.
            Err(returned) => result = result.and(returned.0.0.run()),
        }
    }
    drop(reply);
    result = result.and(last.run());
    for _ in 0..sent {
        let r = replies.recv().unwrap_or_else(|_| Err(BusError::Unavailable("an fsync thread panicked".into())));
        result = result.and(r);
    }
    result
}

/// The pool's queue, its threads started on first use; `None` if none could be started.
fn pool() -> Option<&'static Mutex<Sender<Job>>> {
    static POOL: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let started = (0..THREADS).filter(|_| spawn(queue.clone())).count();
        if started == 0 {
            tracing::warn!("could not start fsync threads; the log fsyncs partitions one after another");
            return None;
        }
        Some(Mutex::new(jobs))
    })
    .as_ref()
}

fn spawn(queue: Arc<Mutex<Receiver<Job>>>) -> bool {
    std::thread::Builder::new()
        .name("log-fsync".into())
        .stack_size(STACK)
        .spawn(move || {
            loop {
                let job = super::lock(&queue).recv();
                let Ok((sync, reply)) = job else { return };
                let _ = reply.send(sync.run());
            }
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::log::partition::PendingSync;

    fn pending(dir: &std::path::Path, name: &str) -> PendingSync {
        let path = dir.join(name);
        std::fs::write(&path, name).unwrap();
        PendingSync::open(&path).unwrap()
    }

    #[test]
    fn every_sync_runs_and_the_pool_keeps_its_threads() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..50 {
            let syncs = (0..5).map(|i| pending(dir.path(), &format!("{round}-{i}"))).collect();
            run(syncs).unwrap();
        }
        let fsync_threads = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|t| {
                let comm = std::fs::read_to_string(t.as_ref().unwrap().path().join("comm")).unwrap_or_default();
                comm.trim_end() == "log-fsync"
            })
            .count();
        assert_eq!(fsync_threads, THREADS, "250 parallel fsyncs ran on the pool's threads, none spawned for them");
    }

    #[test]
    fn a_failing_sync_fails_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let mut syncs: Vec<_> = (0..3).map(|i| pending(dir.path(), &format!("ok-{i}"))).collect();
        syncs.insert(1, PendingSync::failing());
        let error = run(syncs).unwrap_err();
        assert!(error.to_string().contains("fsync-test"), "{error}");
    }
}
