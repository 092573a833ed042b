//! The read endpoints against SQL over the same lake: alert pages, KPI pages, breakdowns and
//! customers' transactions answered from memory while the processor runs equal the lake query's,
//! and so do the same reads from the lake after a restart; breakdowns reconcile with silver.

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

/// `streamify_{what}_reads_total{source=...}` from a scrape.
fn reads(http: &Http, url: &str, what: &str, source: &str) -> u64 {
    let scrape = http.get(&format!("{url}/metrics")).body;
    let prefix = format!("streamify_{what}_reads_total{{source=\"{source}\"}} ");
    scrape.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |v| v.trim().parse().unwrap())
}

/// Runs `check` and asserts that it made `what` reads answered from `source` (memory or lake).
fn answered_from(http: &Http, url: &str, what: &str, source: &str, check: impl FnOnce()) {
    let before = reads(http, url, what, source);
    check();
    assert!(reads(http, url, what, source) > before, "{what} reads were answered from {source}");
}

const KPI_COLUMNS: &str = "window_start, window_end, tx_count, revenue, avg_amount, alert_count, alert_rate, \
                           known_fraud_count, known_fraud_rate, high_value_count, high_value_rate, \
                           distinct_customers, distinct_devices, distinct_merchants, payment_mix";

/// KPI pages (API path, the same page as SQL) over both tables, with offsets and a time range.
fn kpi_pages(http: &Http, url: &str) -> Vec<(String, String)> {
    let minutes = sql(http, url, "SELECT window_start FROM kpi_1m ORDER BY window_start DESC");
    assert!(minutes.len() >= 10, "enough 1-minute windows to page through: {}", minutes.len());
    let at = |i: usize| minutes[i]["window_start"].as_str().unwrap().to_string();
    let page = |table: &str, filter: &str, offset: usize, limit: usize| {
        format!(
            "SELECT {KPI_COLUMNS} FROM {table} WHERE {filter} ORDER BY window_start DESC LIMIT {limit} OFFSET {offset}"
        )
    };
    vec![
        ("/api/v1/kpis?limit=5".into(), page("kpi_1m", "true", 0, 5)),
        ("/api/v1/kpis?limit=4&offset=3".into(), page("kpi_1m", "true", 3, 4)),
        (
            format!("/api/v1/kpis?from={}&to={}&limit=3&offset=1", at(8), at(1)),
            page("kpi_1m", &format!("window_start >= '{}' AND window_start < '{}'", at(8), at(1)), 1, 3),
        ),
        ("/api/v1/kpis?window=1h&limit=2".into(), page("platform_1h", "true", 0, 2)),
    ]
}

