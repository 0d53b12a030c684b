//! RAID through the system's `Storage` subsystems (reference §5.3, §6.3):
//! controllers, drives and volumes are read from the BMC, volumes are
//! created by POSTing to a controller's `Volumes` collection and removed
//! by DELETEing them. What to build is planned without I/O in
//! [`super::raid_plan`]; this module only talks to the BMC and records the
//! result as the node's `raid_config`.

use std::collections::HashSet;

use async_trait::async_trait;
use ferrite_model::{Dict, Node, PowerTarget};
use serde_json::{Map, Value, json};

use super::client::{BmcClient, BmcClientExt, HttpMethod};
use super::config::RedfishConfig;
use super::connect_system;
use super::firmware::wait_for_task;
use super::power::read_system;
use super::raid_plan::{Controller, DriveInfo, GIB, VolumeRequest, plan};
use super::resources::{Drive, Storage, Volume, VolumeCollection};
use crate::interfaces::{
    Interface, NodeUpdate, RaidInterface, StepCtx, StepDef, StepOutcome, StepPhase, unsupported,
};
use crate::{DriverError, InterfaceKind, raid};

/// The RAID controllers of `system`: its Storage subsystems that have a
/// `Volumes` collection, with their drives and which of them volumes use.
pub async fn controllers(
    client: &dyn BmcClient,
    system: &str,
) -> Result<Vec<Controller>, DriverError> {
    let Some(storage) = read_system(client, system).await?.storage else {
        return Err(DriverError::Unsupported(format!(
            "The BMC at {} exposes no Storage for {system}; RAID needs it.",
            client.address()
        )));
    };
    let mut out = Vec::new();
    for path in client.members(&storage.id).await? {
        let doc: Storage = client.get_as(&path).await?;
        let Some(volumes) = doc.volumes else {
            continue;
        };
        let mut drives = Vec::new();
        for link in &doc.drives {
            let d: Drive = client.get_as(&link.id).await?;
            drives.push(DriveInfo {
                path: link.id.clone(),
                id: d.id.unwrap_or_else(|| link.id.clone()),
                capacity_bytes: d.capacity_bytes.unwrap_or(0),
                media_type: d.media_type,
                protocol: d.protocol,
            });
        }
        let mut used = HashSet::new();
        for v in client.members(&volumes.id).await? {
            let volume: Volume = client.get_as(&v).await?;
            used.extend(
                volume
                    .links
                    .into_iter()
                    .flat_map(|l| l.drives)
                    .map(|d| d.id),
            );
        }
        out.push(Controller {
            id: doc.id.unwrap_or_else(|| path.clone()),
            path,
            names: doc
                .storage_controllers
                .iter()
                .filter_map(|c| c.name.clone())
                .collect(),
            volumes_path: volumes.id,
            drives,
            used,
            raid_types: doc
                .storage_controllers
                .into_iter()
                .flat_map(|c| c.supported_raid_types)
                .collect(),
        });
    }
    Ok(out)
}

/// Whether changes to the collection only apply at the next boot (the
/// BMC offers `OnReset` but not `Immediate`).
async fn needs_reset(client: &dyn BmcClient, volumes: &str) -> Result<bool, DriverError> {
    let doc: VolumeCollection = client.get_as(volumes).await?;
    Ok(doc.apply_time.is_some_and(|a| {
        !a.supported_values.iter().any(|v| v == "Immediate")
            && a.supported_values.iter().any(|v| v == "OnReset")
    }))
}

/// Deletes every volume of every RAID controller; returns whether a
/// reboot is needed for it to take effect.
async fn delete_all(client: &dyn BmcClient, system: &str) -> Result<bool, DriverError> {
    let mut reset = false;
    for ctl in controllers(client, system).await? {
        let members = client.members(&ctl.volumes_path).await?;
        if !members.is_empty() && needs_reset(client, &ctl.volumes_path).await? {
            reset = true;
        }
        for volume in members {
            let response = client.request(HttpMethod::Delete, &volume, None).await?;
            if response.status == 202
                && let Some(monitor) = response.location
            {
                wait_for_task(client, &monitor, "RAID").await?;
            }
        }
    }
    Ok(reset)
}

