//! `Storage`: one RAID controller with the system's drives and volumes that
//! can be created and deleted, enough for RAID configuration flows.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{
    AppState, RfError, RfResult, collection, enum_value, link, no_content, ok, parse_object,
    property_missing, status_ok, system, type_error,
};
use crate::state::{RaidType, Volume};

/// The single storage subsystem's `Id`.
const STORAGE_ID: &str = "1";

/// Most volumes one controller holds; bounds memory per system.
const MAX_VOLUMES: usize = 16;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/redfish/v1/Systems/{id}/Storage", get(storages))
        .route("/redfish/v1/Systems/{id}/Storage/{stid}", get(storage))
        .route(
            "/redfish/v1/Systems/{id}/Storage/{stid}/Drives/{did}",
            get(drive),
        )
        .route(
            "/redfish/v1/Systems/{id}/Storage/{stid}/Volumes",
            get(volumes).post(create_volume),
        )
        .route(
            "/redfish/v1/Systems/{id}/Storage/{stid}/Volumes/{vid}",
            get(volume).delete(delete_volume),
        )
}

fn base(fleet: &AppState, i: usize) -> String {
    format!(
        "/redfish/v1/Systems/{}/Storage/{STORAGE_ID}",
        fleet.system_id(i)
    )
}

fn check_storage(stid: &str) -> Result<(), RfError> {
    if stid == STORAGE_ID {
        Ok(())
    } else {
        Err(RfError::not_found())
    }
}

async fn storages(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let col = format!("/redfish/v1/Systems/{}/Storage", fleet.system_id(i));
    ok(collection(
        &col,
        "#StorageCollection.StorageCollection",
        "Storage Collection",
        vec![base(&fleet, i)],
    ))
}

