//! `/v1/nodes/{node}/states…`: the requests that start work. Each is
//! checked and recorded (state advanced + intent stored) in one store
//! transaction, then the conductor is woken; the client gets 202.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ferrite_conductor::DriverCall;
use ferrite_model::{Intent, Node, PowerTarget, ProvisionArgs, ProvisionState, Verb};
use ferrite_store::Ident;
use serde_json::Value;

use super::node_ctx::NodeCtx;
use super::node_view;
use super::nodes::{busy, load};
use super::runbooks;
use crate::App;
use crate::protocol::body::parse_bool;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Obj};

/// `GET /v1/nodes/{node}/states`.
pub async fn get_states(NodeCtx { version, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    Ok(Json(node_view::states(&node, version)))
}

/// 202 pointing at the node's states.
fn accepted(base: &BaseUrl, node: &Node) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&base.v1(&format!("nodes/{}/states", node.uuid))) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::ACCEPTED, headers).into_response()
}

/// Records `intent` on the node if `check` allows it, then wakes the
/// conductor. `check` runs inside the store transaction.
async fn record<F>(app: &App, node: &Node, check: F) -> ApiResult<Node>
where
    F: FnOnce(&mut Node) -> ApiResult<()> + Send + 'static,
{
    let hostname = app.conductor.hostname().to_string();
    let (updated, ()) = app
        .store
        .update(
            &Ident::Uuid(node.uuid),
            move |node: &mut Node| -> ApiResult<()> {
                if let Some(locked) = busy(node, &hostname) {
                    return Err(locked);
                }
                check(node)
            },
        )
        .await?;
    if updated.intent.is_some() {
        app.conductor.wake(updated.uuid);
    }
    Ok(updated)
}

fn steps(obj: &Obj<'_>, key: &str) -> ApiResult<Option<Vec<Value>>> {
    match obj.map().get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            for item in items {
                let step = Obj::new(key, item)?;
                step.only(&["interface", "step", "args", "priority", "order"])?;
                step.required_str("interface")?;
                step.required_str("step")?;
                step.opt_dict("args")?;
                if let Some(p) = step.map().get("priority")
                    && !(p.as_u64().is_some()
                        || p.as_str().is_some_and(|s| s.parse::<u32>().is_ok()))
                {
                    return Err(step.error(format!("{p} is not a valid priority")));
                }
            }
            Ok(Some(items.clone()))
        }
        Some(other) => Err(obj.type_error(other, "array")),
    }
}

/// A config drive given as its parts (1.56): the service builds the ISO.
fn check_configdrive(parts: &serde_json::Map<String, Value>, version: ApiVersion) -> ApiResult<()> {
    for (key, value) in parts {
        let ok = match key.as_str() {
            "meta_data" | "network_data" => value.is_object() || value.is_null(),
            "vendor_data" if version.at_least(59) => value.is_object() || value.is_null(),
            "user_data" => {
                value.is_object() || value.is_array() || value.is_string() || value.is_null()
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid configdrive key '{key}'; valid keys are meta_data, network_data, user_data{}.",
                    if version.at_least(59) {
                        ", vendor_data"
                    } else {
                        ""
                    }
                )));
            }
        };
        if !ok {
            return Err(ApiError::bad_request(format!(
                "Invalid configdrive: {key} has the wrong type."
            )));
        }
    }
    Ok(())
}

/// Steps that one verb requires and every other verb refuses.
fn steps_for(obj: &Obj<'_>, key: &str, verb: Verb, owner: Verb) -> ApiResult<Option<Vec<Value>>> {
    let given = steps(obj, key)?;
    match (verb == owner, given.is_some()) {
        (true, false) => Err(ApiError::bad_request(format!(
            "{key} is required when setting target provision state to {owner}."
        ))),
        (false, true) => Err(ApiError::bad_request(format!(
            "{key} is only valid when setting target provision state to {owner}."
        ))),
        _ => Ok(given),
    }
}

/// A provision request: the verb, its arguments, and the runbook (name or
/// UUID) that supplies the steps instead of the request, if any.
type Provision = (Verb, ProvisionArgs, Option<String>);

