//! `Bios` and its `Settings` object: PATCHed attributes are staged and only
//! take effect at the next boot, which is what makes clients reboot and
//! verify — the flow Ironic's BIOS interface follows.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    AppState, RfError, RfResult, link, no_content, ok, parse_object, required, system, type_error,
};
use crate::bios::{self, BiosError};

pub(super) fn routes() -> Router<AppState> {
    let mut r = Router::new();
    // sushy-tools spells the segment `BIOS`; the Redfish mockups `Bios`.
    for seg in ["Bios", "BIOS"] {
        r = r
            .route(&format!("/redfish/v1/Systems/{{id}}/{seg}"), get(get_bios))
            .route(
                &format!("/redfish/v1/Systems/{{id}}/{seg}/Settings"),
                get(get_settings).patch(patch_settings),
            )
            .route(
                &format!("/redfish/v1/Systems/{{id}}/{seg}/Actions/Bios.ResetBios"),
                post(reset_bios),
            )
            .route(
                &format!("/redfish/v1/Systems/{{id}}/{seg}/Actions/Bios.ChangePassword"),
                post(change_password),
            );
    }
    r
}

async fn get_bios(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let attrs = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        bios::current_map(&s.bios_current)
    };
    let base = format!("/redfish/v1/Systems/{}/Bios", fleet.system_id(i));
    ok(json!({
        "@odata.id": base,
        "@odata.type": "#Bios.v1_1_0.Bios",
        "Id": "BIOS",
        "Name": "BIOS Configuration Current Settings",
        "AttributeRegistry": bios::REGISTRY_ID,
        "Attributes": attrs,
        "@Redfish.Settings": {
            "@odata.type": "#Settings.v1_3_0.Settings",
            "SettingsObject": link(format!("{base}/Settings")),
            "SupportedApplyTimes": ["OnReset"],
        },
        "Actions": {
            "#Bios.ResetBios": {"target": format!("{base}/Actions/Bios.ResetBios")},
            "#Bios.ChangePassword": {"target": format!("{base}/Actions/Bios.ChangePassword")},
        },
    }))
}

async fn get_settings(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let attrs = {
        let s = fleet.lock(i).ok_or_else(RfError::not_found)?;
        bios::partial_map(&s.bios_pending)
    };
    ok(json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/Bios/Settings", fleet.system_id(i)),
        "@odata.type": "#Bios.v1_1_0.Bios",
        "Id": "Settings",
        "Name": "BIOS Configuration Pending Settings",
        "AttributeRegistry": bios::REGISTRY_ID,
        "Attributes": attrs,
    }))
}

fn bios_error(e: BiosError) -> RfError {
    let id = match e {
        BiosError::Unknown(_) => "Base.1.8.PropertyUnknown",
        BiosError::Type(..) => "Base.1.8.PropertyValueTypeError",
        BiosError::Value(..) => "Base.1.8.PropertyValueNotInList",
    };
    RfError::bad_request(id, e.to_string())
}

async fn patch_settings(
    State(fleet): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> RfResult {
    let i = system(&fleet, &id)?;
    let req = parse_object(&body)?;
    let attrs = required(&req, "Attributes")?;
    let attrs = attrs
        .as_object()
        .ok_or_else(|| type_error("Attributes", attrs))?;
    // Validate everything before staging anything: all or nothing.
    let parsed = attrs
        .iter()
        .map(|(name, v)| bios::parse(name, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bios_error)?;
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    for (idx, v) in parsed {
        bios::set(&mut s.bios_pending, idx, v, false);
    }
    no_content()
}

async fn reset_bios(State(fleet): State<AppState>, Path(id): Path<String>) -> RfResult {
    let i = system(&fleet, &id)?;
    let mut s = fleet.lock(i).ok_or_else(RfError::not_found)?;
    s.bios_current = Vec::new();
    s.bios_pending = Vec::new();
    no_content()
}

async fn change_password(
    State(fleet): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> RfResult {
    system(&fleet, &id)?;
    let req = parse_object(&body)?;
    for key in ["PasswordName", "OldPassword", "NewPassword"] {
        if !req.get(key).is_some_and(Value::is_string) {
            return Err(RfError::bad_request(
                "Base.1.8.ActionParameterMissing",
                format!(
                    "The action Bios.ChangePassword requires the parameter {key} to be present in the request body."
                ),
            ));
        }
    }
    no_content()
}
