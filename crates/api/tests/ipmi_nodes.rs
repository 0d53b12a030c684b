//! `ipmi` nodes driven through the API against OpenIPMI's `ipmi_sim`:
//! enrolment, verification reading the power state, power actions and the
//! boot device reaching the simulated BMC, the password masked.

mod common;
// The drivers crate's simulator harness, shared rather than copied; this
// test uses part of it.
#[allow(dead_code)]
#[path = "../../drivers/tests/common/ipmi_sim.rs"]
mod ipmi_sim;

use axum::http::StatusCode;
use common::Site;
use ipmi_sim::{IPMI_PASSWORD, IpmiSim};
use serde_json::json;

async fn power(site: &Site, node: &str, target: &str, expected: &str) {
    let answer = site
        .latest(
            "PUT",
            &format!("/v1/nodes/{node}/states/power"),
            Some(json!({"target": target})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
    site.wait_for_power(node, expected).await;
}

#[tokio::test]
async fn ipmi_nodes_reach_the_simulated_bmc() {
    let sim = IpmiSim::start();
    let site = Site::start().await;
    let created = site
        .latest(
            "POST",
            "/v1/nodes",
            Some(json!({"driver": "ipmi", "name": "bmc-1", "driver_info": sim.driver_info()})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["driver_info"]["ipmi_password"], "******");
    let uuid = created.body["uuid"].as_str().unwrap().to_string();

    let manage = site
        .latest(
            "PUT",
            &format!("/v1/nodes/{uuid}/states/provision"),
            Some(json!({"target": "manage"})),
        )
        .await;
    assert_eq!(manage.status, StatusCode::ACCEPTED);
    let node = site.wait_for(&uuid, "manageable").await;
    assert_eq!(node["power_state"], "power off", "verify read the BMC");

    power(&site, &uuid, "power on", "power on").await;
    assert!(sim.powered(), "the simulator is not powered on");

    let set = site
        .latest(
            "PUT",
            &format!("/v1/nodes/{uuid}/management/boot_device"),
            Some(json!({"boot_device": "pxe", "persistent": true})),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{:?}", set.body);
    let got = site
        .latest(
            "GET",
            &format!("/v1/nodes/{uuid}/management/boot_device"),
            None,
        )
        .await;
    assert_eq!(got.body["boot_device"], "pxe", "{:?}", got.body);

    power(&site, &uuid, "power off", "power off").await;
    assert!(!sim.powered(), "the simulator is still on");

    let shown = site.latest("GET", &format!("/v1/nodes/{uuid}"), None).await;
    assert!(!shown.body.to_string().contains(IPMI_PASSWORD));
}
