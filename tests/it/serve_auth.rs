//! The HTTP server with credentials configured, and its filters under hostile input.

use crate::harness::Sandbox;
use crate::serve::{Http, Running, critical_transaction};
use base64::Engine as _;
use hmac::Mac as _;
use std::io::Write as _;
use std::process::Stdio;

const JWT_SECRET: &str = "it-jwt-secret-that-is-long-enough-0123456789";
const EMAIL_KEY: &str = "it-email-key-secret-9876543210";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT signed with HS256 by hand, so that every malformed variant can be made.
fn jwt(header: serde_json::Value, claims: serde_json::Value, secret: &str) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

fn claims(role: &str, exp: i64, aud: &str) -> serde_json::Value {
    serde_json::json!({"sub": "it", "role": role, "exp": exp, "iss": "streamify", "aud": aud})
}

/// `streamify auth ...` output's TOML entry line.
fn entry(out: &str) -> String {
    out.lines().find(|l| l.trim_start().starts_with('{')).expect("an entry line").trim().to_string()
}

#[test]
fn credentials_roles_and_malformed_tokens() {
    let sandbox = Sandbox::new();
    let token = sandbox.run(&["auth", "token", "--role", "viewer", "--name", "it-viewer"]);
    assert_eq!(token.code, Some(0), "{}", token.stderr);
    let viewer_token = token.stdout.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let metrics = sandbox.run(&["auth", "token", "--role", "metrics", "--name", "it-scraper"]);
    let metrics_token = metrics.stdout.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let mut hashing = sandbox
        .command(&["auth", "hash-password", "--role", "analyst", "--name", "ana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hashing.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    let hashed = String::from_utf8(hashing.wait_with_output().unwrap().stdout).unwrap();
    let config = sandbox.path().join("streamify.toml");
    std::fs::write(
        &config,
        format!(
            "[privacy]\nemail_key = \"{EMAIL_KEY}\"\n\n[serve]\nmax_body_bytes = 4096\n\n[serve.auth]\njwt_secret = \"{JWT_SECRET}\"\ntokens = [{}, {}]\nusers = [{}]\n",
            entry(&token.stdout),
            entry(&metrics.stdout),
            entry(&hashed)
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();

    // Secrets never appear in `config show`.
    let shown = sandbox.run(&["--config", cfg, "config", "show"]);
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    assert!(shown.stdout.contains("[serve.auth]"), "{}", shown.stdout);
    assert!(!shown.stdout.contains(JWT_SECRET) && !shown.stdout.contains(EMAIL_KEY), "{}", shown.stdout);

    let admin_jwt =
        sandbox.run(&["--config", cfg, "auth", "jwt", "--role", "admin", "--subject", "ops"]).stdout.trim().to_string();
    let server = Running::start(&sandbox, &["--config", cfg, "--log-format", "json", "serve", "--port", "0"]);
    let http = Http::new();
    let url = &server.url;
    let get = |path: &str, auth: Option<&str>| {
        let mut request = http.client().get(format!("{url}{path}"));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        http.send(request)
    };
    let bearer = |t: &str| format!("Bearer {t}");

    let anonymous = get("/api/v1/status", None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"]["code"], "unauthorized");
    assert!(anonymous.headers.get_all("www-authenticate").iter().any(|v| v.to_str().unwrap().starts_with("Basic")));
    assert_eq!(get("/dashboard/", None).status, 401, "the dashboard needs a login too");
    assert_eq!(get("/healthz", None).status, 200, "liveness stays open");

    let viewer = bearer(&viewer_token);
    assert_eq!(get("/api/v1/status", Some(&viewer)).json()["mode"], "authenticated");
    let sql_as_viewer = http.send(
        http.client()
            .post(format!("{url}/api/v1/sql"))
            .header("authorization", &viewer)
            .body(r#"{"query": "select 1"}"#),
    );
    assert_eq!(sql_as_viewer.status, 403);
    assert_eq!(get("/metrics", Some(&viewer)).status, 403);
    assert_eq!(get("/metrics", Some(&bearer(&metrics_token))).status, 200);
    assert_eq!(get("/api/v1/status", Some(&bearer(&metrics_token))).status, 403);

    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ana:correct horse battery"));
    let sql_as_analyst = http.send(
        http.client()
            .post(format!("{url}/api/v1/sql"))
            .header("authorization", &basic)
            .header("content-type", "application/json")
            .body(r#"{"query": "select 1 as one"}"#),
    );
    assert_eq!(sql_as_analyst.status, 200, "{}", sql_as_analyst.body);
    assert_eq!(sql_as_analyst.json()["rows"][0]["one"], 1);
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ana:wrong"));
    assert_eq!(get("/dashboard/", Some(&wrong)).status, 401);
    assert_eq!(get("/dashboard/", Some(&basic)).status, 200);

    let ingest_as_admin = http.send(
        http.client()
            .post(format!("{url}/api/v1/transactions"))
            .header("authorization", bearer(&admin_jwt))
            .body(critical_transaction("it-auth-1")),
    );
    assert_eq!(ingest_as_admin.status, 200, "{}", ingest_as_admin.body);
    let too_big = http.send(
        http.client()
            .post(format!("{url}/api/v1/transactions"))
            .header("authorization", bearer(&admin_jwt))
            .body(format!("{}\n", critical_transaction("big")).repeat(40)),
    );
    assert_eq!(
        (too_big.status, too_big.json()["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{}",
        too_big.body
    );
    let ingest_as_viewer = http.send(
        http.client()
            .post(format!("{url}/api/v1/transactions"))
            .header("authorization", &viewer)
            .body(critical_transaction("x")),
    );
    assert_eq!(ingest_as_viewer.status, 403);

    let future = chrono::Utc::now().timestamp() + 3600;
    let hs256 = serde_json::json!({"alg": "HS256", "typ": "JWT"});
    let good = jwt(hs256.clone(), claims("admin", future, "streamify-api"), JWT_SECRET);
    assert_eq!(get("/api/v1/status", Some(&bearer(&good))).status, 200);
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims("admin", future, "streamify-api").to_string().as_bytes())
    );
    let malformed = [
        ("alg none", none),
        ("expired", jwt(hs256.clone(), claims("admin", future - 7200, "streamify-api"), JWT_SECRET)),
        ("wrong audience", jwt(hs256.clone(), claims("admin", future, "other-api"), JWT_SECRET)),
        (
            "bad signature",
            jwt(hs256.clone(), claims("admin", future, "streamify-api"), "a-different-secret-that-is-long-enough!!"),
        ),
        ("alg HS512", jwt(serde_json::json!({"alg": "HS512"}), claims("admin", future, "streamify-api"), JWT_SECRET)),
    ];
    for (what, token) in malformed {
        let r = get("/api/v1/status", Some(&bearer(&token)));
        assert_eq!(r.status, 401, "{what}: {}", r.body);
    }

    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "{output}");
    for secret in [JWT_SECRET, EMAIL_KEY, viewer_token.as_str(), metrics_token.as_str()] {
        assert!(!output.contains(secret), "a secret in the server's output:\n{output}");
    }
}

#[test]
fn sql_injection_through_every_filter_changes_nothing() {
    let sandbox = Sandbox::new();
    assert_eq!(sandbox.run(&["generate", "--events", "3000", "--seed", "11"]).code, Some(0));
    let processed = sandbox.run(&["process", "--until-caught-up"]);
    assert_eq!(processed.code, Some(0), "{}", processed.stderr);
    let server = Running::start(&sandbox, &["serve", "--port", "0"]);
    let http = Http::new();
    let url = &server.url;
    let count = |table: &str| {
        let q = serde_json::json!({"query": format!("select count(*) as n from {table}")}).to_string();
        http.post(&format!("{url}/api/v1/sql"), "application/json", q).json()["rows"][0]["n"].as_u64().unwrap()
    };
    let tables = ["fraud_alerts", "silver_transactions", "bronze_transactions", "sessions", "kpi_1m"];
    let before: Vec<u64> = tables.iter().map(|t| count(t)).collect();
    assert!(before[0] > 0 && before[1] > 0, "the lake has alerts and transactions: {before:?}");

    let payloads = [
        "' OR '1'='1",
        "x'; DROP TABLE fraud_alerts; --",
        "1 UNION SELECT * FROM silver_transactions",
        "$1",
        "') OR 1=1 --",
        "\\' OR 1=1",
        "CRITICAL' OR risk_level <> '",
        "%' OR '%'='",
    ];
    let lists = ["/api/v1/alerts", "/api/v1/kpis", "/api/v1/sessions", "/api/v1/funnel", "/api/v1/breakdown/merchant"];
    // The text filters each endpoint applies: no row has any payload as its value.
    let filters = [
        ("/api/v1/alerts", "merchant"),
        ("/api/v1/alerts", "user_id"),
        ("/api/v1/sessions", "user_id"),
        ("/api/v1/funnel", "category"),
    ];
    let params = ["risk_level", "merchant", "user_id", "from", "to", "window", "category", "limit", "offset"];
    for path in lists {
        for param in params {
            for payload in payloads {
                let r = http.send(http.client().get(format!("{url}{path}")).query(&[(param, payload)]));
                assert!(r.status == 200 || r.status == 400, "{path}?{param}={payload}: {} {}", r.status, r.body);
                if r.status == 200 && filters.contains(&(path, param)) {
                    let items = r.json()["items"].as_array().unwrap().len();
                    assert_eq!(items, 0, "{path}?{param}={payload} matched rows: {}", r.body);
                }
            }
        }
    }
    for payload in payloads {
        let r = http.get(&with_segments(url, &["api", "v1", "alerts", payload]));
        assert_eq!(r.status, 404, "alert id {payload}: {}", r.body);
        let c = http.get(&with_segments(url, &["api", "v1", "customers", payload])).json();
        assert_eq!(c["transactions"].as_array().map(Vec::len), Some(0), "customer {payload}: {c}");
    }
    let after: Vec<u64> = tables.iter().map(|t| count(t)).collect();
    assert_eq!(before, after, "row counts changed");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

/// `base` with each of `segments` appended as one percent-encoded path segment.
fn with_segments(base: &str, segments: &[&str]) -> String {
    let mut url = url::Url::parse(base).unwrap();
    url.path_segments_mut().unwrap().pop_if_empty().extend(segments);
    url.to_string()
}

#[test]
fn https_with_a_configured_certificate() {
    let sandbox = Sandbox::new();
    let (cert, key) = (sandbox.path().join("cert.pem"), sandbox.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = sandbox.path().join("tls.toml");
    std::fs::write(&config, format!("[serve]\ntls_cert = {:?}\ntls_key = {:?}\n", cert, key)).unwrap();
    let server = Running::start(&sandbox, &["--config", config.to_str().unwrap(), "serve", "--port", "0"]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let pem = std::fs::read(&cert).unwrap();
    let client =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = runtime.block_on(async {
        let r = client.get(format!("{}/api/v1/status", server.url)).send().await.expect("an HTTPS answer");
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"mode\":\"open\""), "{body}");
    let (code, output) = server.stop();
    assert_eq!(code, Some(0), "{output}");
}
