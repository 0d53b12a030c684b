//! The HTTP client of the agent's command API (reference §7.4): every
//! command carries the node's agent token, asynchronous commands are
//! followed by polling their status until they end or a deadline passes,
//! and every failure is turned into a sentence fit for `last_error`
//! (the token never appears in it).

use std::time::Duration;

use serde_json::{Value, json};

/// Why talking to the agent failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentCallError {
    /// The agent could not be reached or answered something unreadable.
    #[error("the agent at {url} could not be reached: {reason}")]
    Unreachable {
        /// The agent's base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The agent refused the command (bad token, busy, bad request).
    #[error("the agent refused {command} (HTTP {status}): {message}")]
    Refused {
        /// The command's name.
        command: String,
        /// The HTTP status.
        status: u16,
        /// The agent's message.
        message: String,
    },
    /// The command ran and failed.
    #[error("{command} failed in the agent: {message}")]
    Failed {
        /// The command's name.
        command: String,
        /// The agent's `command_error` message.
        message: String,
    },
    /// The command did not end in time.
    #[error("{command} did not finish in the agent within {seconds} s")]
    TimedOut {
        /// The command's name.
        command: String,
        /// The deadline that passed.
        seconds: u64,
    },
}

/// A client for one agent, holding its URL and token.
#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// How long one HTTP exchange may take; long commands are followed with
/// repeated `wait=true` polls of this length.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The message of an agent error document (`command_error` or a refusal).
fn error_message(doc: &Value) -> String {
    for key in ["message", "faultstring", "details"] {
        if let Some(m) = doc
            .get(key)
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            return m.to_string();
        }
    }
    doc.to_string()
}

impl AgentClient {
    /// A client for the agent at `base` (`http://host:9999`) with `token`.
    pub fn new(base: &str, token: &str) -> AgentClient {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        AgentClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// The agent's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> AgentCallError {
        AgentCallError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        }
    }

    async fn read(
        &self,
        command: &str,
        reply: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, AgentCallError> {
        let reply = reply.map_err(|e| self.unreachable(e.without_url()))?;
        let status = reply.status();
        let body: Value = reply
            .json()
            .await
            .map_err(|e| self.unreachable(e.without_url()))?;
        if !status.is_success() {
            return Err(AgentCallError::Refused {
                command: command.to_string(),
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        Ok(body)
    }

    /// Runs `name` with `params` and, for an asynchronous command, polls
    /// until it ends or `timeout` passes; the command's `command_result`.
    pub async fn run(
        &self,
        name: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, AgentCallError> {
        let url = format!("{}/v1/commands/", self.base);
        let reply = self
            .http
            .post(&url)
            .query(&[("agent_token", self.token.as_str()), ("wait", "false")])
            .json(&json!({"name": name, "params": params}))
            .send()
            .await;
        let mut result = self.read(name, reply).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        while result.get("command_status").and_then(Value::as_str) == Some("RUNNING") {
            if tokio::time::Instant::now() >= deadline {
                return Err(AgentCallError::TimedOut {
                    command: name.to_string(),
                    seconds: timeout.as_secs(),
                });
            }
            let id = result.get("id").and_then(Value::as_str).unwrap_or_default();
            let reply = self
                .http
                .get(format!("{}/v1/commands/{id}", self.base))
                .query(&[("agent_token", self.token.as_str()), ("wait", "true")])
                .send()
                .await;
            result = match self.read(name, reply).await {
                Ok(r) => r,
                // A long command outlives one HTTP exchange: ask again.
                Err(AgentCallError::Unreachable { reason, .. }) if reason.contains("timed out") => {
                    result
                }
                Err(e) => return Err(e),
            };
        }
        match result.get("command_status").and_then(Value::as_str) {
            Some("SUCCEEDED") => Ok(result.get("command_result").cloned().unwrap_or(Value::Null)),
            _ => Err(AgentCallError::Failed {
                command: name.to_string(),
                message: result
                    .get("command_error")
                    .map(error_message)
                    .unwrap_or_else(|| "no error given".into()),
            }),
        }
    }

    /// `GET /v1/status`: what the agent says about itself (no token).
    pub async fn status(&self) -> Result<Value, AgentCallError> {
        let reply = self
            .http
            .get(format!("{}/v1/status", self.base))
            .send()
            .await;
        self.read("status", reply).await
    }

    /// Claims a poll-only agent for `node` with this client's token.
    pub async fn claim(&self, node: uuid::Uuid, document: Value) -> Result<(), AgentCallError> {
        let reply = self
            .http
            .post(format!("{}/v1/claim", self.base))
            .json(&json!({"node_uuid": node, "agent_token": self.token, "node": document}))
            .send()
            .await;
        self.read("claim", reply).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_the_agent_document() {
        assert_eq!(
            error_message(&json!({"type": "X", "message": "disk too small"})),
            "disk too small"
        );
        assert_eq!(
            error_message(&json!({"faultstring": "bad token"})),
            "bad token"
        );
        assert!(error_message(&json!({"code": 500})).contains("500"));
    }

    #[tokio::test]
    async fn an_absent_agent_is_reported_unreachable_with_its_url() {
        let c = AgentClient::new("http://127.0.0.1:9/", "secret-token");
        let e = c
            .run("standby.sync", json!({}), Duration::from_secs(1))
            .await;
        match e {
            Err(AgentCallError::Unreachable { url, reason }) => {
                assert_eq!(url, "http://127.0.0.1:9");
                assert!(!reason.contains("secret-token"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
