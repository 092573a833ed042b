//! The HTTP server, run as users run it: `quickstart` and `serve` as child processes on a free
//! loopback port, spoken to over real HTTP.

use crate::harness::{Outcome, Sandbox};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A server process and the URL it printed.
pub struct Running {
    child: Child,
    pub url: String,
    lines: Receiver<String>,
}

impl Running {
    /// Starts `streamify ARGS` in the sandbox and waits for its `dashboard: <url>` line.
    pub fn start(sandbox: &Sandbox, args: &[&str]) -> Running {
        Running::spawn(sandbox.command(args))
    }

    /// Starts `command` and waits for a `dashboard: <url>` line on its output (`run` logs it:
    /// give it `RUST_LOG=info`).
    pub fn spawn(mut command: std::process::Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("streamify starts");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("piped");
        let err_tx = tx.clone();
        std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            BufReader::new(stderr).lines().map_while(Result::ok).for_each(|l| drop(err_tx.send(format!("stderr: {l}"))))
        });
        // Owned at once, so that a failed start still kills and reaps the child.
        let mut running = Running { child, url: String::new(), lines };
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        while running.url.is_empty() {
            let line = running
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no dashboard URL printed; output so far:\n{}", seen.join("\n")));
            match line.split("dashboard: ").nth(1) {
                Some(rest) => {
                    running.url = rest.split_whitespace().next().unwrap().trim_end_matches("/dashboard/").to_string()
                }
                None => seen.push(line),
            }
        }
        running
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit status and what was printed since the start.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        let status = self.child.wait().expect("streamify exits");
        let output: Vec<String> = self.lines.try_iter().collect();
        (status.code(), output.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client for the tests.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Http {
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Http { runtime, client: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap() }
    }

    pub fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        self.runtime.block_on(async {
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            Reply { status, headers, body: response.text().await.unwrap_or_default() }
        })
    }

    pub fn get(&self, url: &str) -> Reply {
        self.send(self.client.get(url))
    }

    pub fn post(&self, url: &str, content_type: &str, body: impl Into<String>) -> Reply {
        self.send(self.client.post(url).header("content-type", content_type).body(body.into()))
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Polls `check` until it returns `Some`, for up to `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A transaction that scores CRITICAL under the default rules (known fraud, > 5000, crypto,
/// high-risk country), timestamped now.
pub fn critical_transaction(id: &str) -> String {
    serde_json::json!({
        "transaction_id": id, "user_id": 987654, "amount": 7500.0, "merchant": "it-merchant",
        "timestamp": chrono::Utc::now().to_rfc3339(), "is_fraud": true, "payment_method": "crypto",
        "location": "Lagos, Nigeria", "device_id": "it-device",
    })
    .to_string()
}

/// `promtool check metrics` (Debian's prometheus package, installed by scripts/test) on a scrape.
pub fn promtool_check(scrape: &str) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test installs Debian's prometheus package)");
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn quickstart_serves_live_numbers_ingest_alerts_metrics_and_sql() {
    let sandbox = Sandbox::new();
    let server = Running::start(&sandbox, &["quickstart", "--port", "0", "--transactions-per-hour", "3000000"]);
    let http = Http::new();
    let url = &server.url;

    assert_eq!(http.get(&format!("{url}/healthz")).json()["status"], "ok");
    let live = eventually(60, "live numbers", || {
        let s = http.get(&format!("{url}/api/v1/live")).json();
        (s["status"]["transactions"].as_u64() > Some(0) && !s["minutes"].as_array()?.is_empty()).then_some(s)
    });
    assert_eq!(live["mode"], "open");
    assert!(live["last_10m"]["revenue"].as_f64() > Some(0.0), "{live}");
    eventually(30, "readiness", || (http.get(&format!("{url}/readyz")).status == 200).then_some(()));

    // Ingest: one good and one bad item; the bad one is reported by index and reason.
    let ndjson = format!("{}\n{{\"transaction_id\": \"bad\"}}\n", critical_transaction("it-alert-1"));
    let r = http.post(&format!("{url}/api/v1/transactions"), "application/x-ndjson", ndjson);
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!((body["accepted"].as_u64(), body["rejected"].as_u64()), (Some(1), Some(1)), "{body}");
    assert_eq!(body["errors"][0]["index"], 1);
    assert_eq!(body["errors"][0]["reason"], "missing_field");
    let all_bad = http.post(&format!("{url}/api/v1/transactions"), "application/json", "[{\"amount\": 1}]");
    assert_eq!(all_bad.status, 422, "{}", all_bad.body);

    // A retried request with the same key is answered again without a second ingestion.
    let keyed = |body: String| {
        http.send(
            http.client().post(format!("{url}/api/v1/transactions")).header("Idempotency-Key", "it-key-1").body(body),
        )
    };
    let first = keyed(critical_transaction("it-alert-2")).json();
    let again = keyed(critical_transaction("it-alert-2")).json();
    assert_eq!((first["accepted"].as_u64(), first["duplicate"].as_bool()), (Some(1), Some(false)));
    assert_eq!((again["accepted"].as_u64(), again["duplicate"].as_bool()), (Some(1), Some(true)));

    // The alert shows in the live view, then through the alerts API.
    eventually(30, "the new alert in the live view", || {
        let s = http.get(&format!("{url}/api/v1/live")).json();
        s["alerts"].as_array()?.iter().any(|a| a["transaction_id"] == "it-alert-1").then_some(())
    });
    let alert = eventually(60, "the new alert in the alerts API", || {
        let page = http.get(&format!("{url}/api/v1/alerts?risk_level=critical&merchant=it-merchant&limit=10")).json();
        page["items"].as_array()?.iter().find(|a| a["transaction_id"] == "it-alert-1").cloned()
    });
    let id = alert["alert_id"].as_str().unwrap();
    let detail = http.get(&format!("{url}/api/v1/alerts/{id}")).json();
    let codes: Vec<&str> =
        detail["reason_codes"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"known_fraud") && codes.contains(&"crypto"), "{detail}");
    // Alerts are answered from memory ahead of the lake; the customer's transactions come from
    // silver, a checkpoint later.
    let (twice, customer) = eventually(60, "the customer's transactions in silver", || {
        let customer = http.get(&format!("{url}/api/v1/customers/987654")).json();
        let transactions = customer["transactions"].as_array()?;
        let n = transactions.iter().filter(|t| t["transaction_id"] == "it-alert-2").count();
        (n > 0).then_some((n, customer))
    });
    assert_eq!(twice, 1, "the retried request was ingested once: {customer}");
    assert_eq!(http.get(&format!("{url}/api/v1/alerts/nope")).status, 404);
    assert_eq!(http.get(&format!("{url}/api/v1/kpis?window=2m")).status, 400);
    assert_eq!(http.get(&format!("{url}/api/v1/alerts?limit=100000")).json()["error"]["code"], "invalid_parameter");

    // SQL for analysts: read-only.
    let sql = |q: &str| {
        http.post(&format!("{url}/api/v1/sql"), "application/json", serde_json::json!({"query": q}).to_string())
    };
    // The customer page above may come from memory, ahead of the lake by up to one checkpoint.
    eventually(30, "silver rows in the lake", || {
        let counted = sql("select count(*) as n from silver_transactions").json();
        (counted["rows"][0]["n"].as_u64() > Some(0)).then_some(())
    });
    for statement in [
        "create external table x stored as csv location '/etc/passwd'",
        "drop table fraud_alerts",
        "insert into fraud_alerts select * from fraud_alerts",
    ] {
        let r = sql(statement);
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (400, Some("invalid_query")),
            "{statement}: {}",
            r.body
        );
    }

    // Metrics in the Prometheus text format, valid by Prometheus's own parser.
    let scrape = http.get(&format!("{url}/metrics"));
    assert_eq!(scrape.status, 200);
    for name in [
        "streamify_events_in_total{topic=\"transactions\"}",
        "streamify_processing_latency_seconds_bucket",
        "streamify_http_requests_total",
        "streamify_alerts_total{risk_level=\"CRITICAL\"}",
        "streamify_checkpoint_epoch",
    ] {
        assert!(scrape.body.contains(name), "{name} missing from /metrics:\n{}", scrape.body);
    }
    assert!(
        scrape.body.contains("route=\"/api/v1/alerts/{alert_id}\""),
        "routes are labelled as matched, not by raw path"
    );
    promtool_check(&scrape.body);

    let page = http.get(&format!("{url}/dashboard/"));
    assert!(page.status == 200 && page.body.contains("uPlot"), "{}", page.body);
    let openapi = http.get(&format!("{url}/api/openapi.json")).json();
    assert!(openapi["paths"]["/api/v1/alerts"]["get"].is_object());

    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "a clean stop on SIGTERM:\n{output}");
}

#[test]
fn a_server_without_credentials_refuses_a_network_address() {
    let sandbox = Sandbox::new();
    let out: Outcome = sandbox.run(&["serve", "--bind", "0.0.0.0", "--port", "0"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("refusing to listen on 0.0.0.0"), "{}", out.stderr);
}

#[test]
fn an_idempotency_key_outlives_a_restart_of_the_server() {
    let sandbox = Sandbox::new();
    let http = Http::new();
    let send = |url: &str| {
        let request = http
            .client()
            .post(format!("{url}/api/v1/transactions"))
            .header("Idempotency-Key", "restart-key")
            .body(critical_transaction("it-restart-1"));
        http.send(request).json()
    };
    let server = Running::start(&sandbox, &["serve", "--port", "0"]);
    let first = send(&server.url);
    assert_eq!((first["accepted"].as_u64(), first["duplicate"].as_bool()), (Some(1), Some(false)), "{first}");
    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "{output}");

    let server = Running::start(&sandbox, &["serve", "--port", "0"]);
    let again = send(&server.url);
    assert_eq!((again["accepted"].as_u64(), again["duplicate"].as_bool()), (Some(1), Some(true)), "{again}");
    server.stop();
    let stats = sandbox.run(&["log", "stats", "--json"]).success().json();
    assert_eq!(stats["topics"]["transactions"]["records"], 1, "sent once: {stats}");
}
