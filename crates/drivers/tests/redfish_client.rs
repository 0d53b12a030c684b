//! The HTTP client's failure paths and the features sushy-tools' fake
//! driver lacks (sessions, BIOS, CPU/memory inventory, a BMC refusing
//! `Continuous`), against a small scripted Redfish endpoint on 127.0.0.1.
//! This is a test double for one service, not a simulator: each route
//! answers exactly what the test needs.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{PASSWORD, USERNAME, driver, node_with};
use ferrite_drivers::interfaces::BiosInterface;
use ferrite_drivers::redfish::bios::RedfishBios;
use ferrite_drivers::redfish::inspect::RedfishInspect;
use ferrite_drivers::redfish::management::BOOT_DEVICE_KEY;
use ferrite_drivers::{DriverError, InterfaceKind, StepOutcome, StepPhase};
use ferrite_model::{Dict, Node, PowerState};
use serde_json::{Value, json};

#[derive(Default)]
struct Bmc {
    token: String,
    logins: u32,
    system_gets: u32,
    fail_next: u32,
    missing_gets: u32,
    boot: Value,
    pending: Value,
    bios_resets: u32,
    resets: Vec<String>,
    updates: Vec<Value>,
}

type Shared = Arc<Mutex<Bmc>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Bmc> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn authorized(s: &Shared, headers: &HeaderMap) -> bool {
    let bmc = lock(s);
    !bmc.token.is_empty()
        && headers
            .get("X-Auth-Token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == bmc.token)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn root() -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
            "Systems": {"@odata.id": "/redfish/v1/Systems"},
            "UpdateService": {"@odata.id": "/redfish/v1/UpdateService"},
            "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}
        }),
    )
}

async fn login(State(s): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    if body["UserName"] != json!(USERNAME) || body["Password"] != json!(PASSWORD) {
        return json_response(StatusCode::UNAUTHORIZED, json!({}));
    }
    let mut bmc = lock(&s);
    bmc.logins += 1;
    bmc.token = format!("token-{}", bmc.logins);
    let mut headers = HeaderMap::new();
    if let Ok(v) = bmc.token.parse() {
        headers.insert("X-Auth-Token", v);
    }
    (StatusCode::CREATED, headers, axum::Json(json!({}))).into_response()
}

async fn systems(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, json!({}));
    }
    json_response(
        StatusCode::OK,
        json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]}),
    )
}

async fn system(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, json!({}));
    }
    let mut bmc = lock(&s);
    bmc.system_gets += 1;
    if bmc.fail_next > 0 {
        bmc.fail_next -= 1;
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": {"message": "busy"}}),
        );
    }
    let mut boot = json!({"BootSourceOverrideMode": "UEFI"});
    if let Value::Object(set) = &bmc.boot {
        for (k, v) in set {
            boot[k] = v.clone();
        }
    }
    json_response(
        StatusCode::OK,
        json!({
            "@odata.id": "/redfish/v1/Systems/1",
            "PowerState": "On",
            "Manufacturer": "Contoso",
            "Model": "R1",
            "SerialNumber": "SN1",
            "Boot": boot,
            "ProcessorSummary": {"Count": 2},
            "MemorySummary": {"TotalSystemMemoryGiB": 32},
            "Processors": {"@odata.id": "/redfish/v1/Systems/1/Processors"},
            "Bios": {"@odata.id": "/redfish/v1/Systems/1/Bios"},
            "Links": {"ManagedBy": [{"@odata.id": "/redfish/v1/Managers/bmc"}]},
            "Actions": {"#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"}}
        }),
    )
}

async fn patch_system(
    State(s): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, json!({}));
    }
    if body["Boot"]["BootSourceOverrideEnabled"] == json!("Continuous") {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "Continuous is not supported"}}),
        );
    }
    lock(&s).boot = body["Boot"].clone();
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(
    State(s): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&s, &headers) {
        return json_response(StatusCode::UNAUTHORIZED, json!({}));
    }
    let kind = body["ResetType"].as_str().unwrap_or_default().to_string();
    lock(&s).resets.push(kind);
    StatusCode::NO_CONTENT.into_response()
}

