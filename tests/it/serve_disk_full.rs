//! A full disk, for real: `streamify run` with its log on a 2 MiB tmpfs mounted in a private mount
//! namespace (`unshare --mount`, util-linux; the test machine runs tests as root). When the log
//! fills, ingest answers 503 with `Retry-After` and takes nothing of the refused request; the
//! server stays up while the processor waits; once the file system grows (`nsenter` + remount, as
//! an operator would add space) the retried request is accepted and every acknowledged transaction
//! lands in silver exactly once.

use crate::harness::Sandbox;
use crate::serve::{Http, Running, eventually};
use std::process::Command;

const BATCH: usize = 500;

/// Transactions `first..first + BATCH`; every tenth scores CRITICAL, so the processor writes
/// alerts to the same full log.
fn batch(first: usize) -> String {
    (first..first + BATCH)
        .map(|i| {
            let fraud = i % 10 == 0;
            serde_json::json!({
                "transaction_id": format!("full-{i}"), "user_id": i % 97, "merchant": "disk-merchant",
                "amount": if fraud { 7500.0 } else { 42.5 }, "is_fraud": fraud,
                "payment_method": if fraud { "crypto" } else { "credit_card" },
                "location": if fraud { "Lagos, Nigeria" } else { "Berlin, Germany" },
                "timestamp": "2026-01-01T12:00:00Z", "device_id": format!("d-{}", i % 13),
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn a_full_log_disk_answers_503_with_retry_after_and_loses_nothing_acknowledged() {
    let sandbox = Sandbox::new();
    let log = sandbox.data_dir().join("log");
    std::fs::create_dir_all(&log).unwrap();
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=2m streamify-full \"$1\" && exec \"$2\" --data-dir \"$3\" run --port 0")
        .arg("sh")
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_streamify"))
        .arg(sandbox.data_dir())
        .env("RUST_LOG", "info");
    let server = Running::spawn(command);
    let http = Http::new();
    let base = server.url.clone();
    let url = format!("{base}/api/v1/transactions");

    let (mut accepted, mut sent, mut refused) = (0u64, 0usize, None);
    while refused.is_none() {
        assert!(sent < 100 * BATCH, "2 MiB fill up within 100 batches");
        let r = http.post(&url, "application/x-ndjson", batch(sent));
        match r.status {
            200 => {
                accepted += r.json()["accepted"].as_u64().unwrap();
                sent += BATCH;
            }
            503 => refused = Some(r),
            other => panic!("status {other}: {}", r.body),
        }
    }
    let refused = refused.unwrap();
    assert!(accepted > 0, "some batches fit before the disk filled");
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After in seconds");
    let error = refused.json()["error"].clone();
    assert_eq!(error["code"], "log_unavailable", "{error}");
    assert!(error["message"].as_str().unwrap().contains("retry later"), "{error}");
    assert_eq!(http.post(&url, "application/x-ndjson", batch(sent)).status, 503, "still full: refused again");
    assert_eq!(http.get(&format!("{base}/healthz")).status, 200, "the server stays up");
    let ready = http.get(&format!("{base}/readyz"));
    assert_eq!(ready.status, 503, "not ready while the log refuses writes: {}", ready.body);
    assert!(ready.json()["checks"]["bus"].as_str().unwrap().contains("refused"), "{}", ready.body);

    // The operator adds space; the retry of the refused batch is taken, and the processor, reopened
    // from its checkpoint, lands every acknowledged transaction once.
    let grown = Command::new("nsenter")
        .args(["--target", &server.pid().to_string(), "--mount", "mount", "-o", "remount,size=64m"])
        .arg(&log)
        .status()
        .unwrap();
    assert!(grown.success(), "remounting the tmpfs larger");
    let retried = http.post(&url, "application/x-ndjson", batch(sent));
    assert_eq!(retried.status, 200, "{}", retried.body);
    accepted += retried.json()["accepted"].as_u64().unwrap();
    let sql = |q: &str| {
        let r =
            http.post(&format!("{base}/api/v1/sql"), "application/json", serde_json::json!({"query": q}).to_string());
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        r.json()["rows"][0].clone()
    };
    let landed = eventually(180, "every acknowledged transaction in silver", || {
        let row = sql("select count(*) as n, count(distinct transaction_id) as ids from silver_transactions");
        (row["n"].as_u64() >= Some(accepted)).then_some(row)
    });
    assert_eq!((landed["n"].as_u64(), landed["ids"].as_u64()), (Some(accepted), Some(accepted)), "{landed}");
    eventually(60, "ready again", || {
        let ready = http.get(&format!("{base}/readyz"));
        (ready.status == 200).then_some(())
    });
    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "a clean stop:\n{output}");
}
