//! Consumer lag for status lines, the dashboard and `/metrics`: the embedded log's end offsets,
//! read on a thread of their own four times a second (whichever process writes the log), against
//! the read positions in each processor status. A reading is at most about 250 ms old, so the lag
//! shown can be low by what arrived since; it is never negative.

use crate::bus::log::{EndOffsets, Ends, lag};
use crate::stream::runtime::{Status, TOPICS};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(250);

/// Reads the log's end offsets until dropped.
pub struct LagMeter {
    ends: Arc<Mutex<Option<Ends>>>,
    stop: Arc<AtomicBool>,
}

impl LagMeter {
    pub fn start(log_dir: &Path) -> Self {
        let ends = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped, mut reader) = (ends.clone(), stop.clone(), EndOffsets::new(log_dir, &TOPICS));
        let spawned = std::thread::Builder::new().name("lag-meter".into()).spawn(move || {
            let mut warned = false;
            while !stopped.load(Ordering::Relaxed) {
                let reading = match reader.read() {
                    Ok(ends) => Some(ends),
                    Err(error) => {
                        if !std::mem::replace(&mut warned, true) {
                            tracing::warn!(%error, "reading the log's end offsets: consumer lag is not shown");
                        }
                        None
                    }
                };
                *shared.lock().unwrap_or_else(|p| p.into_inner()) = reading;
                std::thread::sleep(EVERY);
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "could not start the lag meter: consumer lag is not shown");
        }
        LagMeter { ends, stop }
    }

    /// Records in the log that the processor of `status` has not read yet, once the log has been
    /// read.
    pub fn lag(&self, status: &Status) -> Option<u64> {
        let ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        ends.as_ref().map(|ends| lag(ends, &status.positions))
    }
}

impl Drop for LagMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
