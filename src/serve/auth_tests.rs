use super::*;
use crate::serve::config::{TokenConfig, UserConfig};
use axum::http::HeaderValue;

const SECRET: &str = "a-test-secret-of-at-least-32-characters!";
const NOW: u64 = 4_000_000_000;

fn config() -> AuthConfig {
    let mut c = crate::config::Config::defaults().serve.auth;
    c.jwt_secret = SECRET.into();
    c
}

fn headers(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    h
}

fn code(result: Result<Identity, ApiError>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    }
}

fn jwt_with(claims: serde_json::Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(role: &str, exp: u64, aud: &str) -> serde_json::Value {
    serde_json::json!({"sub": "ana", "role": role, "exp": exp, "iss": "streamify", "aud": aud})
}

#[test]
fn without_credentials_configured_everyone_is_an_admin() {
    let auth = Authenticator::new(&crate::config::Config::defaults().serve.auth).unwrap();
    assert!(auth.is_open());
    assert_eq!(auth.authorize(&HeaderMap::new(), Access::Sql).unwrap().role, Role::Admin);
}

#[test]
fn a_valid_jwt_gives_its_role_and_roles_limit_access() {
    let auth = Authenticator::new(&config()).unwrap();
    assert!(!auth.is_open());
    let token = issue_jwt(&config(), "ana", Role::Viewer, NOW, 3600).unwrap();
    let h = headers(&format!("Bearer {token}"));
    assert_eq!(auth.authorize(&h, Access::Read).unwrap(), Identity { name: "ana".into(), role: Role::Viewer });
    let denied = auth.authorize(&h, Access::Sql).unwrap_err();
    assert_eq!((denied.status.as_u16(), denied.code), (403, "forbidden"));
    assert!(denied.message.contains("analyst or admin"), "{}", denied.message);
    assert_eq!(code(auth.authorize(&HeaderMap::new(), Access::Read)), 401);
}

#[test]
fn malformed_jwts_are_rejected() {
    let auth = Authenticator::new(&config()).unwrap();
    let good = claims("admin", NOW, "streamify-api");
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let cases = [
        ("alg none", format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), b64(&good))),
        ("expired", jwt_with(claims("admin", 1_000_000, "streamify-api"), Algorithm::HS256, SECRET)),
        ("wrong audience", jwt_with(claims("admin", NOW, "someone-else"), Algorithm::HS256, SECRET)),
        ("bad signature", jwt_with(good.clone(), Algorithm::HS256, "another-secret-of-at-least-32-chars!!")),
        ("other algorithm", jwt_with(good.clone(), Algorithm::HS384, SECRET)),
        (
            "no exp",
            jwt_with(
                serde_json::json!({"sub": "a", "role": "admin", "iss": "streamify", "aud": "streamify-api"}),
                Algorithm::HS256,
                SECRET,
            ),
        ),
        (
            "wrong issuer",
            jwt_with(
                serde_json::json!({"sub": "a", "role": "admin", "exp": NOW, "iss": "x", "aud": "streamify-api"}),
                Algorithm::HS256,
                SECRET,
            ),
        ),
        ("unknown role", jwt_with(claims("root", NOW, "streamify-api"), Algorithm::HS256, SECRET)),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        let result = auth.authorize(&headers(&format!("Bearer {token}")), Access::Read);
        assert_eq!(code(result), 401, "{what} must be refused");
    }
    let signed = jwt_with(good, Algorithm::HS256, SECRET);
    assert_eq!(code(auth.authorize(&headers(&format!("Bearer {signed}")), Access::Read)), 200);
}

#[test]
fn opaque_tokens_match_by_digest() {
    let (token, digest) = new_token().unwrap();
    let mut c = config();
    c.tokens.push(TokenConfig { name: "scraper".into(), role: Role::Metrics, sha256: digest });
    let auth = Authenticator::new(&c).unwrap();
    let h = headers(&format!("Bearer {token}"));
    assert_eq!(auth.authorize(&h, Access::Metrics).unwrap().name, "scraper");
    assert_eq!(code(auth.authorize(&h, Access::Read)), 403);
    assert_eq!(code(auth.authorize(&headers("Bearer sfy_wrong"), Access::Metrics)), 401);
    assert_eq!(code(auth.authorize(&headers("Digest abc"), Access::Metrics)), 401);
}

#[test]
fn basic_auth_checks_the_argon2_hash() {
    let mut c = config();
    c.users.push(UserConfig {
        name: "ana".into(),
        role: Role::Analyst,
        password_hash: hash_password("s3cret pass").unwrap(),
    });
    let auth = Authenticator::new(&c).unwrap();
    let basic = |user: &str, pass: &str| {
        headers(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))))
    };
    assert_eq!(auth.authorize(&basic("ana", "s3cret pass"), Access::Sql).unwrap().role, Role::Analyst);
    // Remembered: the same header again, without Argon2.
    assert_eq!(code(auth.authorize(&basic("ana", "s3cret pass"), Access::Read)), 200);
    assert_eq!(code(auth.authorize(&basic("ana", "wrong"), Access::Read)), 401);
    assert_eq!(code(auth.authorize(&basic("bob", "s3cret pass"), Access::Read)), 401);
    assert_eq!(code(auth.authorize(&headers("Basic !!!"), Access::Read)), 401);
}
