//! Read-only inventory a client inspects: processors, memory, NICs and the
//! simple storage view. All derived from the seed, never stored.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::json;

use super::{AppState, RfError, RfResult, collection, ok, status_ok, system};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/redfish/v1/Systems/{id}/Processors", get(processors))
        .route("/redfish/v1/Systems/{id}/Processors/{pid}", get(processor))
        .route("/redfish/v1/Systems/{id}/Memory", get(memory))
        .route("/redfish/v1/Systems/{id}/Memory/{mid}", get(dimm))
        .route("/redfish/v1/Systems/{id}/EthernetInterfaces", get(nics))
        .route(
            "/redfish/v1/Systems/{id}/EthernetInterfaces/{nid}",
            get(nic),
        )
        .route(
            "/redfish/v1/Systems/{id}/SimpleStorage",
            get(simple_storages),
        )
        .route(
            "/redfish/v1/Systems/{id}/SimpleStorage/{ssid}",
            get(simple_storage),
        )
}

/// Parses a member id of the form `{prefix}{n}` with `n < count`.
fn member(id: &str, prefix: &str, count: u32) -> Result<u32, RfError> {
    id.strip_prefix(prefix)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|n| *n < count)
        .ok_or_else(RfError::not_found)
}

async fn processors(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let hw = fleet.inventory().hardware(i);
    let base = format!("/redfish/v1/Systems/{}/Processors", fleet.system_id(i));
    let members = (0..hw.sockets).map(|n| format!("{base}/CPU{n}")).collect();
    ok(collection(
        &base,
        "#ProcessorCollection.ProcessorCollection",
        "Processors Collection",
        members,
    ))
}

async fn processor(
    State(fleet): State<AppState>,
    Path((id, pid)): Path<(String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let hw = fleet.inventory().hardware(i);
    let n = member(&pid, "CPU", hw.sockets)?;
    ok(json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/Processors/CPU{n}", fleet.system_id(i)),
        "@odata.type": "#Processor.v1_10_0.Processor",
        "Id": format!("CPU{n}"),
        "Name": format!("Processor {n}"),
        "Socket": format!("CPU {n}"),
        "ProcessorType": "CPU",
        "ProcessorArchitecture": "x86",
        "InstructionSet": "x86-64",
        "Manufacturer": "Simulated",
        "Model": hw.cpu_model,
        "MaxSpeedMHz": 3500,
        "TotalCores": hw.cores_per_socket,
        "TotalThreads": hw.cores_per_socket * hw.threads_per_core,
        "Status": status_ok(),
    }))
}

async fn memory(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let hw = fleet.inventory().hardware(i);
    let base = format!("/redfish/v1/Systems/{}/Memory", fleet.system_id(i));
    let members = (0..hw.dimms).map(|n| format!("{base}/DIMM{n}")).collect();
    ok(collection(
        &base,
        "#MemoryCollection.MemoryCollection",
        "Memory Module Collection",
        members,
    ))
}

async fn dimm(State(fleet): State<AppState>, Path((id, mid)): Path<(String, String)>) -> RfResult {
    let i = system(&fleet, &id)?;
    let hw = fleet.inventory().hardware(i);
    let n = member(&mid, "DIMM", hw.dimms)?;
    ok(json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/Memory/DIMM{n}", fleet.system_id(i)),
        "@odata.type": "#Memory.v1_7_0.Memory",
        "Id": format!("DIMM{n}"),
        "Name": format!("DIMM {n}"),
        "MemoryType": "DRAM",
        "MemoryDeviceType": "DDR4",
        "CapacityMiB": 32 * 1024,
        "OperatingSpeedMhz": 3200,
        "Status": status_ok(),
    }))
}

async fn nics(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let base = format!(
        "/redfish/v1/Systems/{}/EthernetInterfaces",
        fleet.system_id(i)
    );
    let members = (0..fleet.inventory().nics())
        .map(|n| format!("{base}/eth{n}"))
        .collect();
    ok(collection(
        &base,
        "#EthernetInterfaceCollection.EthernetInterfaceCollection",
        "Ethernet Interface Collection",
        members,
    ))
}

async fn nic(State(fleet): State<AppState>, Path((id, nid)): Path<(String, String)>) -> RfResult {
    let i = system(&fleet, &id)?;
    let n = member(&nid, "eth", u32::from(fleet.inventory().nics()))?;
    let mac = fleet.inventory().mac(i, n as u8);
    ok(json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/EthernetInterfaces/eth{n}", fleet.system_id(i)),
        "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
        "Id": format!("eth{n}"),
        "Name": format!("Ethernet Interface {n}"),
        "MACAddress": mac,
        "PermanentMACAddress": mac,
        "SpeedMbps": 25000,
        "FullDuplex": true,
        "LinkStatus": "LinkUp",
        "InterfaceEnabled": true,
        "Status": {"State": "Enabled", "Health": "OK"},
    }))
}

async fn simple_storages(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let base = format!("/redfish/v1/Systems/{}/SimpleStorage", fleet.system_id(i));
    ok(collection(
        &base,
        "#SimpleStorageCollection.SimpleStorageCollection",
        "Simple Storage Collection",
        vec![format!("{base}/1")],
    ))
}

async fn simple_storage(
    State(fleet): State<AppState>,
    Path((id, ssid)): Path<(String, String)>,
) -> RfResult {
    let i = system(&fleet, &id)?;
    if ssid != "1" {
        return Err(RfError::not_found());
    }
    let hw = fleet.inventory().hardware(i);
    let devices: Vec<_> = hw
        .drives
        .iter()
        .map(|d| {
            json!({
                "Name": d.id,
                "Manufacturer": "Simulated",
                "Model": d.model,
                "CapacityBytes": d.capacity_bytes,
                "Status": {"State": "Enabled", "Health": "OK"},
            })
        })
        .collect();
    ok(json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/SimpleStorage/1", fleet.system_id(i)),
        "@odata.type": "#SimpleStorage.v1_2_0.SimpleStorage",
        "Id": "1",
        "Name": "Simple Storage Controller",
        "Devices": devices,
        "Status": status_ok(),
    }))
}
