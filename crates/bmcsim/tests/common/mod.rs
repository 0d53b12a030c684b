//! Shared helpers for bmcsim's integration tests: start a simulator on a
//! free loopback port and talk Redfish to it with reqwest, as a driver would.

#![allow(dead_code)]

pub mod bin;

use std::time::{Duration, Instant};

use ferrite_bmcsim::{Config, Simulator};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

pub const USER: &str = "admin";
pub const PASS: &str = "password";

/// A running simulator plus a client that authenticates with Basic.
pub struct Sim {
    pub sim: Simulator,
    pub http: Client,
}

impl Sim {
    pub async fn start(config: Config) -> Sim {
        let sim = Simulator::start(config).await.expect("simulator starts");
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Sim { sim, http }
    }

    pub async fn with_systems(n: usize) -> Sim {
        Sim::start(Config {
            systems: n,
            ..Config::default()
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path)
    }

    pub fn sys(&self, index: usize) -> String {
        self.sim.fleet().system_path(index)
    }

    /// Sends an authenticated request; returns status and parsed body
    /// (`Null` for empty bodies).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .basic_auth(USER, Some(PASS));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e})"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Control API call (no auth).
    pub async fn control(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("control request");
        let status = resp.status();
        (status, resp.json().await.expect("control JSON"))
    }

    pub async fn reset(&self, index: usize, kind: &str) -> StatusCode {
        let path = format!("{}/Actions/ComputerSystem.Reset", self.sys(index));
        self.post(&path, serde_json::json!({"ResetType": kind}))
            .await
            .0
    }

    pub async fn power_state(&self, index: usize) -> String {
        self.get(&self.sys(index)).await["PowerState"]
            .as_str()
            .expect("PowerState is a string")
            .to_string()
    }

    /// Polls the system's PowerState until it equals `want`, recording every
    /// distinct state seen on the way. Panics after `limit`.
    pub async fn poll_power(&self, index: usize, want: &str, limit: Duration) -> Vec<String> {
        let start = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let state = self.power_state(index).await;
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == want {
                return seen;
            }
            assert!(
                start.elapsed() < limit,
                "power never reached {want}; saw {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
