//! `ComputerSystem`: the resource Ironic's redfish driver lives on —
//! power state, boot override (PATCH), the Reset action, secure boot.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    AppState, RfError, RfResult, enum_value, link, no_content, ok, parse_object, required,
    status_ok, system, type_error,
};
use crate::state::{BootMode, BootOverrideEnabled, BootTarget, ResetType};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/redfish/v1/Systems/{id}",
            get(get_system).patch(patch_system),
        )
        .route(
            "/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset",
            post(reset),
        )
        .route(
            "/redfish/v1/Systems/{id}/SecureBoot",
            get(get_secure_boot).patch(patch_secure_boot),
        )
        .route(
            "/redfish/v1/Systems/{id}/SecureBoot/Actions/SecureBoot.ResetKeys",
            post(reset_keys),
        )
}

async fn get_system(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let (power, boot, http_uri) = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        (s.power, s.boot, s.http_boot_uri.clone())
    };
    let sid = fleet.system_id(i);
    let base = format!("/redfish/v1/Systems/{sid}");
    let hw = fleet.inventory().hardware(i);
    let mut boot_doc = json!({
        "BootSourceOverrideEnabled": boot.enabled,
        "BootSourceOverrideEnabled@Redfish.AllowableValues": BootOverrideEnabled::allowable(),
        "BootSourceOverrideTarget": boot.target,
        "BootSourceOverrideTarget@Redfish.AllowableValues": BootTarget::allowable(),
        "BootSourceOverrideMode": boot.mode,
        "BootSourceOverrideMode@Redfish.AllowableValues": BootMode::allowable(),
    });
    if let Some(uri) = http_uri {
        boot_doc["HttpBootUri"] = json!(uri.as_ref());
    }
    ok(json!({
        "@odata.id": base,
        "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
        "Id": sid,
        "Name": sid,
        "UUID": fleet.inventory().uuid(i),
        "Manufacturer": "Ferrite",
        "Model": hw.model,
        "SKU": hw.sku,
        "SerialNumber": hw.serial,
        "SystemType": "Physical",
        "BiosVersion": hw.bios_version,
        "PowerState": power,
        "IndicatorLED": "Off",
        "Status": status_ok(),
        "Boot": boot_doc,
        "ProcessorSummary": {
            "Count": hw.sockets,
            "CoreCount": hw.sockets * hw.cores_per_socket,
            "LogicalProcessorCount": hw.logical_processors(),
            "Model": hw.cpu_model,
            "Status": status_ok(),
        },
        "MemorySummary": {
            "TotalSystemMemoryGiB": hw.memory_gib,
            "Status": status_ok(),
        },
        "Bios": link(format!("{base}/Bios")),
        "Processors": link(format!("{base}/Processors")),
        "Memory": link(format!("{base}/Memory")),
        "SecureBoot": link(format!("{base}/SecureBoot")),
        "EthernetInterfaces": link(format!("{base}/EthernetInterfaces")),
        "SimpleStorage": link(format!("{base}/SimpleStorage")),
        "Storage": link(format!("{base}/Storage")),
        "VirtualMedia": link(format!("{base}/VirtualMedia")),
        "Links": {
            "Chassis": [link(format!("/redfish/v1/Chassis/{sid}"))],
            "ManagedBy": [link(format!("/redfish/v1/Managers/{sid}"))],
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": format!("{base}/Actions/ComputerSystem.Reset"),
                "ResetType@Redfish.AllowableValues": ResetType::allowable(),
            }
        },
    }))
}

/// Properties of the system a client may PATCH besides `Boot`; accepted
/// and ignored, as BMCs do for cosmetic settings.
const IGNORED_WRITABLE: [&str; 2] = ["AssetTag", "IndicatorLED"];

