//! Thread priorities: work nobody waits for yields the CPU to the work somebody does.
//!
//! One processing thread computes everything, and the committer thread lands its outputs at normal
//! priority (the processing thread waits for it once the hand-over queue is full). On a small
//! machine, background work would otherwise compete with both and with the server's requests, and
//! show up as stalls in the event -> alert latency and in read latency. A lowered thread still gets
//! every cycle the others leave.

/// Encoding a checkpoint.
pub const BACKGROUND: i32 = 10;
/// The server's lake queries: below everything else, the committer included.
pub const LOWEST: i32 = 19;

/// Sets the calling thread's nice value (0 to 19: higher yields more). Failure only costs
/// latency, so it is logged.
pub fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::debug!(%error, "could not lower the thread's priority");
    }
}
