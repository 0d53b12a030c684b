//! [`HttpBmcClient`]: the reqwest implementation of [`BmcClient`].
//!
//! One client per BMC (address + credentials + TLS + auth settings), kept
//! in a process-wide cache so every operation on a node reuses the same
//! connection pool and session instead of logging in again; a semaphore
//! caps the requests in flight to one BMC, because BMCs are small
//! embedded machines that fall over under parallel load; transient
//! failures (connection errors, timeouts, 5xx) are retried with
//! exponential backoff, client errors (4xx) are not.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, LOCATION};
use reqwest::{Certificate, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::client::{BmcClient, BmcError, BmcResponse, HttpMethod};
use super::config::{AuthType, RedfishConfig, Secret, VerifyCa};
use super::resources::ServiceRoot;

/// Tuning of the HTTP client. The defaults suit real BMCs; tests shorten
/// them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Limit for one request, connection included.
    pub request_timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Further attempts after a transient failure.
    pub max_retries: u32,
    /// The first backoff; each retry doubles it (capped at 8 s).
    pub retry_base_delay: Duration,
    /// Requests in flight to one BMC at most.
    pub max_concurrent_requests: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            max_concurrent_requests: 4,
        }
    }
}

/// Clients kept at most in the process-wide cache (Ironic's
/// `[redfish]connection_cache_size`); unused ones are dropped first.
const CACHE_CAPACITY: usize = 1000;

/// The process-wide cache: one client per distinct BMC configuration.
/// Keyed by the whole config minus the system id, so a password change
/// makes a new client (and a new session) rather than reusing a stale one.
static CACHE: LazyLock<Mutex<HashMap<CacheKey, Arc<HttpBmcClient>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    address: String,
    username: Option<String>,
    password: Secret,
    verify_ca: VerifyCa,
    auth_type: AuthType,
}

/// The cached client of the node's BMC, made on first use.
pub fn client_for(config: &RedfishConfig) -> Result<Arc<dyn BmcClient>, BmcError> {
    let key = CacheKey {
        address: config.address.clone(),
        username: config.username.clone(),
        password: config.password.clone(),
        verify_ca: config.verify_ca.clone(),
        auth_type: config.auth_type,
    };
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(client) = cache.get(&key) {
        return Ok(client.clone());
    }
    if cache.len() >= CACHE_CAPACITY {
        // Drop clients nobody holds; if all are busy, drop one anyway (its
        // holders keep it alive until they finish).
        cache.retain(|_, c| Arc::strong_count(c) > 1);
        if cache.len() >= CACHE_CAPACITY
            && let Some(victim) = cache.keys().next().cloned()
        {
            cache.remove(&victim);
        }
    }
    let client = Arc::new(HttpBmcClient::new(config, ClientOptions::default())?);
    cache.insert(key, client.clone());
    Ok(client)
}

/// How requests are authenticated right now.
#[derive(Clone)]
enum Auth {
    /// Not decided yet (session or auto before the first request).
    Pending,
    /// No credentials configured.
    Anonymous,
    /// HTTP basic.
    Basic,
    /// A session token.
    Session(Secret),
}

/// A BMC's Redfish service over HTTP(S).
pub struct HttpBmcClient {
    address: String,
    username: Option<String>,
    password: Secret,
    auth_type: AuthType,
    http: reqwest::Client,
    permits: Semaphore,
    options: ClientOptions,
    auth: tokio::sync::Mutex<Auth>,
    systems: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for HttpBmcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBmcClient")
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("auth_type", &self.auth_type)
            .finish()
    }
}

