//! Who is calling, and may they: bearer tokens (JWT or opaque) and basic auth, mapped to a role.
//!
//! - `Authorization: Bearer <jwt>`: the algorithm is pinned by `serve.auth.jwt_algorithm` (a
//!   token naming another, including `none`, is refused), the signature checked with the
//!   configured secret or public key, and `exp`, `iss`, `aud` and `sub` are required (`iss` and
//!   `aud` must match the configuration). The `role` claim gives the role.
//! - `Authorization: Bearer <opaque>`: the token's SHA-256 is compared, in constant time, with
//!   the configured digests.
//! - `Authorization: Basic ...`: a configured user whose Argon2id hash the password matches.
//!   Argon2 is slow on purpose, so a verified header is remembered (by its SHA-256) for the
//!   process's life; the dashboard sends it with every request.
//!
//! Without any credentials configured the server is open: every caller is an admin. The server
//! refuses to start open on anything but a loopback address (see `server`).

use super::config::{Access, AuthConfig, Role};
use super::error::ApiError;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

/// The claims a JWT must carry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
}

/// Remembered basic-auth headers are dropped all at once past this many.
const VERIFIED_CAP: usize = 1024;

pub struct Authenticator {
    open: bool,
    jwt: Option<(DecodingKey, Validation)>,
    tokens: Vec<([u8; 32], Identity)>,
    users: HashMap<String, (Role, String)>,
    verified: Mutex<HashMap<[u8; 32], Identity>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("open", &self.open)
            .field("jwt", &self.jwt.is_some())
            .field("tokens", &self.tokens.len())
            .field("users", &self.users.len())
            .finish()
    }
}

/// The digest under which an opaque token is configured.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "HS256" => Ok(Algorithm::HS256),
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        other => Err(format!("serve.auth.jwt_algorithm = {other:?}: use \"HS256\", \"RS256\" or \"ES256\"")),
    }
}

