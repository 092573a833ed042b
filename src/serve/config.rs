//! The `[serve]` section: where the HTTP server listens, its limits and who may use it.
//!
//! Secrets (the JWT secret) are never printed: `Debug` and the `config show` TOML redact them.
//! API tokens and dashboard passwords are configured only as digests (SHA-256 of a token,
//! Argon2id PHC string of a password), so the configuration itself holds nothing to steal.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServeConfig {
    /// Address to listen on; a non-loopback address needs credentials in `[serve.auth]`.
    pub bind: IpAddr,
    pub port: u16,
    /// PEM certificate chain and private key files; both set = HTTPS, both empty = HTTP.
    pub tls_cert: String,
    pub tls_key: String,
    /// Largest request body accepted (an ingest batch), in bytes.
    pub max_body_bytes: usize,
    /// A request that takes longer gets 408 (the live event stream excepted).
    #[serde(with = "crate::config::duration")]
    pub request_timeout: Duration,
    /// Requests per second per client address, and the burst allowed above that; 429 beyond.
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    /// Largest `limit` of a paginated list.
    pub max_page_size: usize,
    /// `POST /api/v1/sql`: most rows returned and longest run.
    pub sql_max_rows: usize,
    #[serde(with = "crate::config::duration")]
    pub sql_timeout: Duration,
    /// How long an ingest request's `Idempotency-Key` is remembered.
    #[serde(with = "crate::config::duration")]
    pub idempotency_ttl: Duration,
    /// Rows (transactions and alerts) the in-memory customer tier holds; 0 turns it off.
    pub memory_customer_rows: usize,
    pub auth: AuthConfig,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct AuthConfig {
    /// HS256 secret for JWT bearer tokens (a secret: never printed); empty = none.
    #[serde(serialize_with = "redact")]
    pub jwt_secret: String,
    /// PEM public key file for JWTs signed elsewhere (RS256 or ES256, per `jwt_algorithm`).
    pub jwt_public_key: String,
    /// The one algorithm a JWT may use: HS256 with `jwt_secret`, RS256 or ES256 with the key.
    pub jwt_algorithm: String,
    /// Required `iss` and `aud` claims (`exp` is always required).
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// Opaque API tokens by SHA-256 digest (`streamify auth token` makes one).
    pub tokens: Vec<TokenConfig>,
    /// Dashboard and API users for basic auth (`streamify auth hash-password` makes an entry).
    pub users: Vec<UserConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserConfig {
    pub name: String,
    pub role: Role,
    /// An Argon2id PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
}

/// What a caller may do. `viewer` reads, `analyst` also runs SQL, `admin` may do everything,
/// `ingest` only sends events, `metrics` only scrapes `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
    Ingest,
    Metrics,
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Dashboard, KPIs, alerts, status.
    Read,
    /// `POST /api/v1/sql`.
    Sql,
    /// `POST /api/v1/transactions` and `/clickstream`.
    Ingest,
    /// `/metrics`.
    Metrics,
}

impl Role {
    pub fn allows(self, access: Access) -> bool {
        match self {
            Role::Admin => true,
            Role::Analyst => matches!(access, Access::Read | Access::Sql),
            Role::Viewer => access == Access::Read,
            Role::Ingest => access == Access::Ingest,
            Role::Metrics => access == Access::Metrics,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
            Role::Ingest => "ingest",
            Role::Metrics => "metrics",
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &if self.jwt_secret.is_empty() { "" } else { "<redacted>" })
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("tokens", &self.tokens)
            .field("users", &self.users)
            .finish()
    }
}

fn redact<S: serde::Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if value.is_empty() { "" } else { "<redacted>" })
}

impl AuthConfig {
    /// Whether any way to authenticate is configured; without one the server runs open, which
    /// only a loopback address allows.
    pub fn has_credentials(&self) -> bool {
        !self.jwt_secret.is_empty()
            || !self.jwt_public_key.is_empty()
            || !self.tokens.is_empty()
            || !self.users.is_empty()
    }
}

impl ServeConfig {
    pub fn check(&self, problems: &mut Vec<String>) {
        if self.tls_cert.is_empty() != self.tls_key.is_empty() {
            problems.push("serve.tls_cert and serve.tls_key: set both (HTTPS) or neither (HTTP)".into());
        }
        if self.max_body_bytes < 1024 {
            problems.push(format!("serve.max_body_bytes = {}: use at least 1024", self.max_body_bytes));
        }
        if self.rate_limit_per_sec == 0 || self.rate_limit_burst == 0 {
            problems.push("serve.rate_limit_per_sec and serve.rate_limit_burst: use at least 1".into());
        }
        if !(1..=100_000).contains(&self.max_page_size) {
            problems.push(format!("serve.max_page_size = {}: use 1 to 100000", self.max_page_size));
        }
        if self.sql_max_rows == 0 {
            problems.push("serve.sql_max_rows: use at least 1".into());
        }
        if self.request_timeout.is_zero() || self.sql_timeout.is_zero() {
            problems.push("serve.request_timeout and serve.sql_timeout: use a positive duration like \"30s\"".into());
        }
        let auth = &self.auth;
        match auth.jwt_algorithm.as_str() {
            "HS256" if !auth.jwt_public_key.is_empty() => problems.push(
                "serve.auth.jwt_public_key is set but jwt_algorithm is HS256: use RS256 or ES256 with a key".into(),
            ),
            "HS256" => {}
            "RS256" | "ES256" if !auth.jwt_secret.is_empty() => problems.push(format!(
                "serve.auth.jwt_secret is set but jwt_algorithm is {}: a secret is for HS256",
                auth.jwt_algorithm
            )),
            "RS256" | "ES256" => {}
            other => {
                problems.push(format!("serve.auth.jwt_algorithm = {other:?}: use \"HS256\", \"RS256\" or \"ES256\""))
            }
        }
        if !auth.jwt_secret.is_empty() && auth.jwt_secret.len() < 32 {
            problems.push("serve.auth.jwt_secret: use at least 32 characters".into());
        }
        if (!auth.jwt_secret.is_empty() || !auth.jwt_public_key.is_empty())
            && (auth.jwt_issuer.is_empty() || auth.jwt_audience.is_empty())
        {
            problems.push("serve.auth.jwt_issuer and jwt_audience: set both when JWTs are accepted".into());
        }
        for (i, t) in auth.tokens.iter().enumerate() {
            let hex_ok =
                t.sha256.len() == 64 && t.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex_ok {
                problems.push(format!(
                    "serve.auth.tokens[{i}] ({}): sha256 must be 64 lowercase hex digits; `streamify auth token` prints one",
                    t.name
                ));
            }
        }
        for (i, u) in auth.users.iter().enumerate() {
            if argon2::password_hash::PasswordHash::new(&u.password_hash).is_err() {
                problems.push(format!(
                    "serve.auth.users[{i}] ({}): password_hash is not a PHC string; `streamify auth hash-password` prints one",
                    u.name
                ));
            }
            if u.name.is_empty() || u.name.contains(':') {
                problems.push(format!("serve.auth.users[{i}]: name must be non-empty and without ':'"));
            }
        }
    }
}