fn parse_provision(body: &Value, version: ApiVersion) -> ApiResult<Provision> {
    let obj = Obj::new("provision", body)?;
    obj.only(&[
        "target",
        "configdrive",
        "clean_steps",
        "deploy_steps",
        "service_steps",
        "rescue_password",
        "disable_ramdisk",
        "runbook",
    ])?;
    let target = obj.required_str("target")?;
    let verb: Verb = target.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid provision state target \"{target}\"; valid targets are: active, deploy, rebuild, deleted, undeploy, manage, provide, inspect, clean, adopt, abort, rescue, unrescue, unhold, service."
        ))
    })?;
    if version.0 < verb.min_version() {
        return Err(ApiError::not_acceptable(format!(
            "The provision state target \"{target}\" requires API version {} or later.",
            verb.min_version()
        )));
    }
    for (key, since) in [
        ("clean_steps", 15),
        ("rescue_password", 38),
        ("deploy_steps", 69),
        ("disable_ramdisk", 70),
        ("service_steps", 87),
        ("runbook", 92),
    ] {
        if obj.has(key) && !version.at_least(since) {
            return Err(ApiError::not_acceptable(format!(
                "The parameter {key} requires API version 1.{since} or later."
            )));
        }
    }
    let mut args = ProvisionArgs::default();
    if let Some(drive) = obj.map().get("configdrive").filter(|v| !v.is_null()) {
        let allowed = verb == Verb::Active || (verb == Verb::Rebuild && version.at_least(35));
        if !allowed {
            return Err(ApiError::bad_request(
                "Adding a config drive is only supported when setting provision state to active or rebuild.",
            ));
        }
        match drive {
            Value::String(_) => {}
            Value::Object(parts) if version.at_least(56) => check_configdrive(parts, version)?,
            other => return Err(obj.type_error(other, "string")),
        }
        args.configdrive = Some(drive.clone());
    }
    args.deploy_steps = steps(&obj, "deploy_steps")?;
    if args.deploy_steps.is_some() && !matches!(verb, Verb::Active | Verb::Rebuild) {
        return Err(ApiError::bad_request(
            "deploy_steps is only valid when setting target provision state to active or rebuild.",
        ));
    }
    let runbook = obj.opt_str("runbook", 255)?.map(str::to_string);
    if runbook.is_some() {
        runbook_instead_of_steps(&obj, verb)?;
    } else {
        args.clean_steps = steps_for(&obj, "clean_steps", verb, Verb::Clean)?;
        args.service_steps = steps_for(&obj, "service_steps", verb, Verb::Service)?;
    }
    match (verb, obj.opt_str("rescue_password", 255)?) {
        (Verb::Rescue, Some(p)) if !p.trim().is_empty() => {
            args.rescue_password = Some(p.to_string())
        }
        (Verb::Rescue, _) => {
            return Err(ApiError::bad_request(
                "A non-empty rescue_password is required when setting target provision state to rescue.",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::bad_request(
                "rescue_password is only valid when setting target provision state to rescue.",
            ));
        }
        (_, None) => {}
    }
    if let Some(disable) = obj.opt_bool("disable_ramdisk")? {
        let allowed = verb == Verb::Clean || (verb == Verb::Service && version.at_least(108));
        if !allowed {
            return Err(ApiError::bad_request(
                "disable_ramdisk is only valid for manual cleaning or servicing.",
            ));
        }
        args.disable_ramdisk = Some(disable);
    }
    Ok((verb, args, runbook))
}

/// A runbook replaces the step list of manual cleaning or servicing (1.92):
/// no other verb takes one, and it is never given with steps.
fn runbook_instead_of_steps(obj: &Obj<'_>, verb: Verb) -> ApiResult<()> {
    if !matches!(verb, Verb::Clean | Verb::Service) {
        return Err(ApiError::bad_request(format!(
            "runbook is only valid when setting target provision state to clean or service, \
             not {verb}."
        )));
    }
    for key in ["clean_steps", "service_steps"] {
        if obj.map().get(key).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad_request(format!(
                "runbook and {key} cannot both be given: the runbook supplies the steps."
            )));
        }
    }
    Ok(())
}