async fn patch_system(
    State(fleet): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let req = parse_object(&body)?;
    for key in req.keys() {
        if key != "Boot" && !IGNORED_WRITABLE.contains(&key.as_str()) && !key.starts_with('@') {
            return Err(RfError::bad_request(
                "Base.1.8.PropertyNotWritable",
                format!(
                    "The property {key} is a read only property and cannot be assigned a value."
                ),
            ));
        }
    }
    let Some(boot) = req.get("Boot") else {
        return no_content();
    };
    let boot = boot.as_object().ok_or_else(|| type_error("Boot", boot))?;
    let mut enabled = None;
    let mut target = None;
    let mut mode = None;
    let mut http_uri: Option<Option<Box<str>>> = None;
    for (key, v) in boot {
        match key.as_str() {
            "BootSourceOverrideEnabled" => {
                enabled = Some(enum_value::<BootOverrideEnabled>(key, v)?)
            }
            "BootSourceOverrideTarget" => target = Some(enum_value::<BootTarget>(key, v)?),
            "BootSourceOverrideMode" => mode = Some(enum_value::<BootMode>(key, v)?),
            "HttpBootUri" => {
                http_uri = Some(match v {
                    Value::Null => None,
                    Value::String(s) if s.is_empty() => None,
                    Value::String(s) => Some(s.as_str().into()),
                    _ => return Err(type_error(key, v)),
                })
            }
            "UefiTargetBootSourceOverride" => {}
            other => {
                return Err(RfError::bad_request(
                    "Base.1.8.PropertyUnknown",
                    format!(
                        "The property Boot/{other} is not in the list of valid properties for the resource."
                    ),
                ));
            }
        }
    }
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    if mode == Some(BootMode::Legacy) && s.secure_boot_enable {
        return Err(RfError::conflict(
            "Legacy boot mode cannot be set while UEFI secure boot is enabled.",
        ));
    }
    if let Some(e) = enabled {
        s.boot.enabled = e;
    }
    if let Some(t) = target {
        s.boot.target = t;
    }
    if let Some(m) = mode {
        s.boot.mode = m;
    }
    if let Some(uri) = http_uri {
        s.http_boot_uri = uri;
    }
    no_content()
}

async fn reset(State(fleet): State<AppState>, Path(id): Path<String>, body: Bytes) -> RfResult {
    let i = system(&fleet, &id)?;
    let req = parse_object(&body)?;
    let kind = match req.get("ResetType") {
        None => {
            return Err(RfError::bad_request(
                "Base.1.8.ActionParameterMissing",
                "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.",
            ));
        }
        Some(v) => {
            let s = v.as_str().ok_or_else(|| type_error("ResetType", v))?;
            s.parse::<ResetType>().map_err(|_| {
                RfError::bad_request(
                    "Base.1.8.ActionParameterValueNotInList",
                    format!("The value {v} for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values."),
                )
            })?
        }
    };
    fleet.reset(i, kind)?;
    no_content()
}

async fn get_secure_boot(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let (enable, current) = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        (s.secure_boot_enable, s.secure_boot_current)
    };
    let base = format!("/redfish/v1/Systems/{}/SecureBoot", fleet.system_id(i));
    ok(json!({
        "@odata.id": base,
        "@odata.type": "#SecureBoot.v1_1_0.SecureBoot",
        "Id": "SecureBoot",
        "Name": "UEFI Secure Boot",
        "SecureBootEnable": enable,
        "SecureBootCurrentBoot": if current { "Enabled" } else { "Disabled" },
        "SecureBootMode": "DeployedMode",
        "Actions": {
            "#SecureBoot.ResetKeys": {
                "target": format!("{base}/Actions/SecureBoot.ResetKeys"),
                "ResetKeysType@Redfish.AllowableValues": ["ResetAllKeysToDefault", "DeleteAllKeys", "DeletePK"],
            }
        },
    }))
}

async fn patch_secure_boot(
    State(fleet): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let req = parse_object(&body)?;
    let v = required(&req, "SecureBootEnable")?;
    let enable = v
        .as_bool()
        .ok_or_else(|| type_error("SecureBootEnable", v))?;
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    if enable && s.boot.mode != BootMode::Uefi {
        return Err(RfError::conflict("Secure boot requires UEFI boot mode."));
    }
    s.secure_boot_enable = enable;
    no_content()
}

async fn reset_keys(
    State(fleet): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> RfResult {
    system(&fleet, &id)?;
    let req = parse_object(&body)?;
    match req.get("ResetKeysType").and_then(Value::as_str) {
        Some("ResetAllKeysToDefault" | "DeleteAllKeys" | "DeletePK") => no_content(),
        _ => Err(RfError::bad_request(
            "Base.1.8.ActionParameterValueNotInList",
            "ResetKeysType must be one of ResetAllKeysToDefault, DeleteAllKeys, DeletePK.",
        )),
    }
}
