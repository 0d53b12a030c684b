//! Steps of `direct` nodes that the conductor runs through the agent
//! (reference §6.2, §7): booting the ramdisk and waiting for its call-back
//! (or, poll-only, finding and claiming it), merging the agent's own
//! steps into the list, running in-band steps with the agent's command
//! API (`write_image` with an image the conductor prepared), and tearing
//! the ramdisk down. The drivers crate declares these steps; it cannot run
//! them because they need the node lock, the store and the image cache.

use std::time::Duration;

use chrono::Utc;
use ferrite_drivers::agent_deploy::{self, OUT_OF_BAND};
use ferrite_drivers::{Driver, InterfaceKind as K, NodeUpdate, StepDef, StepPhase};
use ferrite_images::{ChecksumSpec, PreparedImage};
use ferrite_model::{Event, Node, Port, ProvisionState as S};
use ferrite_store::{Filter, ListQuery};
use serde_json::{Map, Value, json};
use tracing::{debug, info};

use super::runner::StepResult;
use crate::agent::{self, AgentClient, HEARTBEAT_KEY, TOKEN_KEY, URL_KEY, WAIT_KEY};
use crate::claim::Locked;
use crate::config::secs;
use crate::steps::{self, Step};
use crate::{FlowError, fsm};

/// The clean-phase step that boots the ramdisk before in-band steps.
const BOOT_STEP: &str = "boot_agent";
/// The step that powers the ramdisk off and forgets the agent.
const TEAR_DOWN_STEP: &str = "tear_down_agent";
/// The agent's default command API port.
const AGENT_PORT: u16 = 9999;

/// Whether the node's deploy interface works through the agent.
pub(crate) fn uses_agent(driver: &Driver) -> bool {
    driver.deploy.name() == "direct"
}

/// Whether the conductor runs `step` itself (through the agent).
fn runs_here(driver: &Driver, step: &Step) -> bool {
    uses_agent(driver) && step.interface == K::Deploy && !OUT_OF_BAND.contains(&step.step.as_str())
}

/// Whether `step` executes inside the agent (not the boot or tear-down
/// the conductor wraps around in-band work).
fn in_band(driver: &Driver, step: &Step) -> bool {
    runs_here(driver, step) && !matches!(step.step.as_str(), "deploy" | BOOT_STEP | TEAR_DOWN_STEP)
}

/// The clean steps a `direct` driver offers, with the conductor's
/// configured priorities for the agent's erase steps.
pub(crate) fn clean_offer(lock: &Locked, driver: &Driver) -> Vec<StepDef> {
    let config = &lock.engine.config;
    let mut offered = driver.steps(StepPhase::Clean);
    if uses_agent(driver) {
        for def in offered.iter_mut().filter(|d| d.interface == K::Deploy) {
            match def.step {
                "erase_devices" => def.priority = config.erase_devices_priority,
                "erase_devices_metadata" => def.priority = config.erase_devices_metadata_priority,
                _ => {}
            }
        }
    }
    offered
}

/// A clean (or service) list with in-band steps gets the ramdisk booted
/// first and torn down last, so the order is visible in the recorded list.
pub(crate) fn with_ramdisk(driver: &Driver, mut list: Vec<Step>) -> Vec<Step> {
    if !list.iter().any(|s| in_band(driver, s)) {
        return list;
    }
    let step = |name: &str| Step {
        interface: K::Deploy,
        step: name.to_string(),
        args: Map::new(),
        priority: 0,
    };
    list.insert(0, step(BOOT_STEP));
    list.push(step(TEAR_DOWN_STEP));
    list
}

/// Runs `step` when the conductor runs it for this driver; `None` when
/// the driver does.
pub(crate) async fn execute(
    lock: &mut Locked,
    driver: &Driver,
    phase: StepPhase,
    step: &Step,
) -> Option<Result<StepResult, String>> {
    if !runs_here(driver, step) {
        return None;
    }
    Some(match step.step.as_str() {
        "deploy" | BOOT_STEP => boot(lock, driver, phase).await,
        TEAR_DOWN_STEP => tear_down(lock, driver).await,
        _ => in_agent(lock, phase, step).await,
    })
}

