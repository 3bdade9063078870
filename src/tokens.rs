//! The admin API's bearer tokens and who they let in. Without configured tokens the API is
//! open, which the config only allows on a loopback address; with tokens, a missing or
//! wrong one is refused as unauthorized and a `read` token on an operating endpoint as
//! forbidden. The token's name becomes the actor recorded in the event history.
//!
//! Its own module, below both the admin API (which asks) and reconfiguration (which swaps
//! the secrets on reload), so that neither imports the other.

use std::sync::Arc;

use arc_swap::ArcSwap;
use hyper::header::{self, HeaderMap};

use crate::config::{Role, Token};

/// The current tokens; a config reload swaps them (secret rotation without a restart).
#[derive(Clone)]
pub struct Tokens(Arc<ArcSwap<Vec<Token>>>);

impl Tokens {
    pub fn new(tokens: Vec<Token>) -> Self {
        Tokens(Arc::new(ArcSwap::from_pointee(tokens)))
    }

    pub fn replace(&self, tokens: Vec<Token>) {
        self.0.store(Arc::new(tokens));
    }

    pub fn is_empty(&self) -> bool {
        self.0.load().is_empty()
    }

    /// The actor name when allowed, else why not.
    pub fn authorize(&self, headers: &HeaderMap, needed: Role) -> Result<String, Denied> {
        let tokens = self.0.load();
        if tokens.is_empty() {
            return Ok("local".into());
        }
        // The scheme is case-insensitive (RFC 7235); the secret is not.
        let offered = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, secret)| secret.trim());
        let Some(offered) = offered else {
            let msg = "missing bearer token (Authorization: Bearer ...)";
            return Err(Denied::Unauthorized(msg));
        };
        let Some(token) = tokens.iter().find(|t| t.secret.matches(offered)) else {
            return Err(Denied::Unauthorized("invalid token"));
        };
        if token.role < needed {
            let msg = format!(
                "token {:?} has the read role; this endpoint needs operate",
                token.name
            );
            return Err(Denied::Forbidden(msg));
        }
        Ok(token.name.clone())
    }
}

/// A refused request: unauthorized (no or wrong token, 401) or forbidden (a read token on
/// an operating endpoint, 403).
#[derive(Debug)]
pub enum Denied {
    Unauthorized(&'static str),
    Forbidden(String),
}
