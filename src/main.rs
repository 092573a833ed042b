//! The `streamify` binary: parse the command line, run, map errors to exit codes.

/// mimalloc: rows are built on the processing thread and freed on the committer thread, a pattern
/// glibc's malloc serves slowly (see `Cargo.toml`).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    streamify::cli::main()
}