async fn processors() -> Response {
    json_response(
        StatusCode::OK,
        json!({"Members": [
            {"@odata.id": "/redfish/v1/Systems/1/Processors/1"},
            {"@odata.id": "/redfish/v1/Systems/1/Processors/2"},
            {"@odata.id": "/redfish/v1/Systems/1/Processors/3"}]}),
    )
}

async fn processor(axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let state = if id == "3" { "Absent" } else { "Enabled" };
    json_response(
        StatusCode::OK,
        json!({"ProcessorType": "CPU", "ProcessorArchitecture": "x86",
               "InstructionSet": "x86-64", "TotalCores": 8, "TotalThreads": 16,
               "Model": "Contoso 9000", "Status": {"State": state}}),
    )
}

async fn bios(State(s): State<Shared>) -> Response {
    let bmc = lock(&s);
    json_response(
        StatusCode::OK,
        json!({
            "Attributes": {"ProcTurboMode": "Enabled", "BootMode": "Uefi"},
            "@Redfish.Settings": {"SettingsObject": {"@odata.id": "/redfish/v1/Systems/1/Bios/SD"}},
            "Actions": {"#Bios.ResetBios": {"target": "/redfish/v1/Systems/1/Bios/Actions/Bios.ResetBios"}},
            "Pending": bmc.pending.clone(),
        }),
    )
}

async fn bios_settings(State(s): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    if body["Attributes"].get("Echo").is_some() {
        // A careless BMC that repeats what it was sent, password included.
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": format!("rejected for user {USERNAME} / {PASSWORD}")}}),
        );
    }
    lock(&s).pending = body["Attributes"].clone();
    StatusCode::NO_CONTENT.into_response()
}

async fn bios_reset(State(s): State<Shared>) -> Response {
    lock(&s).bios_resets += 1;
    StatusCode::NO_CONTENT.into_response()
}

async fn update_service() -> Response {
    json_response(
        StatusCode::OK,
        json!({"Actions": {"#UpdateService.SimpleUpdate": {
            "target": "/redfish/v1/UpdateService/Actions/SimpleUpdate"}}}),
    )
}

async fn simple_update(State(s): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    lock(&s).updates.push(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "Location",
        axum::http::HeaderValue::from_static("/redfish/v1/TaskService/Tasks/1"),
    );
    (StatusCode::ACCEPTED, headers).into_response()
}

async fn task() -> Response {
    json_response(
        StatusCode::OK,
        json!({"TaskState": "Completed", "TaskStatus": "OK"}),
    )
}

async fn missing(State(s): State<Shared>) -> Response {
    lock(&s).missing_gets += 1;
    json_response(StatusCode::NOT_FOUND, json!({"error": {"message": "nope"}}))
}

async fn start() -> (Shared, String) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/redfish/v1", get(root))
        .route("/redfish/v1/", get(root))
        .route("/redfish/v1/SessionService/Sessions", post(login))
        .route("/redfish/v1/Systems", get(systems))
        .route("/redfish/v1/Systems/1", get(system).patch(patch_system))
        .route(
            "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
            post(reset),
        )
        .route("/redfish/v1/Systems/1/Processors", get(processors))
        .route("/redfish/v1/Systems/1/Processors/{id}", get(processor))
        .route("/redfish/v1/Systems/1/Bios", get(bios))
        .route(
            "/redfish/v1/Systems/1/Bios/SD",
            axum::routing::patch(bios_settings),
        )
        .route(
            "/redfish/v1/Systems/1/Bios/Actions/Bios.ResetBios",
            post(bios_reset),
        )
        .route("/redfish/v1/UpdateService", get(update_service))
        .route(
            "/redfish/v1/UpdateService/Actions/SimpleUpdate",
            post(simple_update),
        )
        .route("/redfish/v1/TaskService/Tasks/1", get(task))
        .fallback(missing)
        .with_state(shared.clone());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let address = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => panic!("addr: {e}"),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (shared, address)
}

fn node(address: &str, auth: &str) -> Node {
    node_with(json!({
        "redfish_address": address,
        "redfish_username": USERNAME,
        "redfish_password": PASSWORD,
        "redfish_auth_type": auth,
    }))
}

