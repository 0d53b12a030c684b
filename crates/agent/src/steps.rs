//! In-band steps: the ones the agent offers for cleaning, deployment and
//! servicing (with Ironic's default priorities), and running one. All are
//! on the `deploy` interface, as Ironic's agent exposes them.

use std::path::PathBuf;
use std::sync::Arc;

use ferrite_model::inventory::Disk;
use serde_json::{Map, Value, json};

use crate::commands::{Outcome, Pending};
use crate::error::AgentError;
use crate::state::Agent;
use crate::{disk, extensions, hints, inventory};

/// The hardware manager name steps are listed under; Ironic keeps it with
/// the version to detect a changed agent between listing and running.
pub const MANAGER: &str = "FerriteHardwareManager";

/// Bumped whenever a step's meaning changes.
const MANAGER_VERSION: &str = "1.0";

/// Which step list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cleaning (`clean.*`).
    Clean,
    /// Deployment (`deploy.*`).
    Deploy,
    /// Servicing (`service.*`).
    Service,
}

impl Phase {
    fn word(self) -> &'static str {
        match self {
            Phase::Clean => "clean",
            Phase::Deploy => "deploy",
            Phase::Service => "service",
        }
    }
}

/// One step: its name, its priority per phase (None: not offered there),
/// and its arguments.
struct StepDef {
    name: &'static str,
    clean: Option<u32>,
    deploy: Option<u32>,
    service: Option<u32>,
    abortable: bool,
    argsinfo: fn() -> Value,
}

fn no_args() -> Value {
    json!({})
}

fn write_image_args() -> Value {
    json!({
        "image_info": {"description": "The image: urls, checksum or os_hash_algo/os_hash_value, disk_format, image_type.", "required": true},
        "configdrive": {"description": "A config drive (not supported by this agent: must be empty).", "required": false},
    })
}

/// The steps. Priorities are Ironic's agent defaults: metadata erasure 99
/// and full erasure 10 in automated cleaning; deploy-time steps at 0 (run
/// only when asked for).
const STEPS: [StepDef; 3] = [
    StepDef {
        name: "erase_devices_metadata",
        clean: Some(99),
        deploy: Some(0),
        service: Some(0),
        abortable: true,
        argsinfo: no_args,
    },
    StepDef {
        name: "erase_devices",
        clean: Some(10),
        deploy: None,
        service: None,
        abortable: true,
        argsinfo: no_args,
    },
    StepDef {
        name: "write_image",
        clean: None,
        deploy: Some(0),
        service: None,
        abortable: false,
        argsinfo: write_image_args,
    },
];

fn priority(def: &StepDef, phase: Phase) -> Option<u32> {
    match phase {
        Phase::Clean => def.clean,
        Phase::Deploy => def.deploy,
        Phase::Service => def.service,
    }
}

/// The hardware manager version, as `get_*_steps` reports it.
pub fn manager_version() -> Value {
    json!({ MANAGER: MANAGER_VERSION })
}

/// `get_clean_steps` / `get_deploy_steps` / `get_service_steps`.
pub fn list(phase: Phase) -> Outcome {
    let steps: Vec<Value> = STEPS
        .iter()
        .filter_map(|def| {
            priority(def, phase).map(|p| {
                json!({
                    "step": def.name,
                    "priority": p,
                    "interface": "deploy",
                    "reboot_requested": false,
                    "abortable": def.abortable,
                    "requires_ramdisk": true,
                    "argsinfo": (def.argsinfo)(),
                })
            })
        })
        .collect();
    Ok(json!({
        format!("{}_steps", phase.word()): { MANAGER: steps },
        "hardware_manager_version": manager_version(),
    }))
}

/// Whether an `execute_clean_step` names another manager version.
pub fn version_mismatch(params: &Value) -> bool {
    params
        .get("clean_version")
        .and_then(|v| v.get(MANAGER))
        .is_some_and(|v| v != MANAGER_VERSION)
}

/// The node document of a step call: the one sent with it, else the one
/// learned from lookup or the claim.
fn node_of(agent: &Agent, params: &Value) -> Value {
    params
        .get("node")
        .filter(|n| n.is_object())
        .cloned()
        .or_else(|| agent.node())
        .unwrap_or_else(|| json!({}))
}

