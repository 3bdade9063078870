//! Bearer-token authorization's HTTP answers: 401 with `WWW-Authenticate: Bearer` for a
//! missing or wrong token, 403 for a `read` token on an operating endpoint.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error;
use crate::tokens::Denied;

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized(message) => {
                let mut r = error(StatusCode::UNAUTHORIZED, message);
                let bearer = header::HeaderValue::from_static("Bearer");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, bearer);
                r
            }
            Denied::Forbidden(message) => error(StatusCode::FORBIDDEN, message),
        }
    }
}