#[tokio::test]
async fn sessions_are_reused_and_renewed_when_dropped() {
    let (bmc, address) = start().await;
    let n = node(&address, "session");
    let d = driver(&n);
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::On));
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::On));
    assert_eq!(lock(&bmc).logins, 1, "one login for many requests");

    // The BMC forgets the session: the client logs in again, once.
    lock(&bmc).token = "expired-elsewhere".into();
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::On));
    assert_eq!(lock(&bmc).logins, 2);

    // `auto` prefers the session service when there is one.
    let auto = node(&address, "auto");
    let before = lock(&bmc).logins;
    assert_eq!(
        driver(&auto).power.get_power_state(&auto).await,
        Ok(PowerState::On)
    );
    assert_eq!(lock(&bmc).logins, before + 1);

    let mut wrong = node(&address, "session");
    wrong
        .driver_info
        .insert("redfish_password".into(), json!("not-it"));
    let Err(e) = driver(&wrong).power.get_power_state(&wrong).await else {
        panic!("a wrong password made a session")
    };
    assert!(e.to_string().contains("refused the credentials"), "{e}");
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let (bmc, address) = start().await;
    let n = node(&address, "session");
    let d = driver(&n);
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::On));
    let before = lock(&bmc).system_gets;
    lock(&bmc).fail_next = 2;
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::On));
    assert_eq!(lock(&bmc).system_gets, before + 3, "two 503s, then success");

    let before = lock(&bmc).system_gets;
    lock(&bmc).fail_next = 100;
    let Err(e) = d.power.get_power_state(&n).await else {
        panic!("a BMC that only answers 503 succeeded")
    };
    assert!(e.to_string().contains("503"), "{e}");
    assert!(e.to_string().contains("busy"), "{e}");
    assert_eq!(
        lock(&bmc).system_gets,
        before + 4,
        "one try and three retries"
    );
    lock(&bmc).fail_next = 0;

    // A 404 is final.
    let mut gone = n.clone();
    gone.driver_info
        .insert("redfish_system_id".into(), json!("/redfish/v1/Systems/9"));
    assert!(driver(&gone).power.get_power_state(&gone).await.is_err());
    assert_eq!(lock(&bmc).missing_gets, 1);
}

#[tokio::test]
async fn continuous_refused_falls_back_to_once_and_is_reapplied() {
    let (bmc, address) = start().await;
    let mut n = node(&address, "basic");
    // Basic auth is not accepted by this endpoint; use sessions.
    n.driver_info
        .insert("redfish_auth_type".into(), json!("session"));
    let d = driver(&n);
    let Ok(update) = d.management.set_boot_device(&n, "pxe", true).await else {
        panic!("set persistent pxe")
    };
    assert_eq!(
        update.driver_internal_info.get(BOOT_DEVICE_KEY),
        Some(&json!("pxe"))
    );
    assert_eq!(lock(&bmc).boot["BootSourceOverrideEnabled"], json!("Once"));
    update.apply(&mut n);
    let Ok(dev) = d.management.get_boot_device(&n).await else {
        panic!("get")
    };
    assert_eq!(
        (dev.boot_device.as_deref(), dev.persistent),
        (Some("pxe"), Some(true))
    );

    // The BMC forgets the one-time override; a reboot sets it again first.
    lock(&bmc).boot = json!({});
    let Ok(state) = d
        .power
        .set_power_state(&n, ferrite_model::PowerTarget::Reboot, None)
        .await
    else {
        panic!("reboot")
    };
    assert_eq!(state, PowerState::On);
    let bmc_now = lock(&bmc);
    assert_eq!(bmc_now.boot["BootSourceOverrideTarget"], json!("Pxe"));
    assert_eq!(bmc_now.resets, vec!["ForceRestart".to_string()]);
}