fn load_bundle(path: &std::path::Path) -> Result<Vec<Certificate>, BmcError> {
    let files = if path.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| BmcError::Config(format!("cannot read CA directory {path:?}: {e}")))?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut certs = Vec::new();
    for file in files {
        let pem = std::fs::read(&file)
            .map_err(|e| BmcError::Config(format!("cannot read CA bundle {file:?}: {e}")))?;
        match Certificate::from_pem_bundle(&pem) {
            Ok(found) => certs.extend(found),
            Err(e) => {
                return Err(BmcError::Config(format!(
                    "{file:?} is not a PEM CA bundle: {e}"
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(BmcError::Config(format!(
            "no CA certificate found in {path:?}"
        )));
    }
    Ok(certs)
}

/// Everything a reqwest error says, without its URL (the URL could only
/// hold what `redfish_address` holds, but a message is clearer without it).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The BMC's own explanation in a Redfish error body.
fn redfish_message(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let mut parts: Vec<String> = error
        .get("@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .map(|infos| {
            infos
                .iter()
                .filter_map(|i| i.get("Message").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty()
        && let Some(m) = error.get("message").and_then(Value::as_str)
    {
        parts.push(m.to_string());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error()
        && status != StatusCode::NOT_IMPLEMENTED
        && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED
}

/// Whether a failure may pass if the request is tried again.
fn is_transient(e: &BmcError) -> bool {
    match e {
        BmcError::Connect { .. } | BmcError::Timeout { .. } => true,
        BmcError::Http { status, .. } => StatusCode::from_u16(*status).is_ok_and(retryable_status),
        _ => false,
    }
}

/// What one attempt produced.
enum Attempt {
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    Transport(reqwest::Error),
}

impl HttpBmcClient {
    /// A client for the BMC of `config` (not cached: see [`client_for`]).
    pub fn new(config: &RedfishConfig, options: ClientOptions) -> Result<HttpBmcClient, BmcError> {
        let mut builder = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .pool_max_idle_per_host(options.max_concurrent_requests.max(1))
            .pool_idle_timeout(Duration::from_secs(60))
            // Redirects are followed only within the BMC (sushy-tools sends
            // 307s from system names to UUIDs): reqwest strips Authorization
            // on a cross-host redirect but not X-Auth-Token.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_origin = attempt.previous().last().is_some_and(|prev| {
                    prev.scheme() == attempt.url().scheme()
                        && prev.host_str() == attempt.url().host_str()
                        && prev.port_or_known_default() == attempt.url().port_or_known_default()
                });
                if same_origin && attempt.previous().len() < 5 {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .user_agent(concat!("ferrite/", env!("CARGO_PKG_VERSION")));
        match &config.verify_ca {
            VerifyCa::System => {}
            VerifyCa::Disabled => builder = builder.danger_accept_invalid_certs(true),
            VerifyCa::Bundle(path) => {
                builder = builder.tls_built_in_root_certs(false);
                for cert in load_bundle(path)? {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        let http = builder.build().map_err(|e| {
            BmcError::Config(format!("cannot build the HTTP client: {}", describe(e)))
        })?;
        let anonymous = config.username.is_none();
        Ok(HttpBmcClient {
            address: config.address.clone(),
            username: config.username.clone(),
            password: config.password.clone(),
            auth_type: config.auth_type,
            http,
            permits: Semaphore::new(options.max_concurrent_requests.max(1)),
            options,
            auth: tokio::sync::Mutex::new(match (anonymous, config.auth_type) {
                (true, _) => Auth::Anonymous,
                (false, AuthType::Basic) => Auth::Basic,
                (false, _) => Auth::Pending,
            }),
            systems: Mutex::new(HashMap::new()),
        })
    }

    /// Removes the password from text the BMC or the network stack
    /// produced, before it can reach an error message or a log line.
    fn scrub(&self, text: &str) -> String {
        let secret = self.password.expose();
        if secret.is_empty() {
            text.to_string()
        } else {
            text.replace(secret, "******")
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{path}", self.address)
        } else {
            format!("{}/{path}", self.address)
        }
    }

    /// One HTTP exchange, no retry.
    async fn send(
        &self,
        method: HttpMethod,
        path: &str,
        body: Option<&Value>,
        auth: &Auth,
    ) -> Attempt {
        let url = self.url(path);
        let mut request = match method {
            HttpMethod::Get => self.http.get(url),
            HttpMethod::Post => self.http.post(url),
            HttpMethod::Patch => self.http.patch(url),
            HttpMethod::Delete => self.http.delete(url),
        }
        .header("Accept", "application/json")
        .header("OData-Version", "4.0");
        match auth {
            Auth::Basic => {
                request = request.basic_auth(
                    self.username.as_deref().unwrap_or_default(),
                    Some(self.password.expose()),
                );
            }
            Auth::Session(token) => match HeaderValue::from_str(token.expose()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request = request.header("X-Auth-Token", value);
                }
                Err(_) => warn!(bmc = %self.address, "session token is not a valid header"),
            },
            Auth::Pending | Auth::Anonymous => {}
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(bytes) => Attempt::Answer {
                        status,
                        headers,
                        body: bytes.to_vec(),
                    },
                    Err(e) => Attempt::Transport(e),
                }
            }
            Err(e) => Attempt::Transport(e),
        }
    }

    /// Logs in (session or auto): a session when the BMC offers one,
    /// basic authentication for `auto` when it does not.
    async fn login(&self) -> Result<Auth, BmcError> {
        let root: Result<ServiceRoot, BmcError> = match self
            .send(HttpMethod::Get, "/redfish/v1/", None, &Auth::Anonymous)
            .await
        {
            Attempt::Answer { status, body, .. } if status.is_success() => {
                Ok(serde_json::from_slice(&body).unwrap_or_default())
            }
            Attempt::Answer { status, .. } => Err(BmcError::Http {
                address: self.address.clone(),
                method: HttpMethod::Get,
                path: "/redfish/v1/".into(),
                status: status.as_u16(),
                message: String::new(),
            }),
            Attempt::Transport(e) => Err(self.transport_error(e, HttpMethod::Get, "/redfish/v1/")),
        };
        let root = match (root, self.auth_type) {
            (Ok(root), _) => root,
            (Err(e @ BmcError::Connect { .. }), _) | (Err(e @ BmcError::Timeout { .. }), _) => {
                return Err(e);
            }
            (Err(_), AuthType::Auto) => return Ok(Auth::Basic),
            (Err(_), _) => ServiceRoot::default(),
        };
        let sessions = root
            .links
            .and_then(|l| l.sessions)
            .map(|s| s.id)
            .or_else(|| {
                root.session_service
                    .map(|s| format!("{}/Sessions", s.id.trim_end_matches('/')))
            });
        let sessions = match (sessions, self.auth_type) {
            (Some(path), _) => path,
            (None, AuthType::Auto) => {
                debug!(bmc = %self.address, "no session service, using basic authentication");
                return Ok(Auth::Basic);
            }
            (None, _) => "/redfish/v1/SessionService/Sessions".to_string(),
        };
        let credentials = json!({
            "UserName": self.username.as_deref().unwrap_or_default(),
            "Password": self.password.expose(),
        });
        let outcome = self
            .send(
                HttpMethod::Post,
                &sessions,
                Some(&credentials),
                &Auth::Anonymous,
            )
            .await;
        let failure = match outcome {
            Attempt::Answer {
                status, headers, ..
            } if status.is_success() => {
                match headers.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
                    Some(token) => return Ok(Auth::Session(Secret::new(token))),
                    None => BmcError::InvalidResponse {
                        address: self.address.clone(),
                        method: HttpMethod::Post,
                        path: sessions.clone(),
                        reason: "the session was created without an X-Auth-Token".into(),
                    },
                }
            }
            Attempt::Answer { status, body, .. } => {
                self.status_error(status, HttpMethod::Post, &sessions, &body)
            }
            Attempt::Transport(e) => {
                return Err(self.transport_error(e, HttpMethod::Post, &sessions));
            }
        };
        if self.auth_type == AuthType::Auto {
            debug!(bmc = %self.address, error = %failure, "session login failed, using basic authentication");
            Ok(Auth::Basic)
        } else {
            Err(failure)
        }
    }

    /// The authentication to use now, logging in first when needed.
    async fn current_auth(&self) -> Result<Auth, BmcError> {
        let mut auth = self.auth.lock().await;
        if matches!(*auth, Auth::Pending) {
            *auth = self.login().await?;
        }
        Ok(auth.clone())
    }

    /// Forgets a session the BMC rejected (unless another request already
    /// replaced it), so the next request logs in again.
    async fn drop_session(&self, rejected: &Secret) {
        let mut auth = self.auth.lock().await;
        if let Auth::Session(current) = &*auth
            && current == rejected
        {
            *auth = Auth::Pending;
        }
    }

    fn transport_error(&self, e: reqwest::Error, method: HttpMethod, path: &str) -> BmcError {
        if e.is_timeout() {
            BmcError::Timeout {
                address: self.address.clone(),
                method,
                path: path.to_string(),
            }
        } else {
            BmcError::Connect {
                address: self.address.clone(),
                reason: self.scrub(&describe(e)),
            }
        }
    }

    fn status_error(
        &self,
        status: StatusCode,
        method: HttpMethod,
        path: &str,
        body: &[u8],
    ) -> BmcError {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return BmcError::Auth {
                address: self.address.clone(),
                method,
                path: path.to_string(),
                status: status.as_u16(),
            };
        }
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| redfish_message(&v))
            .map(|m| {
                let mut m = self.scrub(&m);
                if m.len() > 400 {
                    let mut cut = 400;
                    while !m.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    m.truncate(cut);
                    m.push('…');
                }
                format!(": {m}")
            })
            .unwrap_or_default();
        BmcError::Http {
            address: self.address.clone(),
            method,
            path: path.to_string(),
            status: status.as_u16(),
            message,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(6);
        self.options
            .retry_base_delay
            .saturating_mul(factor)
            .min(Duration::from_secs(8))
    }
}

#[async_trait]
impl BmcClient for HttpBmcClient {
    fn address(&self) -> &str {
        &self.address
    }

    async fn request(
        &self,
        method: HttpMethod,
        path: &str,
        body: Option<&Value>,
    ) -> Result<BmcResponse, BmcError> {
        // The permit is held through retries and their backoff: a BMC that
        // is struggling gets fewer requests, not more.
        let Ok(_permit) = self.permits.acquire().await else {
            return Err(BmcError::Config("the BMC client was shut down".into()));
        };
        let mut attempt = 0u32;
        let mut relogged = false;
        loop {
            let auth = match self.current_auth().await {
                Ok(auth) => auth,
                // A login that failed for a passing reason is retried like
                // any request; refused credentials are final.
                Err(e) if is_transient(&e) && attempt < self.options.max_retries => {
                    let delay = self.backoff(attempt);
                    attempt += 1;
                    warn!(bmc = %self.address, attempt, error = %e, "retrying BMC login");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let error = match self.send(method, path, body, &auth).await {
                Attempt::Answer {
                    status,
                    headers,
                    body: bytes,
                } => {
                    if status.is_success() {
                        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                            None
                        } else {
                            match serde_json::from_slice(&bytes) {
                                Ok(v) => Some(v),
                                Err(_) if method != HttpMethod::Get => None,
                                Err(e) => {
                                    return Err(BmcError::InvalidResponse {
                                        address: self.address.clone(),
                                        method,
                                        path: path.to_string(),
                                        reason: format!("not JSON: {e}"),
                                    });
                                }
                            }
                        };
                        let location = headers
                            .get(LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        return Ok(BmcResponse {
                            status: status.as_u16(),
                            body,
                            location,
                        });
                    }
                    if status == StatusCode::UNAUTHORIZED
                        && let Auth::Session(token) = &auth
                        && !relogged
                    {
                        debug!(bmc = %self.address, "session rejected, logging in again");
                        self.drop_session(token).await;
                        relogged = true;
                        continue;
                    }
                    let error = self.status_error(status, method, path, &bytes);
                    if !retryable_status(status) {
                        return Err(error);
                    }
                    error
                }
                Attempt::Transport(e) => self.transport_error(e, method, path),
            };
            if attempt >= self.options.max_retries {
                return Err(error);
            }
            let delay = self.backoff(attempt);
            attempt += 1;
            warn!(bmc = %self.address, %method, path, attempt, error = %error, "retrying BMC request");
            tokio::time::sleep(delay).await;
        }
    }

    async fn system_path(&self, system_id: Option<&str>) -> Result<String, BmcError> {
        let key = system_id.unwrap_or_default().to_string();
        if let Some(found) = self
            .systems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let found = super::client::discover_system(self, system_id).await?;
        self.systems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }
}