/// Creates one planned volume and returns its logical disk with the size
/// the BMC gave it (what "MAX" became).
async fn create(
    client: &dyn BmcClient,
    ctl: &Controller,
    request: VolumeRequest,
    on_reset: bool,
) -> Result<Map<String, Value>, DriverError> {
    let mut body = request.body;
    if on_reset {
        body["@Redfish.OperationApplyTime"] = json!("OnReset");
    }
    let response = client.post(&ctl.volumes_path, &body).await?;
    let mut disk = request.logical_disk;
    match (response.status, response.location) {
        (202, Some(monitor)) if !on_reset => wait_for_task(client, &monitor, "RAID").await?,
        (201, Some(volume)) => {
            let created: Volume = client.get_as(&volume).await?;
            if let Some(bytes) = created.capacity_bytes {
                disk.insert("size_gb".into(), json!(bytes / GIB));
            }
        }
        _ => {}
    }
    Ok(disk)
}

/// Builds the selected disks of `config` on the system; returns the
/// logical disks created and whether a reboot must apply them.
async fn build(
    client: &dyn BmcClient,
    system: &str,
    config: &Dict,
    create_root: bool,
    create_nonroot: bool,
) -> Result<(Vec<Value>, bool), DriverError> {
    let ctls = controllers(client, system).await?;
    let requests = plan(&ctls, config, create_root, create_nonroot)?;
    let mut reset = false;
    let mut disks = Vec::new();
    for request in requests {
        let ctl = &ctls[request.controller];
        let on_reset = needs_reset(client, &ctl.volumes_path).await?;
        reset |= on_reset;
        disks.push(Value::Object(create(client, ctl, request, on_reset).await?));
    }
    Ok((disks, reset))
}

/// The `redfish` RAID interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishRaid;

#[async_trait]
impl Interface for RedfishRaid {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Raid
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }

    fn steps(&self, phase: StepPhase) -> Vec<StepDef> {
        raid::steps(phase)
    }

    /// Deletes and/or creates volumes, records what now exists as the
    /// node's `raid_config`, and reboots through the power interface when
    /// the BMC applies volume changes only at the next boot.
    async fn execute_step(
        &self,
        ctx: &StepCtx<'_>,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        let (_, client, system) = connect_system(ctx.node).await?;
        let root = raid::bool_arg(args, "create_root_volume", true)?;
        let nonroot = raid::bool_arg(args, "create_nonroot_volumes", true)?;
        let (disks, reset) = match step {
            "delete_configuration" => (Vec::new(), delete_all(&*client, &system).await?),
            "create_configuration" => {
                let target = raid::target_config(ctx.node)?;
                build(&*client, &system, &target, root, nonroot).await?
            }
            "apply_configuration" => {
                let config = raid::config_arg(args)?;
                let deleted = if raid::bool_arg(args, "delete_existing", true)? {
                    delete_all(&*client, &system).await?
                } else {
                    false
                };
                let (disks, created) = build(&*client, &system, &config, root, nonroot).await?;
                (disks, deleted || created)
            }
            other => return Err(unsupported(self, &format!("the step {other}"))),
        };
        let mut update = NodeUpdate {
            raid_config: Some(if disks.is_empty() {
                Dict::new()
            } else {
                let mut d = Dict::new();
                d.insert("logical_disks".into(), Value::Array(disks));
                d
            }),
            ..NodeUpdate::default()
        };
        if reset {
            let state = ctx
                .driver
                .power
                .set_power_state(ctx.node, PowerTarget::Reboot, None)
                .await?;
            update.power_state = Some(state);
        }
        Ok(StepOutcome::Done(update))
    }
}

impl RaidInterface for RedfishRaid {
    fn validate_raid_config(&self, config: &Value) -> Result<(), DriverError> {
        raid::validate_raid_config(config)
    }
}
