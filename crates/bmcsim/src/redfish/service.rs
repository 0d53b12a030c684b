//! Service-level resources: the root, the top collections, sessions, and
//! the update/event/registry services clients probe for.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

use super::{
    AppState, RfError, RfResult, collection, link, no_content, ok, parse_object, required_str,
};
use crate::auth;
use crate::bios;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/redfish", get(versions))
        .route("/redfish/v1", get(root))
        .route("/redfish/v1/odata", get(odata))
        .route("/redfish/v1/Systems", get(systems))
        .route("/redfish/v1/Managers", get(managers))
        .route("/redfish/v1/Chassis", get(chassis))
        .route("/redfish/v1/SessionService", get(session_service))
        .route(
            "/redfish/v1/SessionService/Sessions",
            get(sessions).post(create_session),
        )
        .route(
            "/redfish/v1/SessionService/Sessions/{sid}",
            get(session).delete(delete_session),
        )
        .route("/redfish/v1/UpdateService", get(update_service))
        .route(
            "/redfish/v1/UpdateService/FirmwareInventory",
            get(firmware_inventory),
        )
        .route(
            "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            post(simple_update),
        )
        .route("/redfish/v1/Registries", get(registries))
        .route("/redfish/v1/Registries/{rid}", get(registry_file))
        .route("/redfish/v1/Registries/{rid}/Registry", get(registry))
}

async fn versions() -> RfResult {
    ok(json!({"v1": "/redfish/v1/"}))
}

async fn root(State(fleet): State<AppState>) -> RfResult {
    ok(json!({
        "@odata.id": "/redfish/v1/",
        "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
        "Id": "RootService",
        "Name": "bmcsim Redfish Service",
        "RedfishVersion": "1.11.0",
        "UUID": fleet.service_uuid(),
        "Product": "bmcsim",
        "Vendor": "Ferrite",
        "Systems": link("/redfish/v1/Systems"),
        "Managers": link("/redfish/v1/Managers"),
        "Chassis": link("/redfish/v1/Chassis"),
        "SessionService": link("/redfish/v1/SessionService"),
        "UpdateService": link("/redfish/v1/UpdateService"),
        "EventService": link("/redfish/v1/EventService"),
        "Registries": link("/redfish/v1/Registries"),
        "Links": {"Sessions": link("/redfish/v1/SessionService/Sessions")},
        "ProtocolFeaturesSupported": {
            "ExpandQuery": {"ExpandAll": false, "Levels": false, "Links": false, "NoLinks": false},
            "FilterQuery": false,
            "SelectQuery": false,
            "OnlyMemberQuery": false,
            "ExcerptQuery": false,
        },
    }))
}

async fn odata() -> RfResult {
    let names = [
        "Systems",
        "Managers",
        "Chassis",
        "SessionService",
        "UpdateService",
        "EventService",
        "Registries",
    ];
    let value: Vec<_> = names
        .iter()
        .map(|n| json!({"name": n, "kind": "Singleton", "url": format!("/redfish/v1/{n}")}))
        .collect();
    ok(json!({"@odata.context": "/redfish/v1/$metadata", "value": value}))
}

fn member_ids(fleet: &AppState, prefix: &str) -> Vec<String> {
    (0..fleet.len())
        .map(|i| format!("{prefix}/{}", fleet.system_id(i)))
        .collect()
}

async fn systems(State(fleet): State<AppState>) -> RfResult {
    let members = member_ids(&fleet, "/redfish/v1/Systems");
    ok(collection(
        "/redfish/v1/Systems",
        "#ComputerSystemCollection.ComputerSystemCollection",
        "Computer System Collection",
        members,
    ))
}

async fn managers(State(fleet): State<AppState>) -> RfResult {
    let members = member_ids(&fleet, "/redfish/v1/Managers");
    ok(collection(
        "/redfish/v1/Managers",
        "#ManagerCollection.ManagerCollection",
        "Manager Collection",
        members,
    ))
}

async fn chassis(State(fleet): State<AppState>) -> RfResult {
    let members = member_ids(&fleet, "/redfish/v1/Chassis");
    ok(collection(
        "/redfish/v1/Chassis",
        "#ChassisCollection.ChassisCollection",
        "Chassis Collection",
        members,
    ))
}

async fn session_service() -> RfResult {
    ok(json!({
        "@odata.id": "/redfish/v1/SessionService",
        "@odata.type": "#SessionService.v1_1_8.SessionService",
        "Id": "SessionService",
        "Name": "Session Service",
        "ServiceEnabled": true,
        "SessionTimeout": 1800,
        "Status": {"State": "Enabled", "Health": "OK"},
        "Sessions": link("/redfish/v1/SessionService/Sessions"),
    }))
}

