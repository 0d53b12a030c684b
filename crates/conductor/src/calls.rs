//! Synchronous driver calls the API needs answered now (`DriverCall`).
//! Reads use the node as stored; changes (boot device, NMI) take the
//! node's lock for their duration, so they never race a running operation.

use std::sync::Arc;

use ferrite_drivers::{
    Driver, DriverError, InterfaceKind as K, NodeUpdate, node_interface_mut, resolve_interface,
};
use ferrite_model::{Dict, Node};
use ferrite_store::{Ident, StoreError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::engine::Engine;
use crate::{CallError, DriverCall, FlowError};

/// The order Ironic lists interfaces in `/validate`: core kinds, then
/// optional ones (vendor is never listed).
const VALIDATE_ORDER: &[K] = &[
    K::Boot,
    K::Deploy,
    K::Management,
    K::Network,
    K::Power,
    K::Bios,
    K::Console,
    K::Firmware,
    K::Inspect,
    K::Raid,
    K::Rescue,
    K::Storage,
];

fn from_driver(e: DriverError) -> CallError {
    match e {
        DriverError::Failed(m) => CallError::Driver(m),
        other => CallError::Invalid(other.to_string()),
    }
}

fn from_store(e: StoreError) -> CallError {
    match e {
        e @ StoreError::NotFound { .. } => CallError::Invalid(e.to_string()),
        other => CallError::Unavailable(other.to_string()),
    }
}

fn from_flow(node: Uuid, e: FlowError) -> CallError {
    match e {
        FlowError::Locked(host) => {
            metrics::counter!("ferrite_lock_waits_total", "by" => "call").increment(1);
            CallError::NodeLocked { node, host }
        }
        FlowError::Store(s) => from_store(s),
        other => CallError::Unavailable(other.to_string()),
    }
}

/// Answers one driver call.
pub(crate) async fn handle(
    engine: &Arc<Engine>,
    uuid: Uuid,
    call: DriverCall,
) -> Result<Value, CallError> {
    let node: Node = engine
        .store
        .get(&Ident::Uuid(uuid))
        .await
        .map_err(from_store)?;
    if let DriverCall::Validate = call {
        return validate(engine, &node).await;
    }
    let driver = Driver::build(&node, &engine.config.fake).map_err(from_driver)?;
    match call {
        DriverCall::Validate => validate(engine, &node).await,
        DriverCall::GetBootDevice => {
            let device = driver
                .management
                .get_boot_device(&node)
                .await
                .map_err(from_driver)?;
            Ok(json!({"boot_device": device.boot_device, "persistent": device.persistent}))
        }
        DriverCall::SupportedBootDevices => {
            Ok(json!({"supported_boot_devices": driver.management.supported_boot_devices(&node)}))
        }
        DriverCall::SetBootDevice { device, persistent } => {
            with_lock(engine, uuid, move |node| {
                let management = driver.management.clone();
                async move {
                    let update = management
                        .set_boot_device(&node, &device, persistent)
                        .await?;
                    Ok((update, json!({})))
                }
            })
            .await
        }
        DriverCall::AttachVirtualMedia {
            device_type,
            image_url,
        } => {
            with_lock(engine, uuid, move |node| {
                let management = driver.management.clone();
                async move {
                    management
                        .attach_virtual_media(&node, &device_type, &image_url)
                        .await?;
                    let mut attached = attached_media(&node);
                    attached.insert(device_type, json!(image_url));
                    Ok((record_media(attached), json!({})))
                }
            })
            .await
        }
        DriverCall::DetachVirtualMedia { device_types } => {
            with_lock(engine, uuid, move |node| {
                let management = driver.management.clone();
                async move {
                    management
                        .detach_virtual_media(&node, &device_types)
                        .await?;
                    let mut attached = attached_media(&node);
                    attached
                        .retain(|kind, _| !device_types.is_empty() && !device_types.contains(kind));
                    Ok((record_media(attached), json!({})))
                }
            })
            .await
        }
        DriverCall::InjectNmi => {
            with_lock(engine, uuid, move |node| {
                let management = driver.management.clone();
                async move {
                    management.inject_nmi(&node).await?;
                    Ok((NodeUpdate::default(), json!({})))
                }
            })
            .await
        }
        DriverCall::BiosSettings => {
            // A BMC without a Bios resource has no settings to show, as
            // Ironic shows an empty list for a node it never cached.
            let settings = match driver.bios.get_settings(&node).await {
                Err(DriverError::Unsupported(_)) => Default::default(),
                other => other.map_err(from_driver)?,
            };
            Ok(json!({"settings": settings}))
        }
        DriverCall::GetConsole => {
            driver.console.validate(&node).await.map_err(from_driver)?;
            let info = if node.console_enabled {
                driver.console.console_info(&node).map_err(from_driver)?
            } else {
                Value::Null
            };
            Ok(json!({"console_enabled": node.console_enabled, "console_info": info}))
        }
        DriverCall::Indicators => Ok(json!({"indicators": driver.management.indicators(&node)})),
        DriverCall::GetIndicator { indicator } => {
            let found = find_indicator(&driver, &node, &indicator)?;
            let state = driver
                .management
                .get_indicator_state(&node, &found)
                .await
                .map_err(from_driver)?;
            Ok(json!({"state": state}))
        }
        DriverCall::SetIndicator { indicator, state } => {
            let found = find_indicator(&driver, &node, &indicator)?;
            with_lock(engine, uuid, move |node| {
                let management = driver.management.clone();
                async move {
                    let update = management
                        .set_indicator_state(&node, &found, &state)
                        .await?;
                    Ok((update, json!({})))
                }
            })
            .await
        }
        DriverCall::VendorMethods => {
            let methods: Map<String, Value> = driver
                .vendor
                .methods()
                .into_iter()
                .map(|m| (m.name.to_string(), json!(m)))
                .collect();
            Ok(Value::Object(methods))
        }
        DriverCall::VendorPassthru {
            method,
            http_method,
            args,
        } => vendor_passthru(engine, uuid, &node, driver, method, http_method, args).await,
        DriverCall::ValidateRaidConfig(config) => {
            driver
                .raid
                .validate_raid_config(&config)
                .map_err(from_driver)?;
            Ok(json!({}))
        }
    }
}

/// `{kind: {result, reason?}}` for every interface; interfaces the
/// hardware type does not support are reported one by one, the others are
/// still validated.
async fn validate(engine: &Engine, node: &Node) -> Result<Value, CallError> {
    let Some(hw) = engine.types.iter().find(|t| t.name == node.driver) else {
        return Err(from_driver(DriverError::UnknownHardwareType(
            node.driver.clone(),
        )));
    };
    let mut usable = node.clone();
    let mut refused = Map::new();
    for kind in K::ALL {
        if let Err(e) = resolve_interface(hw, node, *kind) {
            refused.insert(kind.as_str().to_string(), Value::String(e.to_string()));
            *node_interface_mut(&mut usable, *kind) = None;
        }
    }
    let driver = Driver::build(&usable, &engine.config.fake).map_err(from_driver)?;
    let mut out = Map::new();
    for kind in VALIDATE_ORDER {
        let name = kind.as_str();
        let verdict = match refused.get(name) {
            Some(reason) => json!({"result": false, "reason": reason}),
            None => match driver.interface(*kind).validate(node).await {
                Ok(()) => json!({"result": true}),
                Err(e) => json!({"result": false, "reason": e.to_string()}),
            },
        };
        out.insert(name.to_string(), verdict);
    }
    Ok(Value::Object(out))
}

/// Takes the node's lock, runs `op` on the node as locked, records its
/// update and releases the lock in the same write. `NodeLocked` when
/// someone else holds it. Wakes the engine if an intent arrived meanwhile.
async fn with_lock<F, Fut, T>(engine: &Arc<Engine>, uuid: Uuid, op: F) -> Result<T, CallError>
where
    F: FnOnce(Node) -> Fut,
    Fut: std::future::Future<Output = Result<(NodeUpdate, T), DriverError>>,
{
    let host = engine.hostname().to_string();
    let ttl = crate::lease::ttl(&engine.config);
    let (node, ()) = engine
        .store
        .update::<Node, (), FlowError, _>(&Ident::Uuid(uuid), move |n| {
            crate::lease::take(n, &host, ttl, chrono::Utc::now())
        })
        .await
        .map_err(|e| from_flow(uuid, e))?;
    let outcome = op(node).await;
    let host = engine.hostname().to_string();
    let update = outcome.as_ref().map(|(u, _)| u.clone()).unwrap_or_default();
    let released = engine
        .store
        .update::<Node, (), FlowError, _>(&Ident::Uuid(uuid), move |n| {
            if n.reservation.as_deref() != Some(host.as_str()) {
                return Err(FlowError::LostLock);
            }
            update.apply(n);
            crate::lease::release(n);
            Ok(())
        })
        .await;
    match released {
        Ok((after, ())) => {
            if after.intent.is_some() {
                engine.wake(uuid);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "releasing the node after a driver call failed");
            crate::claim::abandon(engine, uuid, e.to_string()).await;
        }
    }
    outcome.map(|(_, value)| value).map_err(from_driver)
}

/// The indicator called `name@component` on this node.
fn find_indicator(
    driver: &Driver,
    node: &Node,
    indicator: &str,
) -> Result<ferrite_drivers::Indicator, CallError> {
    driver
        .management
        .indicators(node)
        .into_iter()
        .find(|i| format!("{}@{}", i.name, i.component) == indicator)
        .ok_or_else(|| {
            CallError::NotFound(format!(
                "Indicator {indicator} could not be found on node {}.",
                node.uuid
            ))
        })
}

/// Runs a vendor method, under the node's lock when the method asks for it.
async fn vendor_passthru(
    engine: &Arc<Engine>,
    uuid: Uuid,
    node: &Node,
    driver: Driver,
    method: String,
    http_method: String,
    args: Value,
) -> Result<Value, CallError> {
    let spec = driver
        .vendor
        .methods()
        .into_iter()
        .find(|m| m.name == method)
        .ok_or_else(|| from_driver(ferrite_drivers::interfaces::unsupported_method(&method)))?;
    if !spec
        .http_methods
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&http_method))
    {
        return Err(CallError::Invalid(format!(
            "The method {method} does not support HTTP {http_method}; it answers {}.",
            spec.http_methods.join(", ")
        )));
    }
    let result = if spec.require_exclusive_lock {
        let vendor = driver.vendor.clone();
        with_lock(engine, uuid, move |node| async move {
            let value = vendor.call(&node, &method, &args).await?;
            Ok((NodeUpdate::default(), value))
        })
        .await?
    } else {
        driver
            .vendor
            .call(node, &method, &args)
            .await
            .map_err(from_driver)?
    };
    Ok(json!({"async": spec.is_async, "return": result}))
}

/// The virtual media recorded on `node` as attached.
fn attached_media(node: &Node) -> Dict {
    node.driver_internal_info
        .get(crate::VIRTUAL_MEDIA_KEY)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The update that records `attached` (removing the key when empty).
fn record_media(attached: Dict) -> NodeUpdate {
    let mut update = NodeUpdate::default();
    let value = if attached.is_empty() {
        Value::Null
    } else {
        Value::Object(attached)
    };
    update
        .driver_internal_info
        .insert(crate::VIRTUAL_MEDIA_KEY.into(), value);
    update
}
