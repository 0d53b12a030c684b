//! Firmware updates through `UpdateService.SimpleUpdate`: the BMC fetches
//! the image from a URL and flashes it, one component at a time, each
//! followed through its task monitor until the BMC says it finished.

use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::{Dict, Node};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::client::{BmcClient, BmcClientExt, BmcError};
use super::config::RedfishConfig;
use super::connect_system;
use super::power::read_system;
use super::resources::{ActionTarget, ODataId};
use crate::interfaces::{
    FirmwareInterface, Interface, NodeUpdate, StepCtx, StepDef, StepOutcome, StepPhase, unsupported,
};
use crate::{DriverError, InterfaceKind};

/// How long one component's update may run.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(1800);

/// How often a task monitor is read.
const TASK_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceRootUpdate {
    #[serde(rename = "UpdateService")]
    update_service: Option<ODataId>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateActions {
    #[serde(rename = "#UpdateService.SimpleUpdate")]
    simple_update: Option<ActionTarget>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateService {
    #[serde(rename = "Actions")]
    actions: Option<UpdateActions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Task {
    #[serde(rename = "TaskState")]
    task_state: Option<String>,
    #[serde(rename = "TaskStatus")]
    task_status: Option<String>,
}

/// One requested update: `{"component": "bios"|"bmc", "url": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareUpdate {
    /// `bios` or `bmc`.
    pub component: String,
    /// Where the BMC downloads the image.
    pub url: String,
    /// Seconds to wait after the update (for BMCs that restart).
    pub wait: Option<u64>,
}

/// Reads the step's `settings` argument.
pub fn parse_settings(args: &Dict) -> Result<Vec<FirmwareUpdate>, DriverError> {
    let bad = |why: &str| {
        DriverError::InvalidParameter(format!(
            "settings must be a list of {{\"component\": \"bios\"|\"bmc\", \"url\": ..., \
             \"wait\": seconds}} objects: {why}."
        ))
    };
    let list = args
        .get("settings")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("not a list"))?;
    let mut out = Vec::new();
    for item in list {
        let component = item
            .get("component")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("component missing"))?;
        if component != "bios" && component != "bmc" {
            return Err(bad(&format!("unknown component {component}")));
        }
        let url = item
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .ok_or_else(|| bad("url missing or not http(s)"))?;
        out.push(FirmwareUpdate {
            component: component.to_string(),
            url: url.to_string(),
            wait: item.get("wait").and_then(Value::as_u64),
        });
    }
    Ok(out)
}

/// Follows the task at `monitor` until it ends; `what` names the work in
/// messages (`firmware update`, `RAID`).
pub(super) async fn wait_for_task(
    client: &dyn BmcClient,
    monitor: &str,
    what: &str,
) -> Result<(), DriverError> {
    let deadline = Instant::now() + UPDATE_TIMEOUT;
    loop {
        let task: Task = client.get_as(monitor).await?;
        match task.task_state.as_deref() {
            Some("Completed") if task.task_status.as_deref() != Some("Critical") => return Ok(()),
            Some(state @ ("Completed" | "Exception" | "Killed" | "Cancelled")) => {
                return Err(DriverError::Failed(format!(
                    "The {what} task {monitor} on the BMC at {} ended {state} ({}).",
                    client.address(),
                    task.task_status.as_deref().unwrap_or("no status")
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(DriverError::Failed(format!(
                "The {what} task {monitor} on the BMC at {} did not finish in {} s.",
                client.address(),
                UPDATE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(TASK_POLL).await;
    }
}

/// Runs one update and follows it to the end.
async fn update_one(
    client: &dyn BmcClient,
    system_path: &str,
    update: &FirmwareUpdate,
) -> Result<(), DriverError> {
    let root: ServiceRootUpdate = client.get_as("/redfish/v1/").await?;
    let Some(service) = root.update_service.map(|s| s.id) else {
        return Err(DriverError::Unsupported(format!(
            "The BMC at {} has no UpdateService.",
            client.address()
        )));
    };
    let service_doc: UpdateService = client.get_as(&service).await?;
    let action = service_doc
        .actions
        .and_then(|a| a.simple_update)
        .map(|a| a.target)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{service}/Actions/UpdateService.SimpleUpdate"));
    let target = if update.component == "bios" {
        system_path.to_string()
    } else {
        let system = read_system(client, system_path).await?;
        system
            .links
            .and_then(|l| l.managed_by.into_iter().next())
            .map(|m| m.id)
            .ok_or_else(|| {
                DriverError::Unsupported(format!(
                    "The BMC at {} names no manager for {system_path}.",
                    client.address()
                ))
            })?
    };
    let response = client
        .post(
            &action,
            &json!({"ImageURI": update.url, "Targets": [target]}),
        )
        .await
        .map_err(|e: BmcError| DriverError::from(e))?;
    if let Some(monitor) = response.location {
        wait_for_task(client, &monitor, "firmware update").await?;
    }
    if let Some(secs) = update.wait {
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    Ok(())
}

/// The `redfish` firmware interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishFirmware;

#[async_trait]
impl Interface for RedfishFirmware {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Firmware
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }

    fn steps(&self, _phase: StepPhase) -> Vec<StepDef> {
        vec![StepDef::new(InterfaceKind::Firmware, "update", 0).arg(
            "settings",
            "A list of {\"component\": \"bios\"|\"bmc\", \"url\": ..., \"wait\": seconds} \
             updates, applied in order.",
            true,
        )]
    }

    async fn execute_step(
        &self,
        ctx: &StepCtx<'_>,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        if step != "update" {
            return Err(unsupported(self, &format!("the step {step}")));
        }
        let updates = parse_settings(args)?;
        let (_, client, path) = connect_system(ctx.node).await?;
        for update in &updates {
            update_one(&*client, &path, update).await?;
        }
        Ok(StepOutcome::Done(NodeUpdate::default()))
    }
}

impl FirmwareInterface for RedfishFirmware {}