async fn sessions(State(fleet): State<AppState>) -> RfResult {
    let members = fleet
        .sessions
        .ids()
        .into_iter()
        .map(|id| format!("/redfish/v1/SessionService/Sessions/{id}"))
        .collect();
    ok(collection(
        "/redfish/v1/SessionService/Sessions",
        "#SessionCollection.SessionCollection",
        "Session Collection",
        members,
    ))
}

fn session_doc(id: u64, username: &str) -> serde_json::Value {
    json!({
        "@odata.id": format!("/redfish/v1/SessionService/Sessions/{id}"),
        "@odata.type": "#Session.v1_3_0.Session",
        "Id": id.to_string(),
        "Name": "User Session",
        "UserName": username,
    })
}

async fn create_session(State(fleet): State<AppState>, body: Bytes) -> RfResult {
    let req = parse_object(&body)?;
    let username = required_str(&req, "UserName")?;
    let password = required_str(&req, "Password")?;
    if let Some(creds) = &fleet.config().auth
        && !auth::matches(creds, username, password)
    {
        fleet.stats.unauthorized();
        return Err(RfError::new(
            StatusCode::UNAUTHORIZED,
            "Base.1.8.NoValidSession",
            "Invalid user name or password.",
        ));
    }
    let (id, token) = fleet.sessions.create(username);
    fleet.stats.session_created();
    let mut resp = super::json_response(StatusCode::CREATED, &session_doc(id, username));
    let location = format!("/redfish/v1/SessionService/Sessions/{id}");
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&token) {
        h.insert("X-Auth-Token", v);
    }
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn session_id(sid: &str) -> Result<u64, RfError> {
    sid.parse().map_err(|_| RfError::not_found())
}

async fn session(State(fleet): State<AppState>, Path(sid): Path<String>) -> RfResult {
    let id = session_id(&sid)?;
    let s = fleet.sessions.get(id).ok_or_else(RfError::not_found)?;
    ok(session_doc(id, &s.username))
}

async fn delete_session(State(fleet): State<AppState>, Path(sid): Path<String>) -> RfResult {
    let id = session_id(&sid)?;
    if !fleet.sessions.delete(id) {
        return Err(RfError::not_found());
    }
    no_content()
}

async fn update_service() -> RfResult {
    ok(json!({
        "@odata.id": "/redfish/v1/UpdateService",
        "@odata.type": "#UpdateService.v1_8_0.UpdateService",
        "Id": "UpdateService",
        "Name": "Update Service",
        "ServiceEnabled": false,
        "Status": {"State": "Disabled", "Health": "OK"},
        "FirmwareInventory": link("/redfish/v1/UpdateService/FirmwareInventory"),
        "Actions": {
            "#UpdateService.SimpleUpdate": {
                "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
            }
        },
    }))
}

async fn firmware_inventory() -> RfResult {
    ok(collection(
        "/redfish/v1/UpdateService/FirmwareInventory",
        "#SoftwareInventoryCollection.SoftwareInventoryCollection",
        "Firmware Inventory Collection",
        Vec::new(),
    ))
}

async fn simple_update() -> RfResult {
    Err(RfError::bad_request(
        "Base.1.8.ActionNotSupported",
        "Firmware updates are not simulated by bmcsim.",
    ))
}

async fn registries() -> RfResult {
    ok(collection(
        "/redfish/v1/Registries",
        "#MessageRegistryFileCollection.MessageRegistryFileCollection",
        "Registry File Collection",
        vec![format!("/redfish/v1/Registries/{}", bios::REGISTRY_ID)],
    ))
}

async fn registry_file(Path(rid): Path<String>) -> RfResult {
    if rid != bios::REGISTRY_ID {
        return Err(RfError::not_found());
    }
    let base = format!("/redfish/v1/Registries/{rid}");
    ok(json!({
        "@odata.id": base,
        "@odata.type": "#MessageRegistryFile.v1_1_0.MessageRegistryFile",
        "Id": rid,
        "Name": "BIOS Attribute Registry File",
        "Registry": bios::REGISTRY_ID,
        "Languages": ["en"],
        "Location": [{"Language": "en", "Uri": format!("{base}/Registry")}],
    }))
}

async fn registry(Path(rid): Path<String>) -> RfResult {
    if rid != bios::REGISTRY_ID {
        return Err(RfError::not_found());
    }
    ok(bios::registry(&format!(
        "/redfish/v1/Registries/{rid}/Registry"
    )))
}
