//! The endpoints the deploy ramdisk calls (1.22): `lookup` finds the node
//! by MAC or UUID and hands the agent its token once; `heartbeat` checks the
//! token, records where the agent listens and, when the node waits for its
//! agent, wakes the conductor to continue. Both are public (no API
//! credentials), so the agent token is their authentication.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use chrono::Utc;
use ferrite_model::ident::normalize_mac;
use ferrite_model::{Node, Port, ProvisionState};
use ferrite_store::{Filter, Ident, ListQuery};
use serde_json::{Value, json};

use super::node_ctx::NodeCtx;
use super::node_view::mask;
use super::nodes::load;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Obj, Params};

/// Where the agent's token is kept.
const TOKEN_KEY: &str = ferrite_conductor::agent::TOKEN_KEY;

/// Seconds between heartbeats the agent is told to keep.
const HEARTBEAT_TIMEOUT: u64 = 300;

fn gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(22) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// States in which a ramdisk may legitimately be running (reference §3.1).
fn lookup_allowed(state: ProvisionState) -> bool {
    use ProvisionState as S;
    matches!(
        state,
        S::Deploying
            | S::DeployWait
            | S::Cleaning
            | S::CleanWait
            | S::Inspecting
            | S::InspectWait
            | S::Rescuing
            | S::RescueWait
            | S::ServiceWait
    )
}

fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `GET /v1/lookup?addresses=…&node_uuid=…`.
pub async fn lookup(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    let params = Params::parse(query.as_deref());
    let macs: Vec<String> = params
        .get("addresses")
        .unwrap_or("")
        .split(',')
        .filter_map(|a| normalize_mac(a.trim()))
        .collect();
    let node_uuid = params
        .get("node_uuid")
        .and_then(ferrite_model::ident::parse_uuid);
    if macs.is_empty() && node_uuid.is_none() {
        return Err(ApiError::bad_request(
            "Lookup needs at least one valid MAC address in addresses or a node_uuid.",
        ));
    }
    let not_found = || ApiError::not_found("Node could not be found.");
    let uuid = match node_uuid {
        Some(uuid) => uuid,
        None => node_by_macs(&app, &macs).await?,
    };
    let (node, token) = app
        .store
        .update(
            &Ident::Uuid(uuid),
            |node: &mut Node| -> ApiResult<Option<String>> {
                if !lookup_allowed(node.provision_state) {
                    return Err(ApiError::not_found("Node could not be found."));
                }
                Ok(issue_token(node))
            },
        )
        .await
        .map_err(|e| {
            if e.status == StatusCode::NOT_FOUND {
                not_found()
            } else {
                e
            }
        })?;
    Ok(Json(lookup_body(&node, token, &base)))
}

/// The node whose ports carry `macs` (all of one node), else 404.
pub(crate) async fn node_by_macs(app: &App, macs: &[String]) -> ApiResult<uuid::Uuid> {
    let query = ListQuery {
        filters: vec![Filter::In(
            "address".into(),
            macs.iter().map(|m| json!(m)).collect(),
        )],
        ..ListQuery::default()
    };
    let ports: Vec<Port> = app.store.list(&query).await?;
    let mut owners: Vec<_> = ports.iter().map(|p| p.node_uuid).collect();
    owners.sort();
    owners.dedup();
    match owners.as_slice() {
        [one] => Ok(*one),
        _ => Err(ApiError::not_found("Node could not be found.")),
    }
}

/// Gives `node` an agent token unless it has one; the token, when new.
pub(crate) fn issue_token(node: &mut Node) -> Option<String> {
    if node.driver_internal_info.contains_key(TOKEN_KEY) {
        return None;
    }
    let token = new_token();
    node.driver_internal_info
        .insert(TOKEN_KEY.into(), json!(token));
    Some(token)
}

/// What lookup answers (and continue_inspection from 1.84): the node's
/// deploy-relevant fields, and the agent's configuration with its token
/// the first time only.
pub(crate) fn lookup_body(node: &Node, token: Option<String>, base: &BaseUrl) -> Value {
    json!({
        "node": {
            "uuid": node.uuid,
            "properties": node.properties,
            "instance_info": mask(&node.instance_info),
            "driver_internal_info": mask(&node.driver_internal_info),
            "links": base.links(&format!("nodes/{}", node.uuid)),
        },
        "config": {
            "heartbeat_timeout": HEARTBEAT_TIMEOUT,
            "agent_token": token.unwrap_or_else(|| super::node_view::MASK.to_string()),
            "agent_token_required": true,
        },
    })
}

