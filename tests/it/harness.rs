//! A small harness: run the real binary with a temporary data dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary data dir and the commands run against it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `streamify --data-dir <sandbox>/data ARGS`, with no STREAMIFY_* variables inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = streamify();
        cmd.arg("--data-dir").arg(self.data_dir()).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        Outcome::from(self.command(args).output().expect("streamify runs"))
    }
}

/// The binary under test, with a clean environment for its own settings.
pub fn streamify() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamify"));
    for (key, _) in std::env::vars() {
        if key.starts_with("STREAMIFY") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// A finished run.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(out: Output) -> Self {
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Panics with both streams unless the run exited 0.
    pub fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[allow(dead_code)] // used by the feature modules
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// Every file under `dir`, by path relative to it, with its bytes.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(path.strip_prefix(dir).unwrap_or(&path).display().to_string(), bytes);
            }
        }
    }
    out
}
