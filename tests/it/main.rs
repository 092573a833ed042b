//! The integration tests: one binary, one module per feature. They run the real `streamify`
//! binary against temporary data dirs.

mod browser;
mod cli;
mod generate;
mod harness;
mod ingest;
mod lake;
mod log_crash;
mod process;
mod serve;
mod serve_auth;
mod serve_disk_full;
mod serve_read;