/// Where the node goes, and toward what, when the API fires `verb`.
fn destination(
    node: &Node,
    verb: Verb,
    version: ApiVersion,
) -> ApiResult<(ProvisionState, Option<ProvisionState>)> {
    let invalid = || {
        ApiError::bad_request(format!(
            "The requested action \"{verb}\" can not be performed on node \"{}\" while it is in state \"{}\".",
            node.uuid,
            node.provision_state
                .for_version(version.0)
                .unwrap_or("available")
        ))
    };
    if !verb.allowed_from(node.provision_state, version.0) {
        return Err(invalid());
    }
    let next = node
        .provision_state
        .next_by_api(verb.event())
        .ok_or_else(invalid)?;
    let target = match verb {
        _ if next.is_stable() => None,
        Verb::Clean => Some(ProvisionState::Manageable),
        Verb::Unhold | Verb::Abort if node.target_provision_state.is_some() => {
            node.target_provision_state
        }
        _ => next.implicit_target(),
    };
    Ok((next, target))
}

/// `PUT /v1/nodes/{node}/states/provision`.
pub async fn set_provision(
    NodeCtx { app, version, node }: NodeCtx,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (verb, mut args, runbook) = parse_provision(&body, version)?;
    let book = match runbook {
        Some(ident) => Some(runbooks::for_provision(&app, &ident, verb, version).await?),
        None => None,
    };
    let updated = record(&app, &node, move |node: &mut Node| {
        if node.maintenance && matches!(verb, Verb::Active | Verb::Deploy | Verb::Rebuild) {
            return Err(ApiError::bad_request(format!(
                "Node {} is in maintenance mode.",
                node.uuid
            )));
        }
        if node.protected
            && matches!(verb, Verb::Rebuild | Verb::Deleted | Verb::Undeploy)
            && node.provision_state == ProvisionState::Active
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Node {} is protected and cannot be undeployed, rebuilt or deleted",
                    node.uuid
                ),
            ));
        }
        if node.retired && verb == Verb::Provide {
            return Err(ApiError::bad_request(format!(
                "Node {} is retired and cannot be provided.",
                node.uuid
            )));
        }
        if let Some(book) = &book {
            runbooks::expand(book, node, verb, version, &mut args)?;
        }
        let (next, target) = destination(node, verb, version)?;
        node.set_provision_state(next, target, Utc::now());
        if verb == Verb::Abort {
            node.last_error = Some(format!(
                "Operation aborted by request; the node is now {next}."
            ));
            node.clean_step.clear();
            node.deploy_step.clear();
            node.service_step.clear();
        } else {
            node.last_error = None;
        }
        if !(next.is_stable() || next.is_failure()) {
            node.intent = Some(Intent::Provision { verb, args });
        }
        Ok(())
    })
    .await?;
    Ok(accepted(&base, &updated))
}

/// `PUT /v1/nodes/{node}/states/power`.
pub async fn set_power(
    NodeCtx { app, version, node }: NodeCtx,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let obj = Obj::new("power", &body)?;
    obj.only(&["target", "timeout"])?;
    let raw = obj.required_str("target")?;
    let target: PowerTarget = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("Invalid power state target \"{raw}\"; valid targets are: power on, power off, rebooting, soft rebooting, soft power off.")))?;
    if version.0 < target.min_version() {
        return Err(ApiError::not_acceptable(format!(
            "The power target \"{raw}\" requires API version 1.27 or later."
        )));
    }
    let timeout = match obj.map().get("timeout") {
        None | Some(Value::Null) => None,
        Some(_) if !version.at_least(27) => {
            return Err(ApiError::not_acceptable(
                "The timeout parameter requires API version 1.27 or later.",
            ));
        }
        Some(v) => match v.as_u64() {
            Some(t) if t > 0 => Some(t),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid timeout {v}: it must be a positive integer."
                )));
            }
        },
    };
    let updated = record(&app, &node, move |node: &mut Node| {
        if matches!(
            node.provision_state,
            ProvisionState::Cleaning | ProvisionState::CleanWait
        ) {
            return Err(ApiError::bad_request(format!(
                "Can not change power state of node {} while it is in state \"{}\".",
                node.uuid, node.provision_state
            )));
        }
        if node.disable_power_off && target.is_off() {
            return Err(ApiError::conflict(format!(
                "Node {} does not allow powering off (disable_power_off is set).",
                node.uuid
            )));
        }
        node.target_power_state = Some(target);
        node.last_error = None;
        node.intent = Some(Intent::Power { target, timeout });
        Ok(())
    })
    .await?;
    Ok(accepted(&base, &updated))
}

