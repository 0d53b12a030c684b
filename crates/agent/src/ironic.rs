//! The agent's side of the callback protocol, as Ironic's agent does it:
//! version discovery, in-band inspection (`continue_inspection`), lookup
//! by MAC (retried until the node is found), then heartbeats carrying the
//! callback URL and the agent token at the interval the API asked for.

use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::error::AgentError;
use crate::inventory;
use crate::state::Agent;

/// The header carrying the API microversion.
const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";

/// The version assumed when discovery fails (what Ironic's agent assumes).
const FALLBACK_MINOR: u32 = 31;

/// The masked token a repeated lookup answers.
const MASKED: &str = "******";

/// A client of the API's agent endpoints.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    max_minor: u32,
}

fn api_err(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::Api(format!("{what}: {e}"))
}

impl ApiClient {
    /// Connects to `base` (the API URL) and learns its highest microversion.
    pub async fn discover(base: &str) -> Result<ApiClient, AgentError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| api_err("building the HTTP client", e))?;
        let root: Option<Value> = match http.get(format!("{base}/")).send().await {
            Ok(r) => r.json().await.ok(),
            Err(e) => {
                warn!(error = %e, "API version discovery failed");
                None
            }
        };
        let max_minor = root
            .as_ref()
            .and_then(|r| r["default_version"]["version"].as_str())
            .and_then(|v| v.strip_prefix("1."))
            .and_then(|m| m.parse().ok())
            .unwrap_or(FALLBACK_MINOR);
        Ok(ApiClient {
            http,
            base: base.to_string(),
            max_minor,
        })
    }

    fn version(&self, wanted: u32) -> (u32, String) {
        let minor = self.max_minor.min(wanted);
        (minor, format!("1.{minor}"))
    }

    /// Sends the inventory to `url` (`continue_inspection`); from 1.84 the
    /// answer is a lookup document.
    pub async fn continue_inspection(&self, url: &str, agent: &Agent) -> Result<Value, AgentError> {
        let inventory = inventory::read(&agent.config.root);
        let mut request = self.http.post(url).json(&json!({"inventory": inventory}));
        if self.max_minor >= 84 {
            request = request.header(VERSION_HEADER, "1.84");
        }
        let response = request.send().await.map_err(|e| api_err("inspection", e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(api_err("inspection", format!("{status}: {body}")));
        }
        Ok(body)
    }

    /// One lookup by the machine's MACs.
    pub async fn lookup(&self, macs: &[String]) -> Result<Option<Value>, AgentError> {
        let (_, version) = self.version(62);
        let response = self
            .http
            .get(format!("{}/v1/lookup", self.base))
            .query(&[("addresses", macs.join(","))])
            .header(VERSION_HEADER, version)
            .send()
            .await
            .map_err(|e| api_err("lookup", e))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => response
                .json()
                .await
                .map(Some)
                .map_err(|e| api_err("lookup", e)),
            s => Err(api_err("lookup", s)),
        }
    }

    /// One heartbeat; the API's status code.
    pub async fn heartbeat(
        &self,
        node: uuid::Uuid,
        callback_url: &str,
        token: &str,
    ) -> Result<StatusCode, AgentError> {
        let (minor, version) = self.version(68);
        let mut body = json!({"callback_url": callback_url});
        if minor >= 36 {
            body["agent_version"] = json!(crate::VERSION);
        }
        if minor >= 62 {
            body["agent_token"] = json!(token);
        }
        self.http
            .post(format!("{}/v1/heartbeat/{node}", self.base))
            .header(VERSION_HEADER, version)
            .json(&body)
            .send()
            .await
            .map(|r| r.status())
            .map_err(|e| api_err("heartbeat", e))
    }
}

/// The address the conductor can reach the agent at: the configured one,
/// else the local address of the route towards the API.
pub fn advertise_host(agent: &Agent) -> Result<IpAddr, AgentError> {
    if let Some(host) = &agent.config.advertise_host {
        return host
            .parse()
            .map_err(|_| AgentError::InvalidParams(format!("advertise host {host} is not an IP")));
    }
    let api = agent.config.api_url.as_deref().unwrap_or_default();
    let url = reqwest::Url::parse(api).map_err(|e| api_err("API URL", e))?;
    let host = url
        .host_str()
        .ok_or_else(|| api_err("API URL", "no host"))?
        .trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(80);
    let any = if host.contains(':') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket =
        UdpSocket::bind(any).map_err(|e| AgentError::io("finding the route to the API", e))?;
    socket
        .connect((host, port))
        .and_then(|_| socket.local_addr())
        .map(|a| a.ip())
        .map_err(|e| AgentError::io("finding the route to the API", e))
}

