//! `Manager` (the BMC itself), its virtual media, and `Chassis`.
//!
//! Virtual media is reachable both under the manager (older Redfish, what
//! sushy looks for first on many vendors) and under the system (newer
//! Redfish and sushy-tools); both views share one state.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{
    AppState, RfError, RfResult, collection, link, no_content, ok, parse_object, status_ok, system,
    type_error,
};
use crate::state::{Media, MediaSlot};

/// Virtual media under `/redfish/v1/Managers/{id}`.
const MANAGER: u8 = 0;
/// Virtual media under `/redfish/v1/Systems/{id}`.
const SYSTEM: u8 = 1;

fn top(mount: u8) -> &'static str {
    if mount == SYSTEM {
        "Systems"
    } else {
        "Managers"
    }
}

pub(super) fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/redfish/v1/Managers/{id}", get(manager))
        .route(
            "/redfish/v1/Managers/{id}/Actions/Manager.Reset",
            post(manager_reset),
        )
        .route("/redfish/v1/Chassis/{id}", get(chassis));
    r = vmedia_routes::<MANAGER>(r);
    vmedia_routes::<SYSTEM>(r)
}

fn vmedia_routes<const M: u8>(r: Router<AppState>) -> Router<AppState> {
    let base = format!("/redfish/v1/{}/{{id}}/VirtualMedia", top(M));
    r.route(&base, get(vmedia_collection::<M>))
        .route(
            &format!("{base}/{{dev}}"),
            get(vmedia::<M>).patch(patch_vmedia::<M>),
        )
        .route(
            &format!("{base}/{{dev}}/Actions/VirtualMedia.InsertMedia"),
            post(insert::<M>),
        )
        .route(
            &format!("{base}/{{dev}}/Actions/VirtualMedia.EjectMedia"),
            post(eject::<M>),
        )
}

async fn manager(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let sid = fleet.system_id(i);
    let base = format!("/redfish/v1/Managers/{sid}");
    ok(json!({
        "@odata.id": base,
        "@odata.type": "#Manager.v1_10_0.Manager",
        "Id": sid,
        "Name": format!("BMC of {sid}"),
        "ManagerType": "BMC",
        "UUID": fleet.inventory().manager_uuid(i),
        "Model": "bmcsim",
        "FirmwareVersion": env!("CARGO_PKG_VERSION"),
        "PowerState": "On",
        "Status": status_ok(),
        "VirtualMedia": link(format!("{base}/VirtualMedia")),
        "GraphicalConsole": {
            "ServiceEnabled": true,
            "MaxConcurrentSessions": 2,
            "ConnectTypesSupported": ["KVMIP"],
        },
        "Links": {
            "ManagerForServers": [link(format!("/redfish/v1/Systems/{sid}"))],
            "ManagerForChassis": [link(format!("/redfish/v1/Chassis/{sid}"))],
        },
        "Actions": {
            "#Manager.Reset": {
                "target": format!("{base}/Actions/Manager.Reset"),
                "ResetType@Redfish.AllowableValues": ["GracefulRestart", "ForceRestart"],
            }
        },
    }))
}

async fn manager_reset(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    system(&fleet, &id)?;
    no_content()
}

async fn chassis(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let sid = fleet.system_id(i);
    let hw = fleet.inventory().hardware(i);
    let power = fleet.power_state(i).ok_or_else(RfError::not_found)?;
    ok(json!({
        "@odata.id": format!("/redfish/v1/Chassis/{sid}"),
        "@odata.type": "#Chassis.v1_14_0.Chassis",
        "Id": sid,
        "Name": format!("Chassis of {sid}"),
        "ChassisType": "RackMount",
        "Manufacturer": "Ferrite",
        "Model": hw.model,
        "SerialNumber": hw.serial,
        "PowerState": power,
        "IndicatorLED": "Off",
        "Status": status_ok(),
        "Links": {
            "ComputerSystems": [link(format!("/redfish/v1/Systems/{sid}"))],
            "ManagedBy": [link(format!("/redfish/v1/Managers/{sid}"))],
        },
    }))
}

async fn vmedia_collection<const M: u8>(
    State(fleet): State<AppState>,
    Path(id): Path<String>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let base = format!("/redfish/v1/{}/{}/VirtualMedia", top(M), fleet.system_id(i));
    let members = MediaSlot::ALL
        .iter()
        .map(|s| format!("{base}/{}", s.id()))
        .collect();
    ok(collection(
        &base,
        "#VirtualMediaCollection.VirtualMediaCollection",
        "Virtual Media Services",
        members,
    ))
}

fn slot(dev: &str) -> Result<MediaSlot, RfError> {
    MediaSlot::from_id(dev).ok_or_else(RfError::not_found)
}