async fn storage(
    State(fleet): State<AppState>,
    Path((id, stid)): Path<(String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    check_storage(&stid)?;
    let hw = fleet.inventory().hardware(i);
    let b = base(&fleet, i);
    let drives: Vec<_> = hw
        .drives
        .iter()
        .map(|d| link(format!("{b}/Drives/{}", d.id)))
        .collect();
    ok(json!({
        "@odata.id": b,
        "@odata.type": "#Storage.v1_9_0.Storage",
        "Id": STORAGE_ID,
        "Name": "RAID Controller",
        "Status": status_ok(),
        "StorageControllers": [{
            "@odata.id": format!("{b}#/StorageControllers/0"),
            "MemberId": "0",
            "Name": "Simulated RAID Controller",
            "Manufacturer": "Simulated",
            "Model": "SimRAID 9560",
            "FirmwareVersion": "5.1.0",
            "SpeedGbps": 12,
            "SupportedControllerProtocols": ["PCIe"],
            "SupportedDeviceProtocols": ["SAS", "SATA", "NVMe"],
            "SupportedRAIDTypes": RaidType::allowable(),
            "Status": {"State": "Enabled", "Health": "OK"},
        }],
        "Drives@odata.count": drives.len(),
        "Drives": drives,
        "Volumes": link(format!("{b}/Volumes")),
    }))
}

async fn drive(
    State(fleet): State<AppState>,
    Path((id, stid, did)): Path<(String, String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    check_storage(&stid)?;
    let hw = fleet.inventory().hardware(i);
    let d = hw
        .drives
        .iter()
        .find(|d| d.id == did)
        .ok_or_else(RfError::not_found)?;
    ok(json!({
        "@odata.id": format!("{}/Drives/{}", base(&fleet, i), d.id),
        "@odata.type": "#Drive.v1_9_0.Drive",
        "Id": d.id,
        "Name": format!("Drive {}", d.id),
        "CapacityBytes": d.capacity_bytes,
        "MediaType": d.media_type,
        "Protocol": d.protocol,
        "Manufacturer": "Simulated",
        "Model": d.model,
        "SerialNumber": d.serial,
        "BlockSizeBytes": 512,
        "Status": {"State": "Enabled", "Health": "OK"},
    }))
}

fn volume_type(raid: RaidType) -> &'static str {
    match raid {
        RaidType::Raid0 => "NonRedundant",
        RaidType::Raid1 => "Mirrored",
        RaidType::Raid5 => "StripedWithParity",
        RaidType::Raid10 => "SpannedMirrors",
    }
}

fn volume_doc(b: &str, hw_drive_ids: &[String], v: &Volume) -> Value {
    let drives: Vec<_> = v
        .drives
        .iter()
        .filter_map(|d| hw_drive_ids.get(*d))
        .map(|d| link(format!("{b}/Drives/{d}")))
        .collect();
    json!({
        "@odata.id": format!("{b}/Volumes/{}", v.id),
        "@odata.type": "#Volume.v1_5_0.Volume",
        "Id": v.id,
        "Name": v.name,
        "RAIDType": v.raid_type,
        "VolumeType": volume_type(v.raid_type),
        "CapacityBytes": v.capacity_bytes,
        "Encrypted": false,
        "Status": {"State": "Enabled", "Health": "OK"},
        "Links": {"Drives": drives},
    })
}

async fn volumes(
    State(fleet): State<AppState>,
    Path((id, stid)): Path<(String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    check_storage(&stid)?;
    let vols = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        fleet.volumes_of(i, &s)
    };
    let b = base(&fleet, i);
    let mut doc = collection(
        &format!("{b}/Volumes"),
        "#VolumeCollection.VolumeCollection",
        "Volume Collection",
        vols.iter()
            .map(|v| format!("{b}/Volumes/{}", v.id))
            .collect(),
    );
    doc["@Redfish.OperationApplyTimeSupport"] = json!({
        "@odata.type": "#Settings.v1_3_0.OperationApplyTimeSupport",
        "SupportedValues": ["Immediate"],
    });
    ok(doc)
}

async fn volume(
    State(fleet): State<AppState>,
    Path((id, stid, vid)): Path<(String, String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    check_storage(&stid)?;
    let vols = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        fleet.volumes_of(i, &s)
    };
    let v = vols
        .iter()
        .find(|v| v.id == vid)
        .ok_or_else(RfError::not_found)?;
    let ids: Vec<String> = fleet
        .inventory()
        .hardware(i)
        .drives
        .into_iter()
        .map(|d| d.id)
        .collect();
    ok(volume_doc(&base(&fleet, i), &ids, v))
}

/// The RAID level from `RAIDType`, or from the older `VolumeType`.
fn requested_raid(req: &Map<String, Value>) -> Result<RaidType, RfError> {
    if let Some(v) = req.get("RAIDType") {
        return enum_value::<RaidType>("RAIDType", v);
    }
    match req.get("VolumeType") {
        Some(v) => match v.as_str() {
            Some("NonRedundant" | "RawDevice") => Ok(RaidType::Raid0),
            Some("Mirrored") => Ok(RaidType::Raid1),
            Some("StripedWithParity") => Ok(RaidType::Raid5),
            Some("SpannedMirrors") => Ok(RaidType::Raid10),
            Some(_) => Err(RfError::value_not_in_list("VolumeType", v)),
            None => Err(type_error("VolumeType", v)),
        },
        None => Err(property_missing("RAIDType")),
    }
}

async fn create_volume(
    State(fleet): State<AppState>,
    Path((id, stid)): Path<(String, String)>,
    body: Bytes,
) -> RfResult {
    let i = system(&fleet, &id)?;
    check_storage(&stid)?;
    let req = parse_object(&body)?;
    let raid = requested_raid(&req)?;
    let hw = fleet.inventory().hardware(i);
    let b = base(&fleet, i);
    let links = req
        .get("Links")
        .and_then(|l| l.get("Drives"))
        .and_then(Value::as_array)
        .ok_or_else(|| property_missing("Links/Drives"))?;
    let mut drives = Vec::new();
    for l in links {
        let path = l
            .get("@odata.id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let idx = hw
            .drives
            .iter()
            .position(|d| path == format!("{b}/Drives/{}", d.id))
            .ok_or_else(|| RfError::value_not_in_list("Links/Drives", l))?;
        if drives.contains(&idx) {
            return Err(RfError::value_not_in_list("Links/Drives", l));
        }
        drives.push(idx);
    }
    if drives.len() < raid.min_drives() {
        return Err(RfError::bad_request(
            "Base.1.8.PropertyValueConflict",
            format!("{raid} needs at least {} drives.", raid.min_drives()),
        ));
    }
    let smallest = drives
        .iter()
        .map(|d| hw.drives[*d].capacity_bytes)
        .min()
        .unwrap_or(0);
    let usable = raid.usable_bytes(drives.len(), smallest);
    let capacity = match req.get("CapacityBytes") {
        None | Some(Value::Null) => usable,
        Some(v) => match v.as_u64() {
            Some(c) if c > 0 && c <= usable => c,
            Some(_) => return Err(RfError::value_not_in_list("CapacityBytes", v)),
            None => return Err(type_error("CapacityBytes", v)),
        },
    };
    let name = match req.get("Name") {
        Some(Value::String(n)) => Some(n.clone()),
        None | Some(Value::Null) => None,
        Some(v) => return Err(type_error("Name", v)),
    };
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    let mut vols = fleet.volumes_of(i, &s);
    if vols.len() >= MAX_VOLUMES {
        return Err(RfError::conflict("The controller holds no more volumes."));
    }
    if let Some(busy) = drives
        .iter()
        .find(|d| vols.iter().any(|v| v.drives.contains(d)))
    {
        return Err(RfError::conflict(format!(
            "Drive {} already belongs to a volume.",
            hw.drives[*busy].id
        )));
    }
    // Ids continue after the default volume "1" so they are never reused.
    let next = s.next_volume_id.max(2);
    s.next_volume_id = next + 1;
    let vol = Volume {
        id: next.to_string(),
        name: name.unwrap_or_else(|| format!("Volume {next}")),
        raid_type: raid,
        capacity_bytes: capacity,
        drives,
    };
    let ids: Vec<String> = hw.drives.iter().map(|d| d.id.clone()).collect();
    let doc = volume_doc(&b, &ids, &vol);
    let location = format!("{b}/Volumes/{}", vol.id);
    vols.push(vol);
    s.volumes = Some(vols);
    drop(s);
    let mut resp = super::json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn delete_volume(
    State(fleet): State<AppState>,
    Path((id, stid, vid)): Path<(String, String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    check_storage(&stid)?;
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    let mut vols = fleet.volumes_of(i, &s);
    let before = vols.len();
    vols.retain(|v| v.id != vid);
    if vols.len() == before {
        return Err(RfError::not_found());
    }
    s.volumes = Some(vols);
    no_content()
}