/// The heartbeat interval for a `heartbeat_timeout`: a random point in
/// 30–60 % of it, never under 5 s (spreads a fleet's heartbeats).
pub fn heartbeat_interval(timeout_secs: u64) -> Duration {
    let r = f64::from(crate::entropy::u64() as u16) / f64::from(u16::MAX);
    let secs = timeout_secs as f64 * (0.3 + 0.3 * r);
    Duration::from_secs_f64(secs.max(5.0))
}

/// Takes the node and token of a lookup-shaped document; the
/// `heartbeat_timeout` it asks for.
fn adopt(agent: &Agent, doc: &Value) -> Result<u64, AgentError> {
    let uuid = doc["node"]["uuid"]
        .as_str()
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .ok_or_else(|| api_err("lookup", "the answer names no node"))?;
    let token = doc["config"]["agent_token"]
        .as_str()
        .filter(|t| *t != MASKED && !t.is_empty())
        .map(str::to_string);
    agent.adopt_lookup(uuid, doc["node"].clone(), token);
    if agent.token().is_none() {
        return Err(api_err(
            "lookup",
            "the agent token was already handed out and this agent has none \
             (reboot the node into the ramdisk to get a new one)",
        ));
    }
    Ok(doc["config"]["heartbeat_timeout"].as_u64().unwrap_or(300))
}

/// Finds the node: by inspection when a callback URL is set, else by
/// lookup, retrying with backoff until the configured timeout.
async fn find_node(agent: &Agent, api: &ApiClient) -> Result<u64, AgentError> {
    if let Some(url) = &agent.config.inspection_callback_url {
        let doc = api.continue_inspection(url, agent).await?;
        if doc.get("node").is_some() {
            return adopt(agent, &doc);
        }
    }
    let macs = inventory::read(&agent.config.root).macs();
    if macs.is_empty() {
        return Err(api_err("lookup", "no network interface with a MAC address"));
    }
    let deadline = Instant::now() + agent.config.lookup_timeout;
    let mut wait = Duration::from_millis(500);
    loop {
        match api.lookup(&macs).await {
            Ok(Some(doc)) => return adopt(agent, &doc),
            Ok(None) => info!("lookup: node not found yet"),
            Err(e) => warn!(error = %e, "lookup failed"),
        }
        if Instant::now() + wait > deadline {
            return Err(api_err("lookup", "timed out; no node has these MACs"));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 3 / 2).min(Duration::from_secs(30));
    }
}

/// Runs the callback protocol until the agent stops: find the node, then
/// heartbeat (the first at once).
pub async fn run(agent: Arc<Agent>) -> Result<(), AgentError> {
    let base = agent
        .config
        .api_url
        .clone()
        .ok_or_else(|| api_err("callback mode", "no API URL"))?;
    let api = ApiClient::discover(&base).await?;
    let timeout = find_node(&agent, &api).await?;
    let host = advertise_host(&agent)?;
    let callback = match host {
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", agent.config.listen_port),
        IpAddr::V4(v4) => format!("http://{v4}:{}", agent.config.listen_port),
    };
    let node = agent
        .node_uuid()
        .ok_or_else(|| api_err("heartbeat", "no node"))?;
    info!(%node, %callback, "found the node; heartbeating");
    loop {
        let token = agent.token().unwrap_or_default();
        let next = match api.heartbeat(node, &callback, &token).await {
            Ok(s) if s.is_success() => heartbeat_interval(timeout),
            Ok(StatusCode::CONFLICT) => Duration::from_secs(5),
            Ok(s) => {
                warn!(status = %s, "heartbeat refused");
                Duration::from_secs(5)
            }
            Err(e) => {
                warn!(error = %e, "heartbeat failed");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = agent.stopped() => return Ok(()),
        }
    }
}