/// An object under `node.<section>.<key>`, empty when absent.
fn node_map(node: &Value, section: &str, key: &str) -> Map<String, Value> {
    node.get(section)
        .and_then(|s| s.get(key))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The device file of an inventory disk, under the agent's root.
pub fn device_path(agent: &Agent, disk: &Disk) -> PathBuf {
    agent.config.root.join(disk.name.trim_start_matches('/'))
}

/// The disk `node`'s root device hints choose.
pub fn target_disk(agent: &Agent, node: &Value) -> Result<Disk, AgentError> {
    let disks = inventory::disks(&agent.config.root);
    let hints = node_map(node, "properties", "root_device");
    hints::select(&disks, &hints).cloned()
}

/// The disks cleaning works on: all of them except those matching one of
/// `properties.skip_block_devices` (a list of hint objects).
fn cleanable_disks(agent: &Agent, node: &Value) -> Result<Vec<Disk>, AgentError> {
    let disks = inventory::disks(&agent.config.root);
    let skips = node
        .get("properties")
        .and_then(|p| p.get("skip_block_devices"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut skipped = Vec::new();
    for skip in &skips {
        let hints = skip.as_object().ok_or_else(|| {
            AgentError::InvalidParams("skip_block_devices entries must be objects".into())
        })?;
        skipped.extend(hints::matching(&disks, hints)?.into_iter().cloned());
    }
    Ok(disks.into_iter().filter(|d| !skipped.contains(d)).collect())
}

fn erase_devices_metadata(agent: &Agent, node: &Value) -> Outcome {
    let mut done = Vec::new();
    for d in cleanable_disks(agent, node)? {
        disk::erase_metadata(&device_path(agent, &d))?;
        done.push(d.name);
    }
    Ok(json!({ "erased_metadata": done }))
}

fn erase_devices(agent: &Agent, node: &Value) -> Outcome {
    let info = node.get("driver_internal_info");
    let passes = info
        .and_then(|i| i.get("agent_erase_devices_iterations"))
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let zeroize = info
        .and_then(|i| i.get("agent_erase_devices_zeroize"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let passes = u32::try_from(passes)
        .map_err(|_| AgentError::InvalidParams("too many erase iterations".into()))?;
    let mut done = Map::new();
    for d in cleanable_disks(agent, node)? {
        let written = disk::overwrite(&device_path(agent, &d), passes, zeroize)?;
        done.insert(d.name, json!(written));
    }
    Ok(json!({ "bytes_written": done }))
}

/// Runs one step (`execute_*_step`); the result carries the step back, as
/// Ironic matches results to steps by it.
pub fn execute(agent: Arc<Agent>, phase: Phase, params: Value) -> Pending {
    Box::pin(async move {
        let step = params
            .get("step")
            .filter(|s| s.is_object())
            .cloned()
            .ok_or_else(|| AgentError::InvalidParams("missing step".into()))?;
        let name = step.get("step").and_then(Value::as_str).unwrap_or_default();
        let interface = step.get("interface").and_then(Value::as_str);
        let offered = STEPS
            .iter()
            .any(|d| d.name == name && priority(d, phase).is_some());
        if interface != Some("deploy") || !offered {
            return Err(AgentError::Unknown(format!(
                "{} step {}.{name}",
                phase.word(),
                interface.unwrap_or("?")
            )));
        }
        let node = node_of(&agent, &params);
        let args = step.get("args").cloned().unwrap_or_else(|| json!({}));
        let result = match name {
            "erase_devices_metadata" => {
                let a = agent.clone();
                blocking(move || erase_devices_metadata(&a, &node)).await?
            }
            "erase_devices" => {
                let a = agent.clone();
                blocking(move || erase_devices(&a, &node)).await?
            }
            _ => extensions::write_image_for(agent, &node, &args).await?,
        };
        Ok(json!({
            format!("{}_result", phase.word()): result,
            format!("{}_step", phase.word()): step,
        }))
    })
}

/// Runs disk I/O off the async workers.
pub async fn blocking(f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(AgentError::Host(format!("the step crashed: {e}"))))
}
