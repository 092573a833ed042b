//! The dashboard in a real headless browser (Debian's chromium, driven by playwright-core from
//! `tests/browser`; scripts/test installs both): live, changing numbers and a new alert in the
//! table, against a running quickstart. The screenshot is kept in target/test-artifacts.

use crate::harness::Sandbox;
use crate::serve::{Http, Running, critical_transaction, eventually};
use std::path::PathBuf;

#[test]
fn the_dashboard_shows_live_numbers_and_a_new_alert_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/dashboard.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run ./scripts/test (it runs `npm ci` there and installs chromium)"
    );
    let artifacts =
        std::env::var_os("STREAMIFY_ARTIFACTS").map_or_else(|| root.join("target/test-artifacts"), PathBuf::from);
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("dashboard.png");

    let sandbox = Sandbox::new();
    let server = Running::start(&sandbox, &["quickstart", "--port", "0", "--transactions-per-hour", "2000000"]);
    let url = server.url.clone();
    let http = Http::new();
    eventually(60, "live transactions", || {
        (http.get(&format!("{url}/api/v1/live")).json()["status"]["transactions"].as_u64() > Some(0)).then_some(())
    });
    // The browser waits for the page to show numbers; the alert is sent once it is loaded.
    let sender = {
        let url = url.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(6));
            let r = Http::new().post(
                &format!("{url}/api/v1/transactions"),
                "application/json",
                critical_transaction("it-browser-alert"),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        })
    };
    let out = std::process::Command::new("node")
        .arg(&script)
        .args(["--url", &url, "--expect-transaction", "it-browser-alert", "--timeout-ms", "90000", "--screenshot"])
        .arg(&screenshot)
        .output()
        .expect("node runs (scripts/test installs Node.js packages; Debian's nodejs is on this machine)");
    sender.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser test failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&screenshot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot was saved");
    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "{output}");
}