/// `POST /v1/heartbeat/{node}`: 202 once the token checks out.
pub async fn heartbeat(
    NodeCtx { app, version, node }: NodeCtx,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    gate(version)?;
    let obj = Obj::new("heartbeat", &body)?;
    obj.only(&[
        "callback_url",
        "agent_token",
        "agent_version",
        "agent_verify_ca",
        "agent_status",
        "agent_status_message",
    ])?;
    let callback = obj.required_str("callback_url")?.to_string();
    if !(callback.starts_with("http://") || callback.starts_with("https://")) {
        return Err(ApiError::bad_request(format!(
            "Invalid callback URL {callback}: it must be http or https."
        )));
    }
    let token = obj.opt_str("agent_token", 255)?.map(str::to_string);
    let agent_version = obj.opt_str("agent_version", 255)?.map(str::to_string);
    if agent_version.is_none() && !obj.has("agent_status") && version.at_least(36) {
        return Err(ApiError::bad_request(
            "Missing agent_version in the heartbeat.",
        ));
    }
    let (_, continued) = app
        .store
        .update(
            &Ident::Uuid(node.uuid),
            move |node: &mut Node| -> ApiResult<bool> {
                let expected = node
                    .driver_internal_info
                    .get(TOKEN_KEY)
                    .and_then(Value::as_str);
                if expected.is_none() || expected != token.as_deref() {
                    return Err(ApiError::bad_request(
                        "Invalid or missing agent token received.",
                    ));
                }
                let info = &mut node.driver_internal_info;
                info.insert(ferrite_conductor::agent::URL_KEY.into(), json!(callback));
                info.insert(
                    ferrite_conductor::agent::HEARTBEAT_KEY.into(),
                    json!(Utc::now()),
                );
                if let Some(v) = agent_version {
                    info.insert("agent_version".into(), json!(v));
                }
                Ok(ferrite_conductor::agent::continue_on_callback(node))
            },
        )
        .await?;
    if continued {
        // The node waited for this agent: its conductor continues the steps.
        app.conductor.wake(node.uuid);
    }
    Ok(StatusCode::ACCEPTED)
}

/// The node's BIOS settings as the API shows them, read from the machine
/// through its BIOS interface (interfaces that cannot read them have none):
/// there is no settings cache yet, so every read asks the BMC.
async fn bios_settings(app: &App, node: &Node) -> ApiResult<serde_json::Map<String, Value>> {
    let answer = app
        .conductor
        .call(node.uuid, ferrite_conductor::DriverCall::BiosSettings)
        .await?;
    Ok(answer
        .get("settings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

/// One setting: `name`, `value`, `links`; with `detail` the timestamps
/// and (1.74) the registry fields, which are not read, so null.
fn bios_doc(
    node: &Node,
    name: &str,
    value: &Value,
    detail: bool,
    version: ApiVersion,
    base: &BaseUrl,
) -> Value {
    let mut doc = json!({
        "name": name,
        "value": value,
        "links": base.links(&format!("nodes/{}/bios/{name}", node.uuid)),
    });
    if detail {
        doc["created_at"] = Value::Null;
        doc["updated_at"] = Value::Null;
        if version.at_least(74) {
            for key in [
                "attribute_type",
                "allowable_values",
                "lower_bound",
                "max_length",
                "min_length",
                "read_only",
                "reset_required",
                "unique",
                "upper_bound",
            ] {
                doc[key] = Value::Null;
            }
        }
    }
    doc
}

/// `GET /v1/nodes/{node}/bios` (1.40).
pub async fn bios(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    if !version.at_least(40) {
        return Err(ApiError::endpoint_not_found());
    }
    let params = Params::parse(query.as_deref());
    params.gate("detail", version, 74)?;
    params.gate("fields", version, 74)?;
    if params.get("detail").is_some() && params.get("fields").is_some() {
        return Err(ApiError::bad_request(
            "Can not specify ?detail=True and fields in the same request.",
        ));
    }
    let detail = params
        .get("detail")
        .is_some_and(|d| d.eq_ignore_ascii_case("true"));
    let node = load(&app, &ident, version).await?;
    let settings = bios_settings(&app, &node).await?;
    let list: Vec<Value> = settings
        .iter()
        .map(|(name, value)| bios_doc(&node, name, value, detail, version, &base))
        .collect();
    Ok(Json(json!({"bios": list})))
}

/// `GET /v1/nodes/{node}/bios/{setting}` (1.40).
pub async fn bios_setting(
    NodeCtx {
        app, version, node, ..
    }: NodeCtx,
    Path((_, name)): Path<(String, String)>,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    if !version.at_least(40) {
        return Err(ApiError::endpoint_not_found());
    }
    let settings = bios_settings(&app, &node).await?;
    let Some(value) = settings.get(&name) else {
        return Err(ApiError::not_found(format!(
            "BIOS setting {name} for node {} could not be found.",
            node.uuid
        )));
    };
    let mut out = serde_json::Map::new();
    out.insert(
        name.clone(),
        bios_doc(&node, &name, value, true, version, &base),
    );
    Ok(Json(Value::Object(out)))
}