/// The poll-only agent's URL when the node is configured for it
/// (`driver_info.agent_poll_only` and `agent_address`).
fn poll_only(node: &Node) -> Result<Option<String>, String> {
    let on = match node.driver_info.get("agent_poll_only") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Some(other) => return Err(format!("driver_info.agent_poll_only is invalid: {other}")),
    };
    if !on {
        return Ok(None);
    }
    let address = node
        .driver_info
        .get("agent_address")
        .and_then(Value::as_str)
        .filter(|a| !a.trim().is_empty())
        .ok_or("driver_info.agent_address is required for a poll-only agent")?
        .trim();
    Ok(Some(
        if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_string()
        } else if address.contains(':')
            && !address.starts_with('[')
            && address.matches(':').count() == 1
        {
            format!("http://{address}")
        } else {
            format!("http://{address}:{AGENT_PORT}")
        },
    ))
}

/// Forgets the previous agent, boots the ramdisk and waits: for a
/// heartbeat, or (poll-only) until the next look for the agent.
async fn boot(lock: &mut Locked, driver: &Driver, phase: StepPhase) -> Result<StepResult, String> {
    let poll = poll_only(&lock.node)?;
    lock.update(|n, _| {
        for key in [TOKEN_KEY, URL_KEY, HEARTBEAT_KEY] {
            n.driver_internal_info.remove(key);
        }
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut update = agent_deploy::boot_ramdisk(driver, &lock.node)
        .await
        .map_err(|e| format!("booting the agent ramdisk failed: {e}"))?;
    update
        .driver_internal_info
        .insert(WAIT_KEY.into(), json!(phase.as_str()));
    let until = poll.map(|_| Utc::now() + poll_delay(lock));
    info!(poll_only = until.is_some(), "agent ramdisk booting");
    Ok(StepResult::Wait(until, update))
}

fn poll_delay(lock: &Locked) -> chrono::Duration {
    let seconds = lock.engine.config.agent_poll_interval.clamp(0.05, 60.0);
    chrono::Duration::milliseconds((seconds * 1000.0) as i64)
}

/// Powers the ramdisk off, removes its boot files and forgets the agent.
async fn tear_down(lock: &mut Locked, driver: &Driver) -> Result<StepResult, String> {
    let mut update = agent_deploy::tear_down_ramdisk(driver, &lock.node)
        .await
        .map_err(|e| e.to_string())?;
    for key in [TOKEN_KEY, URL_KEY, HEARTBEAT_KEY] {
        update.driver_internal_info.insert(key.into(), Value::Null);
    }
    Ok(StepResult::Done(update))
}

/// The client for the node's agent, from what lookup/claim and the
/// heartbeat recorded.
fn client_of(node: &Node) -> Result<AgentClient, String> {
    let info = &node.driver_internal_info;
    let url = info
        .get(URL_KEY)
        .and_then(Value::as_str)
        .ok_or("no agent has called back for this node")?;
    let token = info
        .get(TOKEN_KEY)
        .and_then(Value::as_str)
        .ok_or("the node has no agent token")?;
    Ok(AgentClient::new(url, token))
}

/// The node as the agent sees it in step calls: what its steps read
/// (root device hints, disks to skip, erase settings), no secrets.
fn node_document(node: &Node) -> Value {
    let mut internal = node.driver_internal_info.clone();
    internal.remove(TOKEN_KEY);
    let mut instance = node.instance_info.clone();
    for secret in ["configdrive", "rescue_password"] {
        instance.remove(secret);
    }
    json!({
        "uuid": node.uuid,
        "properties": node.properties,
        "instance_info": instance,
        "driver_internal_info": internal,
    })
}

/// Runs one in-band step in the agent and follows it to its end.
async fn in_agent(lock: &mut Locked, phase: StepPhase, step: &Step) -> Result<StepResult, String> {
    let client = client_of(&lock.node)?;
    let mut value = step.to_value();
    // Held until the agent is done so the cache keeps the blob it reads.
    let mut _image = None;
    if step.step == "write_image" {
        match image_info(&lock.node).await {
            Ok((image_info, prepared)) => {
                value["args"]["image_info"] = image_info;
                _image = prepared;
            }
            Err(msg) => {
                // The agent wipes a disk it failed to write; an image that
                // never reached it must not leave an older one bootable.
                let wipe = Step {
                    step: "erase_devices_metadata".into(),
                    args: Map::new(),
                    ..step.clone()
                };
                if let Err(e) = run_in_agent(lock, &client, phase, wipe.to_value()).await {
                    tracing::warn!(error = %e, "could not wipe the disk after a failed image");
                }
                return Err(msg);
            }
        }
    }
    let result = run_in_agent(lock, &client, phase, value).await?;
    debug!(step = %step.label(), ?result, "agent step done");
    Ok(StepResult::Done(NodeUpdate::default()))
}

/// `<phase>.execute_<phase>_step` of `step` (its JSON form), followed to
/// its end.
async fn run_in_agent(
    lock: &Locked,
    client: &AgentClient,
    phase: StepPhase,
    step: Value,
) -> Result<Value, String> {
    let p = phase.as_str();
    let params = json!({"step": step, "node": node_document(&lock.node), "ports": []});
    let timeout = secs(lock.engine.config.agent_command_timeout).unwrap_or(Duration::MAX);
    client
        .run(&format!("{p}.execute_{p}_step"), params, timeout)
        .await
        .map_err(|e| e.to_string())
}

/// The `image_info` for `write_image`. With the image service the image
/// is fetched (once, verified) into the cache, a qcow2 converted to raw,
/// and the agent downloads the blob from the provisioning listener and
/// verifies its sha256; without it the agent streams `image_source`
/// itself with the node's checksum.
async fn image_info(node: &Node) -> Result<(Value, Option<PreparedImage>), String> {
    let info = &node.instance_info;
    let source = info
        .get("image_source")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or("instance_info.image_source is required to write an image")?;
    let spec = ChecksumSpec::from_instance_info(info)
        .map_err(|e| format!("the image checksum of {source} is invalid: {e}"))?;
    let Some(service) = agent::image_service() else {
        let mut image_info = json!({"urls": [source], "image_type": "whole-disk"});
        for (from, to) in [
            ("image_checksum", "checksum"),
            ("image_os_hash_algo", "os_hash_algo"),
            ("image_os_hash_value", "os_hash_value"),
        ] {
            if let Some(v) = info.get(from) {
                image_info[to] = v.clone();
            }
        }
        return Ok((image_info, None));
    };
    let prepared = service
        .cache
        .prepare(source, spec.as_ref(), None)
        .await
        .map_err(|e| format!("the image could not be prepared: {e}"))?;
    let sha256 = prepared.image.sha256().to_string();
    let image_info = json!({
        "urls": [format!("{}{}/{sha256}", service.base_url, ferrite_images::serve::IMAGES_PATH)],
        "os_hash_algo": "sha256",
        "os_hash_value": sha256,
        "disk_format": prepared.format.name(),
        "image_type": "whole-disk",
    });
    Ok((image_info, Some(prepared)))
}

/// How continuing after the ramdisk boot went.
pub(crate) enum AfterBoot {
    /// The agent is up: run these steps from the next index.
    Continue(Vec<Step>),
    /// The node waits again or failed; its lock was released.
    Stopped,
}

/// Continues a node whose agent boot wait ended: (poll-only) finds and
/// claims the agent, merges the agent's steps into the list, drops the
/// wait marker.
pub(crate) async fn after_boot(
    lock: &mut Locked,
    phase: StepPhase,
    list: Vec<Step>,
    index: usize,
    driver: &Driver,
) -> Result<AfterBoot, FlowError> {
    let poll = match poll_only(&lock.node) {
        Ok(p) => p,
        Err(msg) => return failed(lock, phase, msg).await,
    };
    if let Some(url) = poll
        && !lock.node.driver_internal_info.contains_key(URL_KEY)
    {
        match claim(lock, &url).await {
            Ok(true) => {}
            Ok(false) => {
                rewait(lock, index).await?;
                return Ok(AfterBoot::Stopped);
            }
            Err(msg) => return failed(lock, phase, msg).await,
        }
    }
    let list = match merge_agent_steps(lock, driver, phase, list, index).await {
        Ok(list) => list,
        Err(msg) => return failed(lock, phase, msg).await,
    };
    let stored = steps::to_list(&list);
    lock.update(move |n, _| {
        n.driver_internal_info.remove(WAIT_KEY);
        n.driver_internal_info.insert(fsm::steps_key(phase), stored);
        Ok(())
    })
    .await?;
    Ok(AfterBoot::Continue(list))
}

async fn failed(lock: &mut Locked, phase: StepPhase, msg: String) -> Result<AfterBoot, FlowError> {
    lock.fail(format!(
        "The agent of the {} could not be used: {msg}",
        phase.as_str()
    ))
    .await?;
    Ok(AfterBoot::Stopped)
}

/// Back to `* wait` until the next look for a poll-only agent.
async fn rewait(lock: &mut Locked, index: usize) -> Result<(), FlowError> {
    let at = Utc::now() + poll_delay(lock);
    lock.release(move |n, now| {
        fsm::fire(n, Event::Wait, now)?;
        n.driver_internal_info
            .insert(fsm::WAIT_UNTIL_KEY.into(), Value::String(at.to_rfc3339()));
        Ok(())
    })
    .await?;
    lock.engine
        .schedule_resume(lock.node.uuid, index as u64, at);
    Ok(())
}

/// The MACs of the node's ports, lower case.
async fn port_macs(lock: &Locked) -> Result<Vec<String>, String> {
    let query = ListQuery {
        filters: vec![Filter::Eq("node_uuid".into(), json!(lock.node.uuid))],
        ..ListQuery::default()
    };
    let ports: Vec<Port> = lock
        .engine
        .store
        .list(&query)
        .await
        .map_err(|e| format!("the node's ports could not be read: {e}"))?;
    Ok(ports
        .into_iter()
        .map(|p| p.address.to_lowercase())
        .collect())
}

/// Finds the poll-only agent at `url`, checks it is this node's (one of
/// its MACs is a port of the node) and claims it with a fresh token,
/// stored before the claim so a retry repeats the identical claim.
/// `Ok(false)` while no agent answers yet.
async fn claim(lock: &mut Locked, url: &str) -> Result<bool, String> {
    let uuid = lock.node.uuid;
    let status = match AgentClient::new(url, "").status().await {
        Ok(s) => s,
        Err(e) => {
            debug!(error = %e, "poll-only agent not up yet");
            return Ok(false);
        }
    };
    if status.get("mode").and_then(Value::as_str) != Some("poll") {
        return Err(format!("the agent at {url} is not in poll-only mode"));
    }
    let ours = lock.node.driver_internal_info.get(TOKEN_KEY).is_some();
    if status.get("claimed").and_then(Value::as_bool) == Some(true) {
        let claimed_for = status.get("node_uuid").and_then(Value::as_str);
        if !(ours && claimed_for == Some(uuid.to_string().as_str())) {
            return Err(format!(
                "the agent at {url} was claimed for node {}",
                claimed_for.unwrap_or("?")
            ));
        }
    } else {
        let macs = port_macs(lock).await?;
        let seen: Vec<String> = status
            .get("macs")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        if !seen.iter().any(|m| macs.contains(m)) {
            return Err(format!(
                "the agent at {url} has the MACs {seen:?}, none of which is a port of this node"
            ));
        }
    }
    if !ours {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        lock.update(move |n, _| {
            n.driver_internal_info
                .insert(TOKEN_KEY.into(), json!(token));
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    }
    let token = lock
        .node
        .driver_internal_info
        .get(TOKEN_KEY)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    AgentClient::new(url, &token)
        .claim(uuid, node_document(&lock.node))
        .await
        .map_err(|e| e.to_string())?;
    let url = url.to_string();
    lock.update(move |n, _| {
        n.driver_internal_info.insert(URL_KEY.into(), json!(url));
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?;
    info!("poll-only agent claimed");
    Ok(true)
}

/// Asks the agent for its steps: every in-band step still to run must be
/// one it offers; in automated runs (deployment, automated cleaning) the
/// agent's steps the driver does not declare join with their own
/// priority (steps the driver declares keep the conductor's priority).
async fn merge_agent_steps(
    lock: &Locked,
    driver: &Driver,
    phase: StepPhase,
    mut list: Vec<Step>,
    index: usize,
) -> Result<Vec<Step>, String> {
    let client = client_of(&lock.node)?;
    let p = phase.as_str();
    let params = json!({"node": node_document(&lock.node), "ports": []});
    let result = client
        .run(
            &format!("{p}.get_{p}_steps"),
            params,
            Duration::from_secs(60),
        )
        .await
        .map_err(|e| e.to_string())?;
    let offered: Vec<Step> = result
        .get(format!("{p}_steps"))
        .and_then(Value::as_object)
        .map(|managers| {
            managers
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|s| Step::from_value(s, false).ok())
                .collect()
        })
        .unwrap_or_default();
    let start = (index + 1).min(list.len());
    for step in list[start..].iter().filter(|s| in_band(driver, s)) {
        if !offered
            .iter()
            .any(|o| o.interface == step.interface && o.step == step.step)
        {
            return Err(format!(
                "the agent does not offer the {p} step {}",
                step.label()
            ));
        }
    }
    let manual =
        phase == StepPhase::Clean && lock.node.target_provision_state == Some(S::Manageable);
    if phase == StepPhase::Service || manual {
        return Ok(list);
    }
    let mut added = Vec::new();
    for step in offered.into_iter().filter(|o| o.priority > 0) {
        let known = driver
            .find_step(phase, step.interface, &step.step)
            .is_some()
            || list
                .iter()
                .any(|s| s.interface == step.interface && s.step == step.step);
        if !known {
            added.push(step);
        }
    }
    if !added.is_empty() {
        info!(steps = ?added.iter().map(Step::label).collect::<Vec<_>>(), "agent steps join");
        list.extend(added);
        steps::sort(phase, &mut list[start..]);
    }
    Ok(list)
}

/// After a node entered an agent boot wait: a heartbeat that arrived
/// while the conductor still held the lock could not continue the node,
/// so look once now.
pub(crate) async fn caught_up(lock: &Locked) -> Result<(), FlowError> {
    if !lock.node.driver_internal_info.contains_key(WAIT_KEY) {
        return Ok(());
    }
    let uuid = lock.node.uuid;
    let (_, woke) = lock
        .engine
        .store
        .update::<Node, bool, FlowError, _>(&ferrite_store::Ident::Uuid(uuid), |n| {
            Ok(agent::continue_on_callback(n))
        })
        .await?;
    if woke {
        lock.engine.wake(uuid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_only_address_becomes_a_url() {
        let mut n = Node::default();
        assert_eq!(poll_only(&n), Ok(None));
        n.driver_info.insert("agent_poll_only".into(), json!(true));
        assert!(poll_only(&n).is_err_and(|e| e.contains("agent_address")));
        for (address, url) in [
            ("10.0.0.5", "http://10.0.0.5:9999"),
            ("10.0.0.5:8000", "http://10.0.0.5:8000"),
            ("http://h:1/", "http://h:1"),
        ] {
            n.driver_info.insert("agent_address".into(), json!(address));
            assert_eq!(poll_only(&n), Ok(Some(url.to_string())));
        }
        n.driver_info.insert("agent_poll_only".into(), json!("no"));
        assert_eq!(poll_only(&n), Ok(None));
    }

    #[test]
    fn the_agent_sees_no_secrets() {
        let mut n = Node::default();
        n.driver_internal_info
            .insert(TOKEN_KEY.into(), json!("t0ken"));
        n.instance_info
            .insert("rescue_password".into(), json!("pw"));
        n.properties
            .insert("root_device".into(), json!({"name": "vda"}));
        let doc = node_document(&n).to_string();
        assert!(!doc.contains("t0ken") && !doc.contains("pw"), "{doc}");
        assert!(doc.contains("vda"));
    }
}
