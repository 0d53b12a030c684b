//! A typed async client for the OpenStack Ironic v1 API.
//!
//! Ferrite speaks the Ironic API, so this one client serves Ferrite's own
//! tools (the benchmark `ferrite-bench`, tests, the operator CLI) and works
//! unchanged against a real Ironic: it is how Ferrite is measured side by side
//! with Ironic. It does what the official clients do and nothing clever:
//!
//! - one pooled HTTP connection set (reqwest with rustls) shared by clones, so
//!   thousands of concurrent calls reuse a few sockets;
//! - the microversion header `X-OpenStack-Ironic-API-Version` on every request
//!   (default `latest`), so field sets and state names are predictable;
//! - optional HTTP basic auth (Ironic standalone's `http_basic`);
//! - errors decoded from Ironic's double-encoded body into [`Error::Api`] with
//!   the status and `faultstring`;
//! - bounded retries of "node locked" 409s and 503s, as python-ironicclient
//!   does, so callers under contention do not each reinvent them;
//! - waits that poll with a timeout and never spin.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferrite_client::Error> {
//! use std::time::Duration;
//! use ferrite_client::Client;
//! let client = Client::builder("http://127.0.0.1:6385").build()?;
//! let node = client
//!     .create_node(&serde_json::json!({"driver": "fake-hardware", "name": "n1"}))
//!     .await?;
//! client.set_provision_state("n1", "manage", None).await?;
//! client
//!     .wait_for_provision_state("n1", "manageable", Duration::from_secs(60))
//!     .await?;
//! # let _ = node; Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
mod types;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::{Error, decode_error_body};
/// The HTTP method type [`Client::request_raw`] takes, re-exported so callers
/// need not depend on reqwest themselves.
pub use reqwest::Method as HttpMethod;
pub use types::{Dict, ListQuery, Node, NodeList, PatchOp, Port, PortList};

/// The header that carries the requested (and, in responses, negotiated)
/// microversion.
pub const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";

/// The largest page Ironic serves (`[api]max_limit`); list-all helpers ask
/// for pages of this size to make as few round trips as possible.
pub const MAX_PAGE: usize = 1000;

/// How many times, and how patiently, retryable errors (node locked, 503)
/// are retried before being returned to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// Delay before the first retry; each further retry waits one more
    /// multiple of it (linear backoff), capped at [`RetryPolicy::max_delay`].
    pub delay: Duration,
    /// Upper bound of a single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// python-ironicclient's default is 5 retries 2 s apart; a shorter first
    /// delay suits Ferrite, whose locks are held for milliseconds.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: every error goes straight back to the caller (what
    /// tests of the error responses themselves want).
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    fn delay_for(&self, attempt: u32) -> Duration {
        self.delay
            .saturating_mul(attempt.max(1))
            .min(self.max_delay)
    }
}