impl Authenticator {
    /// Builds the authenticator of a checked configuration; reads the JWT public key file.
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let jwt = if !config.jwt_secret.is_empty() || !config.jwt_public_key.is_empty() {
            let alg = algorithm(&config.jwt_algorithm)?;
            let key = if config.jwt_public_key.is_empty() {
                DecodingKey::from_secret(config.jwt_secret.as_bytes())
            } else {
                let pem = std::fs::read(&config.jwt_public_key)
                    .map_err(|e| format!("serve.auth.jwt_public_key {}: {e}", config.jwt_public_key))?;
                let parsed = if alg == Algorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)
                } else {
                    DecodingKey::from_ec_pem(&pem)
                };
                parsed.map_err(|e| {
                    format!(
                        "serve.auth.jwt_public_key {}: not a {} public key in PEM: {e}",
                        config.jwt_public_key, config.jwt_algorithm
                    )
                })?
            };
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[&config.jwt_issuer]);
            validation.set_audience(&[&config.jwt_audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.leeway = 30;
            Some((key, validation))
        } else {
            None
        };
        let mut tokens = Vec::new();
        for t in &config.tokens {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&t.sha256, &mut digest)
                .map_err(|e| format!("serve.auth.tokens ({}): sha256: {e}", t.name))?;
            tokens.push((digest, Identity { name: t.name.clone(), role: t.role }));
        }
        let users = config.users.iter().map(|u| (u.name.clone(), (u.role, u.password_hash.clone()))).collect();
        Ok(Authenticator { open: !config.has_credentials(), jwt, tokens, users, verified: Mutex::new(HashMap::new()) })
    }

    /// Whether every caller is let in (no credentials configured).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The caller of a request that needs `access`: 401 when unknown, 403 when the role does
    /// not allow it.
    pub fn authorize(&self, headers: &HeaderMap, access: Access) -> Result<Identity, ApiError> {
        let identity = self.authenticate(headers)?;
        if !identity.role.allows(access) {
            return Err(ApiError::forbidden(format!(
                "{} (role {}) may not do this: it needs {}",
                identity.name,
                identity.role.as_str(),
                match access {
                    Access::Read => "viewer, analyst or admin",
                    Access::Sql => "analyst or admin",
                    Access::Ingest => "ingest or admin",
                    Access::Metrics => "metrics or admin",
                }
            )));
        }
        Ok(identity)
    }

    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        if self.open {
            return Ok(Identity { name: "anonymous".into(), role: Role::Admin });
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "credentials required: send `Authorization: Bearer <token>` or basic auth",
            ));
        };
        let value = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            if rest.split('.').count() == 3 { self.jwt(rest) } else { self.token(rest) }
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic(rest)
        } else {
            Err(ApiError::unauthorized(format!("unsupported authorization scheme {scheme:?}: use Bearer or Basic")))
        }
    }

    fn jwt(&self, token: &str) -> Result<Identity, ApiError> {
        let Some((key, validation)) = &self.jwt else {
            return Err(ApiError::unauthorized(
                "JWTs are not accepted here: no serve.auth.jwt_secret or jwt_public_key",
            ));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| ApiError::unauthorized(format!("invalid token header: {e}")))?;
        if !validation.algorithms.contains(&header.alg) {
            return Err(ApiError::unauthorized(format!(
                "token algorithm {:?} is not accepted (pinned: {:?})",
                header.alg, validation.algorithms
            )));
        }
        let data = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(|e| ApiError::unauthorized(format!("invalid token: {e}")))?;
        Ok(Identity { name: data.claims.sub, role: data.claims.role })
    }

    fn token(&self, token: &str) -> Result<Identity, ApiError> {
        let digest = token_digest(token);
        let mut found = None;
        // Compare with every configured digest, so the time does not tell which one matched.
        for (known, identity) in &self.tokens {
            if bool::from(known.ct_eq(&digest)) {
                found = Some(identity.clone());
            }
        }
        found.ok_or_else(|| ApiError::unauthorized("unknown API token"))
    }

    fn basic(&self, encoded: &str) -> Result<Identity, ApiError> {
        let key: [u8; 32] = Sha256::digest(encoded.as_bytes()).into();
        if let Some(identity) = self.verified.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(identity.clone());
        }
        let bad = || ApiError::unauthorized("unknown user or wrong password");
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (name, password) = text.split_once(':').ok_or_else(bad)?;
        let (role, hash) = self.users.get(name).ok_or_else(bad)?;
        if !verify_password(password, hash) {
            return Err(bad());
        }
        let identity = Identity { name: name.to_string(), role: *role };
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_CAP {
            verified.clear();
        }
        verified.insert(key, identity.clone());
        Ok(identity)
    }
}

/// Whether `password` matches an Argon2 PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// An Argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A new random opaque API token (32 bytes, hex) and its digest in hex.
pub fn new_token() -> Result<(String, String), String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a token: {e}"))?;
    let token = format!("sfy_{}", hex::encode(bytes));
    let digest = hex::encode(token_digest(&token));
    Ok((token, digest))
}

/// A signed HS256 JWT for `sub` with `role`, valid for `ttl_secs` from `now_secs`.
pub fn issue_jwt(config: &AuthConfig, sub: &str, role: Role, now_secs: u64, ttl_secs: u64) -> Result<String, String> {
    if config.jwt_secret.is_empty() || config.jwt_algorithm != "HS256" {
        return Err("issuing tokens needs serve.auth.jwt_secret with jwt_algorithm = \"HS256\"".into());
    }
    let claims = Claims {
        sub: sub.into(),
        role,
        exp: now_secs + ttl_secs,
        iss: config.jwt_issuer.clone(),
        aud: config.jwt_audience.clone(),
    };
    let key = jsonwebtoken::EncodingKey::from_secret(config.jwt_secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), &claims, &key).map_err(|e| e.to_string())
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
