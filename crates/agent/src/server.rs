//! The agent's HTTP API (Ironic's agent API on port 9999): discovery
//! documents, `/v1/status`, the command endpoints (token checked on each),
//! and, in poll-only mode, `/v1/claim`. Paths work with and without the
//! `/v1` prefix and with and without a trailing slash, as conductors use
//! all of them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::commands::{self, Refusal};
use crate::error::error_body;
use crate::inventory;
use crate::state::{Agent, ClaimError};

type Params = Query<HashMap<String, String>>;

fn reply(code: StatusCode, body: Value) -> Response {
    (code, Json(body)).into_response()
}

fn refuse(code: StatusCode, kind: &str, message: &str) -> Response {
    reply(code, error_body(kind, code.as_u16(), message))
}

/// `None` when the request carries the agent token, else the 401 to send.
fn unauthorized(agent: &Agent, params: &Params) -> Option<Response> {
    if agent.token_ok(params.get("agent_token").map(String::as_str)) {
        return None;
    }
    Some(refuse(
        StatusCode::UNAUTHORIZED,
        "UnauthorizedError",
        "Invalid or missing agent token.",
    ))
}

fn wants_wait(params: &Params) -> bool {
    params
        .get("wait")
        .is_some_and(|w| matches!(w.to_ascii_lowercase().as_str(), "true" | "1"))
}

async fn root() -> Json<Value> {
    let v1 = json!({"id": "v1", "links": [{"href": "/v1/", "rel": "self"}]});
    Json(json!({
        "name": "Ferrite Agent",
        "description": "Ferrite's deploy-ramdisk agent, speaking Ironic's agent API.",
        "versions": [v1],
        "default_version": v1,
    }))
}

async fn v1() -> Json<Value> {
    Json(json!({
        "id": "v1",
        "commands": [{"href": "/v1/commands/", "rel": "self"}],
        "status": [{"href": "/v1/status", "rel": "self"}],
        "media_types": [{"base": "application/json", "type": "application/vnd.openstack.ironic-python-agent.v1+json"}],
    }))
}

/// `GET /v1/status`: start time and version; how the agent is driven;
/// and, while a poll-only agent is unclaimed, its MACs and inventory so a
/// conductor can recognise which node it is.
async fn status(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let mut body = json!({
        "started_at": agent.started_at(),
        "version": crate::VERSION,
        "mode": if agent.config.poll_only { "poll" } else { "callback" },
        "claimed": agent.claimed(),
        "node_uuid": agent.node_uuid(),
    });
    if agent.config.poll_only && !agent.claimed() {
        let inv = inventory::read(&agent.config.root);
        body["macs"] = json!(inv.macs());
        body["inventory"] = json!(inv);
    }
    Json(body)
}

async fn list(State(agent): State<Arc<Agent>>, params: Params) -> Response {
    if let Some(no) = unauthorized(&agent, &params) {
        return no;
    }
    reply(StatusCode::OK, json!({"commands": agent.commands.list()}))
}

async fn one(State(agent): State<Arc<Agent>>, Path(id): Path<String>, params: Params) -> Response {
    if let Some(no) = unauthorized(&agent, &params) {
        return no;
    }
    let found = if wants_wait(&params) {
        agent.commands.wait(&id).await
    } else {
        agent.commands.get(&id)
    };
    match found {
        Some(result) => reply(StatusCode::OK, json!(result)),
        None => refuse(
            StatusCode::NOT_FOUND,
            "RequestedObjectNotFoundError",
            &format!("Command {id} not found."),
        ),
    }
}

async fn run(
    State(agent): State<Arc<Agent>>,
    params: Params,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(no) = unauthorized(&agent, &params) {
        return no;
    }
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidContentError",
            "The command needs a name (\"<extension>.<command>\").",
        );
    };
    let cmd_params = body.get("params").cloned().unwrap_or_else(|| json!({}));
    if !cmd_params.is_object() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidContentError",
            "The command's params must be an object.",
        );
    }
    match commands::start(&agent, name, cmd_params).await {
        Ok(started) if wants_wait(&params) => {
            let done = agent.commands.wait(&started.id).await.unwrap_or(started);
            reply(StatusCode::OK, json!(done))
        }
        Ok(started) => reply(StatusCode::OK, json!(started)),
        Err(Refusal::Busy(running)) => refuse(
            StatusCode::CONFLICT,
            "AgentIsBusy",
            &format!("Agent is busy executing a command: {running}"),
        ),
        Err(Refusal::Invalid(e)) => reply(
            StatusCode::from_u16(e.code()).unwrap_or(StatusCode::BAD_REQUEST),
            e.to_json(),
        ),
    }
}

/// `POST /v1/claim` (poll-only mode): `{"node_uuid", "agent_token",
/// "node"?}`; accepted once (and again only identically), after which
/// every command needs that token.
async fn claim(State(agent): State<Arc<Agent>>, body: Option<Json<Value>>) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let uuid = body
        .get("node_uuid")
        .and_then(Value::as_str)
        .and_then(|u| uuid::Uuid::parse_str(u).ok());
    let token = body.get("agent_token").and_then(Value::as_str);
    let (Some(uuid), Some(token)) = (uuid, token) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidContentError",
            "A claim needs node_uuid (a UUID) and agent_token.",
        );
    };
    let node = body.get("node").filter(|n| n.is_object()).cloned();
    match agent.claim(uuid, token, node) {
        Ok(()) => reply(StatusCode::OK, json!({"claimed": true, "node_uuid": uuid})),
        Err(e) => {
            let code = match e {
                ClaimError::NotPollMode => StatusCode::FORBIDDEN,
                ClaimError::AlreadyClaimed(_) => StatusCode::CONFLICT,
                ClaimError::WeakToken => StatusCode::BAD_REQUEST,
            };
            refuse(code, "ClaimRefused", &e.to_string())
        }
    }
}

/// The agent's router.
pub fn router(agent: Arc<Agent>) -> Router {
    let mut r = Router::new().route("/", get(root));
    for prefix in ["", "/v1"] {
        if !prefix.is_empty() {
            r = r
                .route(prefix, get(v1))
                .route(&format!("{prefix}/"), get(v1));
        }
        for path in ["/commands", "/commands/"] {
            r = r.route(&format!("{prefix}{path}"), get(list).post(run));
        }
        r = r
            .route(&format!("{prefix}/commands/{{id}}"), get(one))
            .route(&format!("{prefix}/status"), get(status))
            .route(&format!("{prefix}/claim"), post(claim));
    }
    r.with_state(agent)
}