/// Configures a [`Client`]; obtained from [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_version: String,
    basic_auth: Option<(String, String)>,
    timeout: Duration,
    pool_idle_per_host: usize,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// The microversion to request (`"1.49"`, `"latest"`). Pinning one makes
    /// responses stable across server upgrades.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// HTTP basic credentials, for servers running `http_basic` auth.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Per-request timeout (connect + response), default 60 s, so no call can
    /// hang forever on a wedged server.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Idle connections kept per host; set it to the caller's concurrency so
    /// concurrent requests reuse sockets instead of opening new ones.
    pub fn pool_idle_per_host(mut self, n: usize) -> Self {
        self.pool_idle_per_host = n;
        self
    }

    /// How retryable errors are retried (see [`RetryPolicy`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client. Fails only on an unusable base URL or if the TLS
    /// backend cannot be initialised.
    pub fn build(self) -> Result<Client, Error> {
        let mut base = self.base_url.trim().trim_end_matches('/').to_string();
        if let Some(stripped) = base.strip_suffix("/v1") {
            base = stripped.to_string();
        }
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || base.len() <= "https://".len()
        {
            return Err(Error::InvalidUrl(self.base_url));
        }
        let version = HeaderValue::from_str(&self.api_version)
            .map_err(|_| Error::InvalidUrl(format!("bad API version {:?}", self.api_version)))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(self.pool_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(concat!("ferrite-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                basic_auth: self.basic_auth,
                retry: self.retry,
                version,
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    base: String,
    basic_auth: Option<(String, String)>,
    retry: RetryPolicy,
    /// Sent on each request (not as a default header, so that one request
    /// can leave it out).
    version: HeaderValue,
}

/// A handle on one Ironic-API endpoint. Cloning is cheap and clones share the
/// connection pool, so hand one clone to each task.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are deliberately left out.
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// A response exactly as received, for callers that need the status and
/// headers of non-2xx answers (tests of the error shape, version headers).
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as text (empty for 202/204).
    pub body: String,
}

impl RawResponse {
    /// The body parsed as JSON, `Value::Null` when empty.
    pub fn json(&self) -> Result<Value, Error> {
        if self.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.body).map_err(|source| Error::Decode {
            what: format!("HTTP {} body", self.status),
            source,
        })
    }
}

/// Percent-encodes a path segment (node names are RFC 3986 "unreserved"
/// already, but a caller's typo must not turn into a different path).
fn segment(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len());
    for b in ident.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a provision state is one a node does not leave on its own, so a
/// wait for another state can stop early.
pub fn is_failure_state(state: &str) -> bool {
    state == "error" || state.ends_with(" failed")
}

impl Client {
    /// Starts configuring a client for the endpoint at `base_url`
    /// (`http://host:6385`; a trailing `/v1` is accepted and ignored).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_version: "latest".into(),
            basic_auth: None,
            timeout: Duration::from_secs(60),
            pool_idle_per_host: 64,
            retry: RetryPolicy::default(),
        }
    }

    /// The base URL requests are made against (without `/v1`).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Sends one request and returns whatever came back, without retrying
    /// and without turning error statuses into errors. `path` starts with
    /// `/` (e.g. `/v1/nodes`); `version` overrides the microversion header
    /// for this request only (`Some("")` sends none at all).
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        query: &ListQuery,
        body: Option<&Value>,
        version: Option<&str>,
    ) -> Result<RawResponse, Error> {
        let url = format!("{}{}", self.inner.base, path);
        let mut req = self.inner.http.request(method, url);
        if !query.pairs().is_empty() {
            req = req.query(query.pairs());
        }
        if let Some((user, password)) = &self.inner.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        match version {
            None => req = req.header(VERSION_HEADER, self.inner.version.clone()),
            Some("") => {}
            Some(v) => {
                let value = HeaderValue::from_str(v)
                    .map_err(|_| Error::InvalidUrl(format!("bad API version {v:?}")))?;
                req = req.header(VERSION_HEADER, value);
            }
        }
        let req = req.build()?;
        let resp = self.inner.http.execute(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends a request, retrying retryable failures per the policy, and turns
    /// any non-2xx status into [`Error::Api`].
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &ListQuery,
        body: Option<&Value>,
    ) -> Result<RawResponse, Error> {
        let mut attempt = 0;
        loop {
            let resp = self
                .request_raw(method.clone(), path, query, body, None)
                .await?;
            if StatusCode::from_u16(resp.status).is_ok_and(|s| s.is_success()) {
                return Ok(resp);
            }
            let err = Error::Api {
                status: resp.status,
                faultstring: decode_error_body(&resp.body),
                body: resp.body,
            };
            if err.is_retryable() && attempt < self.inner.retry.max_retries {
                attempt += 1;
                tokio::time::sleep(self.inner.retry.delay_for(attempt)).await;
                continue;
            }
            return Err(err);
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &ListQuery,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let what = format!("{method} {path}");
        let resp = self.call(method, path, query, body).await?;
        serde_json::from_str(&resp.body).map_err(|source| Error::Decode { what, source })
    }

    /// `GET /`: the root document (name, default and supported versions).
    pub async fn root(&self) -> Result<Value, Error> {
        self.call_json(Method::GET, "/", &ListQuery::new(), None)
            .await
    }

    /// `GET /v1`: the v1 document (resource links, version range).
    pub async fn v1(&self) -> Result<Value, Error> {
        self.call_json(Method::GET, "/v1", &ListQuery::new(), None)
            .await
    }

    /// The highest microversion the server offers, from `GET /`
    /// (`default_version.version`).
    pub async fn max_version(&self) -> Result<String, Error> {
        let root = self.root().await?;
        Ok(root
            .pointer("/default_version/version")
            .and_then(Value::as_str)
            .unwrap_or("1.1")
            .to_string())
    }

    /// `POST /v1/nodes`: enrolls a node from a JSON body
    /// (`{"driver": "fake-hardware", "name": …}`); returns it as created.
    pub async fn create_node(&self, body: &Value) -> Result<Node, Error> {
        self.call_json(Method::POST, "/v1/nodes", &ListQuery::new(), Some(body))
            .await
    }

    /// `GET /v1/nodes/{ident}` by UUID or name, every field.
    pub async fn get_node(&self, ident: &str) -> Result<Node, Error> {
        let path = format!("/v1/nodes/{}", segment(ident));
        self.call_json(Method::GET, &path, &ListQuery::new(), None)
            .await
    }

    /// `GET /v1/nodes/{ident}?fields=…`: only the named fields, which is what
    /// pollers should use to keep responses small.
    pub async fn get_node_fields(&self, ident: &str, fields: &[&str]) -> Result<Node, Error> {
        let path = format!("/v1/nodes/{}", segment(ident));
        self.call_json(Method::GET, &path, &ListQuery::new().fields(fields), None)
            .await
    }

    /// `GET /v1/nodes/{ident}/states`: the node's state summary.
    pub async fn get_node_states(&self, ident: &str) -> Result<Value, Error> {
        let path = format!("/v1/nodes/{}/states", segment(ident));
        self.call_json(Method::GET, &path, &ListQuery::new(), None)
            .await
    }

    /// `GET /v1/nodes` with the given query: one page.
    pub async fn list_nodes(&self, query: &ListQuery) -> Result<NodeList, Error> {
        self.call_json(Method::GET, "/v1/nodes", query, None).await
    }

    /// Every node matching `query`, following `next` links page by page.
    /// Uses pages of [`MAX_PAGE`] unless the query sets `limit`.
    pub async fn list_nodes_all(&self, query: &ListQuery) -> Result<Vec<Node>, Error> {
        let mut query = query.clone();
        if !query.pairs().iter().any(|(k, _)| k == "limit") {
            query = query.limit(MAX_PAGE);
        }
        let mut out = Vec::new();
        loop {
            let page = self.list_nodes(&query).await?;
            let got = page.nodes.len();
            out.extend(page.nodes);
            match page.next {
                // An empty page with a `next` link would loop forever.
                Some(next) if got > 0 => query = ListQuery::from_next_url(&next),
                _ => return Ok(out),
            }
        }
    }

    /// Pages through every node matching `query` like
    /// [`Client::list_nodes_all`], but only checks that each page is valid
    /// JSON of the documented shape and counts the items instead of building
    /// them: the cost a benchmark should attribute to the server, not to
    /// this client's data structures. Returns (nodes, pages).
    pub async fn count_nodes_all(&self, query: &ListQuery) -> Result<(usize, usize), Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            nodes: Vec<serde::de::IgnoredAny>,
            #[serde(default)]
            next: Option<String>,
        }
        let mut query = query.clone();
        if !query.pairs().iter().any(|(k, _)| k == "limit") {
            query = query.limit(MAX_PAGE);
        }
        let (mut count, mut pages) = (0, 0);
        loop {
            let page: Page = self
                .call_json(Method::GET, "/v1/nodes", &query, None)
                .await?;
            pages += 1;
            count += page.nodes.len();
            match page.next {
                Some(next) if !page.nodes.is_empty() => query = ListQuery::from_next_url(&next),
                _ => return Ok((count, pages)),
            }
        }
    }

    /// `PATCH /v1/nodes/{ident}` with a JSON Patch; returns the updated node.
    pub async fn patch_node(&self, ident: &str, ops: &[PatchOp]) -> Result<Node, Error> {
        let path = format!("/v1/nodes/{}", segment(ident));
        let body = serde_json::to_value(ops).map_err(|source| Error::Decode {
            what: "patch body".into(),
            source,
        })?;
        self.call_json(Method::PATCH, &path, &ListQuery::new(), Some(&body))
            .await
    }

    /// `DELETE /v1/nodes/{ident}`.
    pub async fn delete_node(&self, ident: &str) -> Result<(), Error> {
        let path = format!("/v1/nodes/{}", segment(ident));
        self.call(Method::DELETE, &path, &ListQuery::new(), None)
            .await
            .map(drop)
    }

    /// `PUT /v1/nodes/{ident}/states/provision` with `{"target": target}`
    /// plus any `extras` (configdrive, clean_steps, deploy_steps,
    /// rescue_password, …). Returns once the server accepted it (202); use
    /// [`Client::wait_for_provision_state`] to wait for the outcome.
    pub async fn set_provision_state(
        &self,
        ident: &str,
        target: &str,
        extras: Option<&Dict>,
    ) -> Result<(), Error> {
        let mut body = Dict::new();
        if let Some(extras) = extras {
            body.extend(extras.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        body.insert("target".into(), Value::String(target.into()));
        let path = format!("/v1/nodes/{}/states/provision", segment(ident));
        self.call(
            Method::PUT,
            &path,
            &ListQuery::new(),
            Some(&Value::Object(body)),
        )
        .await
        .map(drop)
    }

    /// `PUT /v1/nodes/{ident}/states/power` with `target` (`power on`,
    /// `power off`, `rebooting`, `soft power off`, `soft rebooting`) and an
    /// optional timeout in seconds (soft variants, 1.27+).
    pub async fn set_power_state(
        &self,
        ident: &str,
        target: &str,
        timeout: Option<u64>,
    ) -> Result<(), Error> {
        let mut body = serde_json::json!({ "target": target });
        if let Some(t) = timeout {
            body["timeout"] = Value::from(t);
        }
        let path = format!("/v1/nodes/{}/states/power", segment(ident));
        self.call(Method::PUT, &path, &ListQuery::new(), Some(&body))
            .await
            .map(drop)
    }

    /// `PUT /v1/nodes/{ident}/maintenance`: puts the node in maintenance
    /// with an optional reason.
    pub async fn set_maintenance(&self, ident: &str, reason: Option<&str>) -> Result<(), Error> {
        let body = match reason {
            Some(r) => serde_json::json!({ "reason": r }),
            None => serde_json::json!({}),
        };
        let path = format!("/v1/nodes/{}/maintenance", segment(ident));
        self.call(Method::PUT, &path, &ListQuery::new(), Some(&body))
            .await
            .map(drop)
    }

    /// `DELETE /v1/nodes/{ident}/maintenance`: takes the node out of
    /// maintenance.
    pub async fn unset_maintenance(&self, ident: &str) -> Result<(), Error> {
        let path = format!("/v1/nodes/{}/maintenance", segment(ident));
        self.call(Method::DELETE, &path, &ListQuery::new(), None)
            .await
            .map(drop)
    }

    /// Polls the node until its provision state is `expected`, and returns
    /// it. Fails early with
    /// [`Error::WaitFailed`] when the node lands in a failure state (`… failed`,
    /// `error`) and with [`Error::Timeout`] after `timeout`. Polls with a
    /// growing interval (50 ms to 1 s) and only the fields it needs.
    pub async fn wait_for_provision_state(
        &self,
        ident: &str,
        expected: &str,
        timeout: Duration,
    ) -> Result<Node, Error> {
        let fields = [
            "uuid",
            "provision_state",
            "target_provision_state",
            "last_error",
        ];
        let start = Instant::now();
        let mut interval = Duration::from_millis(50);
        loop {
            let node = self.get_node_fields(ident, &fields).await?;
            let state = node.provision_state.clone().unwrap_or_default();
            // Only the state counts, as in python-ironicclient: failure
            // states keep a target (`deploy failed` → `active`).
            if state == expected {
                return Ok(node);
            }
            if is_failure_state(&state) {
                return Err(Error::WaitFailed {
                    node: ident.into(),
                    state,
                    expected: expected.into(),
                    last_error: node.last_error.unwrap_or_default(),
                });
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!("node {ident} to reach {expected:?}"),
                    waited: start.elapsed(),
                    last_seen: state,
                });
            }
            tokio::time::sleep(interval.min(timeout.saturating_sub(start.elapsed()))).await;
            interval = (interval * 2).min(Duration::from_secs(1));
        }
    }

    /// Polls the node until its power state is `expected` (`power on`,
    /// `power off`) and no power action is pending; [`Error::Timeout`] after
    /// `timeout`.
    pub async fn wait_for_power_state(
        &self,
        ident: &str,
        expected: &str,
        timeout: Duration,
    ) -> Result<Node, Error> {
        let fields = ["uuid", "power_state", "target_power_state"];
        let start = Instant::now();
        let mut interval = Duration::from_millis(50);
        loop {
            let node = self.get_node_fields(ident, &fields).await?;
            if node.power_state.as_deref() == Some(expected) && node.target_power_state.is_none() {
                return Ok(node);
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!("node {ident} to reach power state {expected:?}"),
                    waited: start.elapsed(),
                    last_seen: node.power_state.unwrap_or_else(|| "null".into()),
                });
            }
            tokio::time::sleep(interval.min(timeout.saturating_sub(start.elapsed()))).await;
            interval = (interval * 2).min(Duration::from_secs(1));
        }
    }

    /// `POST /v1/ports` (`{"address": mac, "node_uuid": …}`).
    pub async fn create_port(&self, body: &Value) -> Result<Port, Error> {
        self.call_json(Method::POST, "/v1/ports", &ListQuery::new(), Some(body))
            .await
    }

    /// `GET /v1/ports/{uuid}`.
    pub async fn get_port(&self, ident: &str) -> Result<Port, Error> {
        let path = format!("/v1/ports/{}", segment(ident));
        self.call_json(Method::GET, &path, &ListQuery::new(), None)
            .await
    }

    /// `GET /v1/ports` with the given query (e.g. `node=<ident>`,
    /// `address=<mac>`, `detail=true`): one page.
    pub async fn list_ports(&self, query: &ListQuery) -> Result<PortList, Error> {
        self.call_json(Method::GET, "/v1/ports", query, None).await
    }

    /// `DELETE /v1/ports/{uuid}`.
    pub async fn delete_port(&self, ident: &str) -> Result<(), Error> {
        let path = format!("/v1/ports/{}", segment(ident));
        self.call(Method::DELETE, &path, &ListQuery::new(), None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests;