async fn vmedia<const M: u8>(
    State(fleet): State<AppState>,
    Path((id, dev)): Path<(String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let slot = slot(&dev)?;
    let media = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        s.media(slot).cloned()
    };
    let base = format!(
        "/redfish/v1/{}/{}/VirtualMedia/{}",
        top(M),
        fleet.system_id(i),
        slot.id()
    );
    let inserted = media.as_ref().is_some_and(|m| m.inserted);
    ok(json!({
        "@odata.id": base,
        "@odata.type": "#VirtualMedia.v1_4_0.VirtualMedia",
        "Id": slot.id(),
        "Name": format!("Virtual {}", slot.id()),
        "MediaTypes": slot.media_types(),
        "ConnectedVia": if media.is_some() { "URI" } else { "NotConnected" },
        "Image": media.as_ref().map(|m| m.image.as_str()),
        "ImageName": media.as_ref().map(|m| m.image_name()),
        "Inserted": inserted,
        "WriteProtected": media.as_ref().is_none_or(|m| m.write_protected),
        "TransferProtocolType": media.as_ref().and_then(|m| m.transfer_protocol.as_deref()),
        "UserName": media.as_ref().and_then(|m| m.username.as_deref()),
        "Actions": {
            "#VirtualMedia.InsertMedia": {"target": format!("{base}/Actions/VirtualMedia.InsertMedia")},
            "#VirtualMedia.EjectMedia": {"target": format!("{base}/Actions/VirtualMedia.EjectMedia")},
        },
    }))
}

const PROTOCOLS: [&str; 9] = [
    "CIFS", "FTP", "SFTP", "HTTP", "HTTPS", "NFS", "SCP", "TFTP", "OEM",
];

/// Optional string property; `None` when absent or null.
fn opt_str(req: &Map<String, Value>, name: &str) -> Result<Option<String>, RfError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(type_error(name, v)),
    }
}

fn opt_bool(req: &Map<String, Value>, name: &str, default: bool) -> Result<bool, RfError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_error(name, v)),
    }
}

/// Validates an `InsertMedia` request into the media it attaches.
fn media_from(req: &Map<String, Value>) -> Result<Media, RfError> {
    let image = opt_str(req, "Image")?.ok_or_else(|| {
        RfError::bad_request(
            "Base.1.8.ActionParameterMissing",
            "The action VirtualMedia.InsertMedia requires the parameter Image to be present in the request body.",
        )
    })?;
    let well_formed = image.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphabetic()) && !rest.is_empty()
    });
    if !well_formed {
        return Err(RfError::bad_request(
            "Base.1.8.PropertyValueFormatError",
            format!("The value {image:?} for the property Image is not an absolute URI."),
        ));
    }
    let transfer_protocol = opt_str(req, "TransferProtocolType")?;
    if let Some(p) = &transfer_protocol
        && !PROTOCOLS.contains(&p.as_str())
    {
        return Err(RfError::value_not_in_list(
            "TransferProtocolType",
            &json!(p),
        ));
    }
    let username = opt_str(req, "UserName")?;
    let password = opt_str(req, "Password")?;
    if username.is_some() != password.is_some() {
        return Err(RfError::bad_request(
            "Base.1.8.ActionParameterMissing",
            "UserName and Password must be passed together.",
        ));
    }
    Ok(Media {
        image,
        inserted: opt_bool(req, "Inserted", true)?,
        write_protected: opt_bool(req, "WriteProtected", true)?,
        transfer_protocol,
        username,
    })
}

/// Attaches media unless a different image is already inserted (real
/// BMCs refuse that; clients are expected to eject first).
fn attach(fleet: &AppState, i: usize, slot: MediaSlot, media: Media) -> RfResult {
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    if let Some(cur) = s.media(slot)
        && cur.inserted
        && cur.image != media.image
    {
        return Err(RfError::conflict(format!(
            "Virtual media {} already has {} inserted; eject it first.",
            slot.id(),
            cur.image
        )));
    }
    s.media[slot.index()] = Some(Box::new(media));
    no_content()
}

async fn insert<const M: u8>(
    State(fleet): State<AppState>,
    Path((id, dev)): Path<(String, String)>,
    body: Bytes,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let slot = slot(&dev)?;
    let req = parse_object(&body)?;
    let media = media_from(&req)?;
    attach(&fleet, i, slot, media)
}

async fn eject<const M: u8>(
    State(fleet): State<AppState>,
    Path((id, dev)): Path<(String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let slot = slot(&dev)?;
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    s.media[slot.index()] = None;
    no_content()
}

/// PATCH `{"Image": url, "Inserted": true}` inserts, `{"Image": null}` or
/// `{"Inserted": false}` ejects — the alternative some vendors use instead
/// of the actions.
async fn patch_vmedia<const M: u8>(
    State(fleet): State<AppState>,
    Path((id, dev)): Path<(String, String)>,
    body: Bytes,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let slot = slot(&dev)?;
    let req = parse_object(&body)?;
    let ejecting = matches!(req.get("Image"), Some(Value::Null))
        || matches!(req.get("Inserted"), Some(Value::Bool(false))) && !req.contains_key("Image");
    if ejecting {
        let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        s.media[slot.index()] = None;
        return no_content();
    }
    if !req.contains_key("Image") {
        // Only flags: update the attached media's write protection.
        let wp = opt_bool(&req, "WriteProtected", true)?;
        let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        if let Some(m) = s.media[slot.index()].as_mut() {
            m.write_protected = wp;
        }
        return no_content();
    }
    let media = media_from(&req)?;
    attach(&fleet, i, slot, media)
}