#[tokio::test]
async fn bios_apply_and_factory_reset_go_through_the_settings_object() {
    let (bmc, address) = start().await;
    let n = node(&address, "session");
    let d = driver(&n);
    let Ok(settings) = RedfishBios.get_settings(&n).await else {
        panic!("read BIOS")
    };
    assert_eq!(settings.get("ProcTurboMode"), Some(&json!("Enabled")));

    let mut args = Dict::new();
    args.insert(
        "settings".into(),
        json!([{"name": "ProcTurboMode", "value": "Disabled"}]),
    );
    let out = d
        .execute_step(
            &n,
            StepPhase::Clean,
            InterfaceKind::Bios,
            "apply_configuration",
            &args,
        )
        .await;
    assert!(matches!(out, Ok(StepOutcome::Done(_))), "{out:?}");
    assert_eq!(lock(&bmc).pending, json!({"ProcTurboMode": "Disabled"}));
    assert_eq!(lock(&bmc).resets, vec!["ForceRestart".to_string()]);

    let out = d
        .execute_step(
            &n,
            StepPhase::Service,
            InterfaceKind::Bios,
            "factory_reset",
            &Dict::new(),
        )
        .await;
    assert!(matches!(out, Ok(StepOutcome::Done(_))), "{out:?}");
    assert_eq!(lock(&bmc).bios_resets, 1);

    // A BMC that echoes the password in its error: the message is scrubbed.
    let mut echo = serde_json::Map::new();
    echo.insert("Echo".into(), json!(1));
    let Err(e) = RedfishBios.apply_settings(&n, &echo).await else {
        panic!("the echo was accepted")
    };
    let msg = e.to_string();
    assert!(msg.contains("400"), "{msg}");
    assert!(msg.contains("******"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert!(matches!(e, DriverError::Failed(_)));
}

#[tokio::test]
async fn inspection_counts_cpus_and_memory() {
    let (_bmc, address) = start().await;
    let n = node(&address, "session");
    let Ok(found) = RedfishInspect.inspect(&n).await else {
        panic!("inspection failed")
    };
    let inv = &found.inventory;
    assert_eq!(inv.cpu.count, Some(32), "two present CPUs of 16 threads");
    assert_eq!(inv.cpu.sockets, Some(2));
    assert_eq!(inv.cpu.architecture.as_deref(), Some("x86_64"));
    assert_eq!(inv.memory_mb, Some(32 * 1024));
    assert_eq!(inv.system_vendor.serial_number.as_deref(), Some("SN1"));
    let p = &found.update.properties;
    assert_eq!(p.get("cpus"), Some(&json!(32)));
    assert_eq!(p.get("cpu_arch"), Some(&json!("x86_64")));
    assert_eq!(p.get("memory_mb"), Some(&json!(32768)));
    assert!(!p.contains_key("local_gb"), "no disks known: {p:?}");
}

#[tokio::test]
async fn firmware_updates_use_simple_update_and_follow_the_task() {
    let (bmc, address) = start().await;
    let n = node(&address, "session");
    let d = driver(&n);
    assert_eq!(d.firmware.name(), "redfish");
    let mut args = Dict::new();
    args.insert(
        "settings".into(),
        json!([
            {"component": "bios", "url": "http://127.0.0.1/bios.bin"},
            {"component": "bmc", "url": "http://127.0.0.1/bmc.bin"}
        ]),
    );
    let out = d
        .execute_step(
            &n,
            StepPhase::Clean,
            InterfaceKind::Firmware,
            "update",
            &args,
        )
        .await;
    assert!(matches!(out, Ok(StepOutcome::Done(_))), "{out:?}");
    let updates = lock(&bmc).updates.clone();
    assert_eq!(
        updates,
        vec![
            json!({"ImageURI": "http://127.0.0.1/bios.bin", "Targets": ["/redfish/v1/Systems/1"]}),
            json!({"ImageURI": "http://127.0.0.1/bmc.bin", "Targets": ["/redfish/v1/Managers/bmc"]}),
        ]
    );
    args.insert("settings".into(), json!([{"component": "nic", "url": "x"}]));
    let bad = d
        .execute_step(
            &n,
            StepPhase::Clean,
            InterfaceKind::Firmware,
            "update",
            &args,
        )
        .await;
    assert!(
        matches!(bad, Err(DriverError::InvalidParameter(_))),
        "{bad:?}"
    );
}
