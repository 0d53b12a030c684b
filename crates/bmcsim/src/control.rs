//! The simulator's own control API under `/bmcsim`: pin faults to a
//! system, flip power out of band, change the random failure policy, read
//! counters. It is never authenticated, delayed or faulted, so a test can
//! always reach it to make a BMC fail and recover.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::FailureKind;
use crate::fleet::Fleet;
use crate::state::{PowerState, SystemFault};

type AppState = std::sync::Arc<Fleet>;

/// Control API routes.
pub(crate) fn router(fleet: AppState) -> Router {
    Router::new()
        .route("/bmcsim", get(index))
        .route("/bmcsim/stats", get(stats))
        .route("/bmcsim/failures", get(get_failures).put(put_failures))
        .route("/bmcsim/systems/{id}", get(get_system))
        .route(
            "/bmcsim/systems/{id}/faults",
            get(get_fault)
                .post(post_fault)
                .put(post_fault)
                .delete(delete_fault),
        )
        .route("/bmcsim/systems/{id}/power", post(post_power))
        .route(
            "/bmcsim/subscriptions",
            get(get_subscriptions).delete(delete_subscriptions),
        )
        .fallback(|| async { err(StatusCode::NOT_FOUND, "no such control endpoint") })
        .with_state(fleet)
}

/// A control API failure: status plus a one-line reason.
#[derive(Debug)]
struct CtlError(StatusCode, String);

impl IntoResponse for CtlError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

fn err(status: StatusCode, message: impl Into<String>) -> CtlError {
    CtlError(status, message.into())
}

type CtlResult = Result<Response, CtlError>;

fn ok(v: Value) -> CtlResult {
    Ok(axum::Json(v).into_response())
}

fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T, CtlError> {
    serde_json::from_slice(b)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad request body: {e}")))
}

fn index_of(fleet: &Fleet, id: &str) -> Result<usize, CtlError> {
    fleet
        .resolve(id)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no simulated system {id:?}")))
}

async fn index(State(fleet): State<AppState>) -> CtlResult {
    let c = fleet.config();
    ok(json!({
        "systems": fleet.len(),
        "first_system": fleet.system_path(0),
        "auth": c.auth.is_some(),
        "power_transition_ms": c.power_transition.as_millis() as u64,
        "latency_ms": c.latency.as_millis() as u64,
        "latency_jitter_ms": c.latency_jitter.as_millis() as u64,
        "oob_power_change_rate": c.oob_power_change_rate,
        "endpoints": [
            "GET /bmcsim/stats",
            "GET|PUT /bmcsim/failures {\"rate\": 0.1, \"kinds\": [\"500\", \"drop\"]}",
            "GET /bmcsim/systems/{id}",
            "GET|POST|DELETE /bmcsim/systems/{id}/faults {\"kind\": \"timeout|500|garbage|drop|none\", \"count\": 3, \"latency_ms\": 200}",
            "POST /bmcsim/systems/{id}/power {\"state\": \"On|Off\"}",
        ],
    }))
}

async fn stats(State(fleet): State<AppState>) -> CtlResult {
    ok(json!(fleet.stats()))
}

fn failures_doc(fleet: &Fleet) -> Value {
    let (rate, kinds) = fleet.failure_policy();
    json!({"rate": rate, "kinds": kinds})
}

async fn get_failures(State(fleet): State<AppState>) -> CtlResult {
    ok(failures_doc(&fleet))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailuresRequest {
    rate: f64,
    #[serde(default)]
    kinds: Option<Vec<String>>,
}

async fn put_failures(State(fleet): State<AppState>, b: Bytes) -> CtlResult {
    let req: FailuresRequest = body(&b)?;
    let kinds = match req.kinds {
        None => fleet.failure_policy().1,
        Some(names) => match names
            .iter()
            .map(|n| n.parse::<FailureKind>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(k) => k,
            Err(e) => return Err(err(StatusCode::BAD_REQUEST, e.to_string())),
        },
    };
    match fleet.set_failure_policy(req.rate, &kinds) {
        Ok(()) => ok(failures_doc(&fleet)),
        Err(e) => Err(err(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

async fn get_system(State(fleet): State<AppState>, Path(id): Path<String>) -> CtlResult {
    let i = index_of(&fleet, &id)?;
    match fleet.snapshot(i) {
        Some(s) => ok(json!(s)),
        None => Err(err(StatusCode::NOT_FOUND, "no such system")),
    }
}

async fn get_fault(State(fleet): State<AppState>, Path(id): Path<String>) -> CtlResult {
    let i = index_of(&fleet, &id)?;
    ok(json!({"fault": fleet.snapshot(i).and_then(|s| s.fault)}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    latency_ms: Option<u32>,
}

async fn post_fault(State(fleet): State<AppState>, Path(id): Path<String>, b: Bytes) -> CtlResult {
    let i = index_of(&fleet, &id)?;
    let req: FaultRequest = body(&b)?;
    let kind = match req.kind.as_deref() {
        None | Some("none") => None,
        Some(k) => match k.parse::<FailureKind>() {
            Ok(k) => Some(k),
            Err(e) => return Err(err(StatusCode::BAD_REQUEST, e.to_string())),
        },
    };
    let fault = SystemFault {
        kind,
        remaining: if kind.is_some() { req.count } else { None },
        latency_ms: req.latency_ms,
    };
    match fleet.set_fault(i, fault) {
        Ok(()) => ok(json!({"fault": fleet.snapshot(i).and_then(|s| s.fault)})),
        Err(e) => Err(err(StatusCode::NOT_FOUND, e.to_string())),
    }
}

async fn delete_fault(State(fleet): State<AppState>, Path(id): Path<String>) -> CtlResult {
    let i = index_of(&fleet, &id)?;
    match fleet.clear_fault(i) {
        Ok(()) => ok(json!({"fault": null})),
        Err(e) => Err(err(StatusCode::NOT_FOUND, e.to_string())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerRequest {
    state: String,
}

async fn post_power(State(fleet): State<AppState>, Path(id): Path<String>, b: Bytes) -> CtlResult {
    let i = index_of(&fleet, &id)?;
    let req: PowerRequest = body(&b)?;
    let to = match req.state.as_str() {
        "On" | "on" => PowerState::On,
        "Off" | "off" => PowerState::Off,
        other => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("state must be On or Off, got {other:?}"),
            ));
        }
    };
    match fleet.set_power_oob(i, to) {
        Ok(was) => ok(json!({"previous": was, "power_state": to})),
        Err(e) => Err(err(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// The EventService's subscriptions (with their contexts, which only the
/// simulator's operator sees) and how many deliveries worked or failed.
async fn get_subscriptions(State(fleet): State<AppState>) -> CtlResult {
    let (delivered, failed) = fleet.events.counts();
    let subs: Vec<Value> = fleet
        .events
        .list()
        .into_iter()
        .map(|s| {
            json!({"id": s.id, "destination": s.destination, "context": s.context,
                   "origins": s.origins})
        })
        .collect();
    ok(json!({"subscriptions": subs, "delivered": delivered, "failed": failed}))
}

/// Forgets every subscription, as a BMC that was reset to defaults does:
/// subscribers must notice and subscribe again.
async fn delete_subscriptions(State(fleet): State<AppState>) -> CtlResult {
    ok(json!({"removed": fleet.events.clear()}))
}
