//! The read endpoints against SQL over the same lake: alert pages answered from memory while the
//! processor runs equal the lake query's, and so do the same pages read from the lake after a
//! restart; breakdowns reconcile with silver.

use crate::harness::Sandbox;
use crate::serve::{Http, Running, eventually};
use serde_json::Value;

const COLUMNS: &str = "alert_id, transaction_id, user_id, \"timestamp\", amount, merchant, country, payment_method, \
                       risk_score, risk_level, reasons, rules_version, model_version";

fn sql(http: &Http, url: &str, query: &str) -> Vec<Value> {
    let r =
        http.post(&format!("{url}/api/v1/sql"), "application/json", serde_json::json!({"query": query}).to_string());
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.json()["rows"].as_array().cloned().unwrap_or_default()
}

fn count(http: &Http, url: &str, query: &str) -> u64 {
    sql(http, url, query)[0]["n"].as_u64().unwrap_or_else(|| panic!("{query}: no count"))
}

/// `streamify_alert_reads_total{source=...}` from a scrape.
fn alert_reads(http: &Http, url: &str, source: &str) -> u64 {
    let scrape = http.get(&format!("{url}/metrics")).body;
    let prefix = format!("streamify_alert_reads_total{{source=\"{source}\"}} ");
    scrape.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |v| v.trim().parse().unwrap())
}

/// (API path, the same page as SQL) for a spread of filters, offsets and limits, built from the
/// alerts there are.
fn pages(alerts: &[Value]) -> Vec<(String, String)> {
    let of = |i: usize, field: &str| alerts[i % alerts.len()][field].as_str().unwrap().to_string();
    let (merchant, user, level) = (of(3, "merchant"), of(5, "user_id"), of(1, "risk_level"));
    let (newer, older) = (of(2, "timestamp"), of(alerts.len() * 2 / 3, "timestamp"));
    let order = "ORDER BY \"timestamp\" DESC, alert_id";
    let page = |filter: &str, offset: usize, limit: usize| {
        format!("SELECT {COLUMNS} FROM fraud_alerts WHERE {filter} {order} LIMIT {limit} OFFSET {offset}")
    };
    vec![
        ("/api/v1/alerts?limit=100".into(), page("true", 0, 100)),
        (format!("/api/v1/alerts?risk_level={level}&limit=7&offset=3"), page(&format!("risk_level = '{level}'"), 3, 7)),
        (format!("/api/v1/alerts?merchant={merchant}&limit=20"), page(&format!("merchant = '{merchant}'"), 0, 20)),
        (format!("/api/v1/alerts?user_id={user}"), page(&format!("user_id = '{user}'"), 0, 100)),
        (
            format!("/api/v1/alerts?from={older}&to={newer}&limit=15&offset=2"),
            page(&format!("\"timestamp\" >= '{older}' AND \"timestamp\" < '{newer}'"), 2, 15),
        ),
    ]
}

fn check_pages(http: &Http, url: &str, pages: &[(String, String)]) {
    for (path, query) in pages {
        let api = http.get(&format!("{url}{}", path.replace('+', "%2B")));
        assert_eq!(api.status, 200, "{path}: {}", api.body);
        let items = api.json()["items"].clone();
        assert_eq!(items, Value::Array(sql(http, url, query)), "{path} differs from {query}");
    }
}

#[test]
fn alert_pages_from_memory_and_from_the_lake_equal_sql_and_breakdowns_reconcile() {
    let sandbox = Sandbox::new();
    let generated = sandbox.run(&["generate", "--events", "20000", "--seed", "42", "--json"]).success().json();
    let transactions = generated["transactions"].as_u64().unwrap();
    let http = Http::new();

    // While `run` processes: once every alert it raised is in the lake, the pages it answers
    // from memory are the lake's.
    let run = || {
        let mut command = sandbox.command(&["run", "--port", "0"]);
        command.env("RUST_LOG", "info");
        Running::spawn(command)
    };
    let server = run();
    let url = &server.url;
    eventually(180, "every transaction and alert in the lake", || {
        let status = http.get(&format!("{url}/api/v1/status")).json();
        let raised = status["processor"]["alerts"].as_u64()?;
        let silver = count(&http, url, "select count(*) as n from silver_transactions");
        let alerts = count(&http, url, "select count(*) as n from fraud_alerts");
        (silver == transactions && raised > 0 && alerts == raised).then_some(())
    });
    let alerts = sql(&http, url, &format!("SELECT {COLUMNS} FROM fraud_alerts ORDER BY \"timestamp\" DESC, alert_id"));
    assert!(alerts.len() >= 20, "enough alerts to page through: {}", alerts.len());
    let pages = pages(&alerts);
    let before = alert_reads(&http, url, "memory");
    check_pages(&http, url, &pages);
    assert!(alert_reads(&http, url, "memory") > before, "the newest alerts were answered from memory");
    let id = alerts[4]["alert_id"].as_str().unwrap();
    let detail = http.get(&format!("{url}/api/v1/alerts/{id}")).json();
    assert_eq!(detail["transaction_id"], alerts[4]["transaction_id"], "{detail}");
    assert_eq!(detail["reasons"], alerts[4]["reasons"]);
    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "{output}");

    // After a restart memory starts empty and behind the lake's newest alert: the same pages
    // come from the lake, and are the same.
    let server = run();
    let url = &server.url;
    let before = alert_reads(&http, url, "lake");
    check_pages(&http, url, &pages);
    assert!(alert_reads(&http, url, "lake") > before, "pages older than memory were read from the lake");
    server.stop();

    // Breakdowns come from the closed 10-minute windows: with every window flushed, each
    // dimension's orders add up to silver minus the transactions late for that window.
    sandbox.run(&["process", "--until-caught-up"]).success();
    let server = Running::start(&sandbox, &["serve", "--port", "0"]);
    let url = &server.url;
    let late =
        count(&http, url, "select count(*) as n from late_events where window_table = 'merchant_payment_country_10m'");
    for dimension in ["merchant", "country", "payment_method"] {
        let page = http.get(&format!("{url}/api/v1/breakdown/{dimension}?limit=1000")).json();
        let items = page["items"].as_array().unwrap_or_else(|| panic!("{page}"));
        let orders: u64 = items.iter().map(|i| i["orders"].as_u64().unwrap()).sum();
        assert_eq!(orders + late, transactions, "{dimension}: {page}");
        let silver = sql(
            &http,
            url,
            &format!(
                "select {dimension} as key, sum(case when is_alert then 1 else 0 end) as alerts from silver_transactions group by {dimension}"
            ),
        );
        if late == 0 {
            for row in &silver {
                let item = items.iter().find(|i| i["key"] == row["key"]).unwrap_or_else(|| panic!("{row} missing"));
                assert_eq!(item["alerts"], row["alerts"], "{dimension} {row}");
            }
        }
    }
}