/// Every breakdown equals the SQL sum of `merchant_payment_country_10m`: the same keys with the
/// same orders and alerts, revenue to rounding (summed in another order), biggest revenue first.
fn check_breakdowns(http: &Http, url: &str) {
    for dimension in ["merchant", "country", "payment_method"] {
        let page = http.get(&format!("{url}/api/v1/breakdown/{dimension}?limit=1000")).json();
        let items = page["items"].as_array().unwrap_or_else(|| panic!("{page}"));
        let query = format!(
            "SELECT {dimension} AS key, sum(tx_count) AS orders, sum(revenue) AS revenue, sum(alert_count) AS alerts \
             FROM merchant_payment_country_10m GROUP BY {dimension}"
        );
        let rows = sql(http, url, &query);
        assert!(!rows.is_empty() && rows.len() == items.len(), "{dimension}: {page} against {rows:?}");
        let revenue = |v: &Value| v["revenue"].as_f64().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        for row in &rows {
            let item = items.iter().find(|i| i["key"] == row["key"]).unwrap_or_else(|| panic!("{dimension}: {row}"));
            assert_eq!((&item["orders"], &item["alerts"]), (&row["orders"], &row["alerts"]), "{dimension}: {row}");
            assert!(close(revenue(item), revenue(row)), "{dimension}: {item} against {row}");
        }
        for pair in items.windows(2) {
            let (a, b) = (revenue(&pair[0]), revenue(&pair[1]));
            assert!(a > b || close(a, b), "{dimension}: biggest revenue first: {pair:?}");
        }
    }
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

const CUSTOMER_COLUMNS: &str = "transaction_id, \"timestamp\", amount, merchant, payment_method, city, country, \
                                device_id, customer_tx_count, customer_avg_amount, customer_std_amount, amount_zscore, \
                                is_new_device, distance_km, speed_kmh, velocity_30m, risk_score, risk_level, reasons, is_alert";

/// The customers with the most transactions and one with a single one: each customer's page
/// (newest first, default and explicit limits) equals SQL over silver and the alerts.
fn check_customers(http: &Http, url: &str) {
    let busy =
        "SELECT user_id, count(*) AS n FROM silver_transactions GROUP BY user_id ORDER BY n DESC, user_id LIMIT 3";
    let single = "SELECT user_id, count(*) AS n FROM silver_transactions GROUP BY user_id HAVING count(*) = 1 \
                  ORDER BY user_id LIMIT 1";
    let users: Vec<Value> = sql(http, url, busy).into_iter().chain(sql(http, url, single)).collect();
    assert!(users.len() == 4 && users[0]["n"].as_u64() > Some(1), "{users:?}");
    let alerted = "SELECT user_id, count(*) AS n FROM fraud_alerts GROUP BY user_id ORDER BY n DESC, user_id LIMIT 1";
    let users: Vec<Value> = users.into_iter().chain(sql(http, url, alerted)).collect();
    for user in &users {
        let id = user["user_id"].as_str().unwrap();
        for (query, limit) in [("", 20), ("?limit=2", 2)] {
            let page = http.get(&format!("{url}/api/v1/customers/{id}{query}")).json();
            let want = sql(
                http,
                url,
                &format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM silver_transactions WHERE user_id = '{id}' \
                     ORDER BY \"timestamp\" DESC, transaction_id LIMIT {limit}"
                ),
            );
            assert_eq!(page["transactions"], Value::Array(want.clone()), "customer {id}{query}");
            let alerts = format!(
                "SELECT {COLUMNS} FROM fraud_alerts WHERE user_id = '{id}' ORDER BY \"timestamp\" DESC, alert_id LIMIT {limit}"
            );
            assert_eq!(page["alerts"], Value::Array(sql(http, url, &alerts)), "customer {id}{query} alerts");
            assert_eq!(page["baseline"]["tx_count"], want[0]["customer_tx_count"], "{page}");
        }
    }
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
    // Caught up: the consumer lag is read from the log, and is 0 (not unknown) on the status page
    // and in /metrics.
    eventually(30, "a consumer lag of 0", || {
        let status = http.get(&format!("{url}/api/v1/status")).json();
        (status["processor"]["consumer_lag_records"] == 0).then_some(())
    });
    let scrape = http.get(&format!("{url}/metrics")).body;
    assert!(scrape.lines().any(|l| l == "streamify_consumer_lag_records 0"), "{scrape}");
    let alerts = sql(&http, url, &format!("SELECT {COLUMNS} FROM fraud_alerts ORDER BY \"timestamp\" DESC, alert_id"));
    assert!(alerts.len() >= 20, "enough alerts to page through: {}", alerts.len());
    let pages = pages(&alerts);
    answered_from(&http, url, "alert", "memory", || check_pages(&http, url, &pages));
    let id = alerts[4]["alert_id"].as_str().unwrap();
    let detail = http.get(&format!("{url}/api/v1/alerts/{id}")).json();
    assert_eq!(detail["transaction_id"], alerts[4]["transaction_id"], "{detail}");
    assert_eq!(detail["reasons"], alerts[4]["reasons"]);
    // The same for KPI pages and breakdowns from the closed windows in memory; windows keep
    // closing as the watermark passes them (an idle log), so compare once the lake has them.
    let kpi_pages = kpi_pages(&http, url);
    answered_from(&http, url, "window", "memory", || {
        eventually(60, "KPI pages and breakdowns from memory equal to SQL", || {
            let same = kpi_pages.iter().all(|(path, query)| {
                http.get(&format!("{url}{path}")).json()["items"] == Value::Array(sql(&http, url, query))
            });
            same.then_some(())
        });
        check_pages(&http, url, &kpi_pages);
        check_breakdowns(&http, url);
    });
    answered_from(&http, url, "customer", "memory", || check_customers(&http, url));
    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "{output}");

    // After a restart memory starts empty and behind the lake's newest alert: the same pages
    // come from the lake, and are the same.
    let server = run();
    let url = &server.url;
    answered_from(&http, url, "alert", "lake", || check_pages(&http, url, &pages));
    answered_from(&http, url, "window", "lake", || {
        check_pages(&http, url, &kpi_pages);
        check_breakdowns(&http, url);
    });
    answered_from(&http, url, "customer", "lake", || check_customers(&http, url));
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