/// Shared checks of boot mode and secure boot changes (1.76).
async fn record_management(
    app: &App,
    version: ApiVersion,
    ident: &str,
    intent: Intent,
) -> ApiResult<Node> {
    if !version.at_least(76) {
        return Err(ApiError::endpoint_not_found());
    }
    let node = load(app, ident, version).await?;
    record(app, &node, move |node: &mut Node| {
        if !node.provision_state.is_stable() {
            return Err(ApiError::conflict(format!(
                "Node {} is in state \"{}\"; its boot settings can only change in a stable state.",
                node.uuid, node.provision_state
            )));
        }
        node.intent = Some(intent);
        Ok(())
    })
    .await
}

/// `PUT /v1/nodes/{node}/states/boot_mode`.
pub async fn set_boot_mode(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let obj = Obj::new("boot_mode", &body)?;
    obj.only(&["target"])?;
    let target = obj.required_str("target")?;
    if target != "uefi" && target != "bios" {
        return Err(obj.error(format!("'{target}' is not one of ['uefi', 'bios']")));
    }
    let node = record_management(
        &app,
        version,
        &ident,
        Intent::BootMode {
            target: target.to_string(),
        },
    )
    .await?;
    Ok(accepted(&base, &node))
}

/// `PUT /v1/nodes/{node}/states/secure_boot`.
pub async fn set_secure_boot(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let obj = Obj::new("secure_boot", &body)?;
    obj.only(&["target"])?;
    let value = obj
        .map()
        .get("target")
        .ok_or_else(|| obj.error("'target' is a required property"))?;
    let target = parse_bool(value).ok_or_else(|| obj.type_error(value, "boolean"))?;
    let node = record_management(&app, version, &ident, Intent::SecureBoot { target }).await?;
    Ok(accepted(&base, &node))
}

/// `PUT /v1/nodes/{node}/states/raid` (1.12): stores the target RAID
/// configuration after the driver validates it.
pub async fn set_raid(
    NodeCtx { app, version, node }: NodeCtx,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    if !version.at_least(12) {
        return Err(ApiError::endpoint_not_found());
    }
    let Value::Object(config) = body else {
        return Err(ApiError::schema(
            "raid",
            "the target RAID configuration must be an object",
        ));
    };
    if !config.is_empty() {
        app.conductor
            .call(
                node.uuid,
                DriverCall::ValidateRaidConfig(Value::Object(config.clone())),
            )
            .await?;
    }
    let hostname = app.conductor.hostname().to_string();
    app.store
        .update(
            &Ident::Uuid(node.uuid),
            move |node: &mut Node| -> ApiResult<()> {
                if let Some(locked) = busy(node, &hostname) {
                    return Err(locked);
                }
                node.target_raid_config = config;
                Ok(())
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/nodes/{node}/states/console`.
pub async fn get_console(NodeCtx { app, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    Ok(Json(
        app.conductor
            .call(node.uuid, DriverCall::GetConsole)
            .await?,
    ))
}

/// `PUT /v1/nodes/{node}/states/console`.
pub async fn set_console(
    NodeCtx { app, node, .. }: NodeCtx,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let obj = Obj::new("console", &body)?;
    obj.only(&["enabled"])?;
    let value = obj
        .map()
        .get("enabled")
        .ok_or_else(|| obj.error("'enabled' is a required property"))?;
    let enabled = parse_bool(value).ok_or_else(|| obj.type_error(value, "boolean"))?;
    let updated = record(&app, &node, move |node: &mut Node| {
        node.intent = Some(Intent::Console { enabled });
        Ok(())
    })
    .await?;
    Ok(accepted(&base, &updated))
}
