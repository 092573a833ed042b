//! `streamify generate` end to end through the real binary: `--out` files are byte-identical
//! for the same seed, and a stopped run resumed with `--resume` equals one longer run.

use std::path::Path;
use std::process::Command;

fn generate(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_streamify"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("generate")
        .args(args)
        .arg("--json")
        // The embedded defaults only: no user config or environment overrides.
        .env_remove("STREAMIFY_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run streamify");
    assert!(out.status.success(), "streamify generate failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON summary on stdout")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn out_files_are_byte_identical_for_the_same_seed() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut summaries = Vec::new();
    for dir in [&a, &b] {
        let out = dir.path().join("shop.jsonl");
        summaries.push(generate(dir.path(), &["--events", "300", "--seed", "7", "--out", out.to_str().unwrap()]));
    }
    for name in ["shop.jsonl", "shop.clickstream.jsonl"] {
        let (x, y) = (read(&a.path().join(name)), read(&b.path().join(name)));
        assert!(!x.is_empty(), "{name} is empty");
        assert!(x == y, "{name} differs between two runs of seed 7");
    }
    let s = &summaries[0];
    assert_eq!(s["transactions"], 300);
    assert_eq!(s["seed"], 7);
    assert_eq!(s["counter"], 300);
    let lines = read(&a.path().join("shop.jsonl")).iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, 300);
    let clicks = read(&a.path().join("shop.clickstream.jsonl")).iter().filter(|b| **b == b'\n').count();
    assert_eq!(s["clickstream"], clicks as u64);
    for key in ["fraud", "seconds", "events_per_second"] {
        assert!(s[key].is_number(), "{key} missing from {s}");
    }
}

#[test]
fn resumed_out_run_equals_one_longer_run() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = one.path().join("t.jsonl");
    generate(one.path(), &["--events", "250", "--seed", "9", "--out", whole.to_str().unwrap()]);
    let parts = two.path().join("t.jsonl");
    generate(two.path(), &["--events", "100", "--seed", "9", "--out", parts.to_str().unwrap()]);
    let s = generate(two.path(), &["--events", "150", "--resume", "--out", parts.to_str().unwrap()]);
    assert_eq!(
        (s["transactions"].as_u64(), s["counter"].as_u64(), s["seed"].as_u64()),
        (Some(150), Some(250), Some(9))
    );
    for name in ["t.jsonl", "t.clickstream.jsonl"] {
        assert!(read(&one.path().join(name)) == read(&two.path().join(name)), "{name} differs after resume");
    }
}

#[test]
fn resume_refuses_a_different_seed_or_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    generate(dir.path(), &["--events", "5", "--seed", "3", "--out", out.to_str().unwrap()]);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_streamify"))
            .arg("--data-dir")
            .arg(dir.path())
            .arg("generate")
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--events", "5", "--resume", "--seed", "4", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--seed"), "{}", String::from_utf8_lossy(&o.stderr));
    let other = dir.path().join("other.jsonl");
    let o = run(&["--events", "5", "--resume", "--out", other.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("same target"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bus_runs_with_the_same_seed_give_identical_logs_and_exact_counts() {
    let (a, b) = (crate::harness::Sandbox::new(), crate::harness::Sandbox::new());
    let summary = a.run(&["generate", "--events", "3000", "--seed", "42", "--json"]).success().json();
    b.run(&["generate", "--events", "3000", "--seed", "42", "--json"]).success();
    assert_eq!(summary["transactions"], 3000);

    let stats = a.run(&["log", "stats", "--json"]).success().json();
    assert_eq!(stats["topics"]["transactions"]["records"], 3000, "{stats}");
    assert_eq!(stats["topics"]["clickstream"]["records"], summary["clickstream"], "{stats}");
    assert!(summary["clickstream"].as_u64().unwrap() > 3000, "sessions produce clicks: {summary}");

    let (x, y) = (
        crate::harness::files_under(&a.data_dir().join("log")),
        crate::harness::files_under(&b.data_dir().join("log")),
    );
    assert!(x.keys().any(|k| k.ends_with(".log")), "segments exist: {:?}", x.keys());
    assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
    for (name, bytes) in &x {
        assert!(bytes == &y[name], "{name} differs between two runs of seed 42");
    }
}

#[test]
fn a_resumed_bus_run_continues_the_sequence() {
    let (whole, parts) = (crate::harness::Sandbox::new(), crate::harness::Sandbox::new());
    whole.run(&["generate", "--events", "900", "--seed", "5", "--json"]).success();
    parts.run(&["generate", "--events", "400", "--seed", "5", "--json"]).success();
    parts.run(&["generate", "--events", "500", "--resume", "--json"]).success();
    let (x, y) = (
        crate::harness::files_under(&whole.data_dir().join("log")),
        crate::harness::files_under(&parts.data_dir().join("log")),
    );
    for (name, bytes) in x.iter().filter(|(n, _)| n.ends_with(".log")) {
        assert!(bytes == &y[name], "{name} differs between one run of 900 and 400 + resumed 500");
    }
}
