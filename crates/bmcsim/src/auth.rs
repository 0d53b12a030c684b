//! HTTP Basic and Redfish session authentication.
//!
//! Ironic's redfish driver can use either (`redfish_auth_type` basic,
//! session or auto), so both must behave like a real BMC: wrong credentials
//! get 401, a session's `X-Auth-Token` works until the session is deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use base64::Engine;
use hyper::HeaderMap;
use hyper::Method;

use crate::config::Credentials;

/// One login session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub token: String,
    pub username: String,
}

#[derive(Debug, Default)]
struct Table {
    by_token: HashMap<String, u64>,
    by_id: BTreeMap<u64, Session>,
}

/// All live sessions. Lookups take a read lock only, so concurrent
/// token-authenticated requests do not serialise.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    table: RwLock<Table>,
    next_id: AtomicU64,
}

impl Sessions {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session; returns its id and token.
    pub fn create(&self, username: &str) -> (u64, String) {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let token = new_token();
        let mut t = self.write();
        t.by_token.insert(token.clone(), id);
        t.by_id.insert(
            id,
            Session {
                token: token.clone(),
                username: username.to_string(),
            },
        );
        (id, token)
    }

    /// Whether `token` belongs to a live session.
    pub fn valid(&self, token: &str) -> bool {
        self.read().by_token.contains_key(token)
    }

    pub fn get(&self, id: u64) -> Option<Session> {
        self.read().by_id.get(&id).cloned()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.read().by_id.keys().copied().collect()
    }

    /// Ends a session; false if there was none.
    pub fn delete(&self, id: u64) -> bool {
        let mut t = self.write();
        match t.by_id.remove(&id) {
            Some(s) => {
                t.by_token.remove(&s.token);
                true
            }
            None => false,
        }
    }

    pub fn count(&self) -> usize {
        self.read().by_id.len()
    }
}

/// 128 random bits from the OS-seeded thread RNG, as hex.
fn new_token() -> String {
    let v: u128 = rand::random();
    format!("{v:032x}")
}

/// Outcome of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthCheck {
    Allowed,
    Denied,
}

/// Resources a client must reach before it can log in: the service root
/// (to discover the session service) and session creation itself.
pub(crate) fn is_public(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET => matches!(
            path,
            "/redfish" | "/redfish/v1" | "/redfish/v1/odata" | "/redfish/v1/$metadata"
        ),
        Method::POST => path == "/redfish/v1/SessionService/Sessions",
        _ => false,
    }
}

/// Checks Basic credentials or an `X-Auth-Token`.
pub(crate) fn check(creds: &Credentials, sessions: &Sessions, headers: &HeaderMap) -> AuthCheck {
    if let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        if sessions.valid(token) {
            return AuthCheck::Allowed;
        }
        return AuthCheck::Denied;
    }
    let Some(value) = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return AuthCheck::Denied;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return AuthCheck::Denied;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return AuthCheck::Denied;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return AuthCheck::Denied;
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return AuthCheck::Denied;
    };
    match text.split_once(':') {
        Some((u, p)) if matches(creds, u, p) => AuthCheck::Allowed,
        _ => AuthCheck::Denied,
    }
}

/// Whether a user name and password are the configured ones.
pub(crate) fn matches(creds: &Credentials, username: &str, password: &str) -> bool {
    username == creds.username && password == creds.password
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        h.insert(
            hyper::header::AUTHORIZATION,
            format!("Basic {v}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn basic_and_tokens() {
        let c = Credentials::default();
        let s = Sessions::default();
        assert_eq!(
            check(&c, &s, &basic("admin", "password")),
            AuthCheck::Allowed
        );
        assert_eq!(check(&c, &s, &basic("admin", "nope")), AuthCheck::Denied);
        assert_eq!(check(&c, &s, &HeaderMap::new()), AuthCheck::Denied);
        let (id, token) = s.create("admin");
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", token.parse().unwrap());
        assert_eq!(check(&c, &s, &h), AuthCheck::Allowed);
        assert!(s.delete(id));
        assert!(!s.delete(id));
        assert_eq!(check(&c, &s, &h), AuthCheck::Denied);
        assert_ne!(s.create("a").1, s.create("a").1);
    }

    #[test]
    fn public_paths() {
        assert!(is_public(&Method::GET, "/redfish/v1"));
        assert!(is_public(
            &Method::POST,
            "/redfish/v1/SessionService/Sessions"
        ));
        assert!(!is_public(
            &Method::GET,
            "/redfish/v1/SessionService/Sessions"
        ));
        assert!(!is_public(&Method::GET, "/redfish/v1/Systems"));
    }
}
