//! Errors of the HTTP API, as JSON: `{"error": {"code": "...", "message": "..."}}` with a stable,
//! machine-readable `code` and a message that says what to fix. Every error of the server becomes
//! a response here, in one place ([`ApiError`]'s `From` impls and `IntoResponse`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable across releases, e.g. `unauthorized`, `forbidden`, `invalid_query`, `rate_limited`.
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, "{}", self.message);
        }
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // Browsers answer the Basic challenge with a login prompt; API clients use Bearer.
            headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"streamify\""));
            headers.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"streamify\""));
        }
        response
    }
}

impl From<crate::serve::sql::SqlError> for ApiError {
    fn from(error: crate::serve::sql::SqlError) -> Self {
        if let crate::serve::sql::SqlError::Timeout { .. } = error {
            return Self::new(StatusCode::REQUEST_TIMEOUT, "query_timeout", error.to_string());
        }
        if error.is_user_error() {
            ApiError::bad_request("invalid_query", error.to_string())
        } else {
            ApiError::internal(error.to_string())
        }
    }
}

impl From<crate::bus::BusError> for ApiError {
    fn from(error: crate::bus::BusError) -> Self {
        use crate::bus::BusError;
        match &error {
            BusError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "record_too_large", error.to_string())
            }
            _ if error.retryable() => ApiError::unavailable(
                "log_unavailable",
                format!("{error}; nothing of this request was accepted, retry later"),
                5,
            ),
            _ => ApiError::internal(format!("{error}; nothing of this request was accepted")),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                status,
                "payload_too_large",
                "request body is larger than serve.max_body_bytes; send smaller batches",
            );
        }
        Self::new(status, "bad_body", rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request("invalid_parameter", rejection.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(rejection.status(), "invalid_json", rejection.body_text())
    }
}
