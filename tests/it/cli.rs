//! The command line as a user meets it: validation, exit codes, global flags.

use crate::harness::{Sandbox, streamify};

#[test]
fn validate_passes_on_the_embedded_defaults() {
    let sb = Sandbox::new();
    let out = sb.run(&["validate"]).success();
    assert!(out.stdout.contains("does not exist yet"), "{}", out.stdout);
    assert!(out.stdout.contains("ok: configuration"), "{}", out.stdout);
}

#[test]
fn validate_lists_every_problem_at_once_and_exits_78() {
    let sb = Sandbox::new();
    let file = sb.path().join("streamify.toml");
    std::fs::write(&file, "[bus]\npartitions = 0\nspeed = 3\n[generate]\nfraud_rate = 1.5\n[nonsense]\nx = 1\n")
        .unwrap();
    let out = sb
        .command(&["validate", "--config", file.to_str().unwrap()])
        .env("STREAMIFY__PRIVACY__EMAIL_KEY", "short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    for expected in [
        "bus.partitions = 0",
        "unknown setting `bus.speed`",
        "generate.fraud_rate = 1.5",
        "unknown section `[nonsense]`",
        "privacy.email_key",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn validate_json_report_is_machine_readable() {
    let sb = Sandbox::new();
    let out = sb.command(&["validate", "--json"]).env("STREAMIFY__BUS__PARTITIONS", "none").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert!(report["problems"][0].as_str().unwrap().contains("[bus]"), "{report}");
}

#[test]
fn data_dir_is_accepted_before_or_after_the_subcommand() {
    let sb = Sandbox::new();
    let dir = sb.path().join("elsewhere");
    let before = streamify().arg("--data-dir").arg(&dir).arg("validate").output().unwrap();
    let after = streamify().arg("validate").arg("--data-dir").arg(&dir).output().unwrap();
    for out in [before, after] {
        assert!(String::from_utf8_lossy(&out.stdout).contains(dir.to_str().unwrap()));
    }
}

#[test]
fn other_commands_refuse_a_bad_config_with_78() {
    let sb = Sandbox::new();
    let out = sb.command(&["log", "stats"]).env("STREAMIFY__BUS__LOG__FSYNC", "sometimes").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[bus]"));
}

#[test]
fn bench_memory_runs_a_child_processor_and_reports_its_state_and_peak_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = streamify()
        .current_dir(dir.path())
        .args(["bench", "--only", "memory", "--memory-customers", "500", "--runs", "1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let memory = &figures["memory"];
    assert_eq!(memory["transactions"], 1500);
    let customers = memory["customers_in_state"].as_u64().unwrap();
    assert!((100..=500).contains(&customers), "{memory}");
    assert!(memory["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{memory}");
    assert!(memory["largest_checkpoint_bytes"].as_u64().unwrap() > 0, "{memory}");
    assert!(memory["restart_seconds"].as_f64().unwrap() > 0.0, "{memory}");
}
