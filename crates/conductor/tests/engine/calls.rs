//! Synchronous driver calls.

use ferrite_conductor::{CallError, ConductorApi, DriverCall};
use ferrite_model::{Intent, ProvisionState as S};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn validate_reports_every_interface() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    let Ok(v) = c.call(uuid, DriverCall::Validate).await else {
        panic!("validate")
    };
    let keys: Vec<_> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "boot",
            "deploy",
            "management",
            "network",
            "power",
            "bios",
            "console",
            "firmware",
            "inspect",
            "raid",
            "rescue",
            "storage"
        ]
    );
    assert!(
        v.as_object()
            .is_some_and(|o| o.values().all(|r| r == &json!({"result": true}))),
        "{v}"
    );

    edit(s, uuid, |n| {
        n.raid_interface = Some("no-raid".into());
        n.boot_interface = Some("ipxe".into());
        n.power_interface = Some("redfish".into());
    })
    .await;
    let Ok(v) = c.call(uuid, DriverCall::Validate).await else {
        panic!("validate")
    };
    assert_eq!(v["raid"]["result"], json!(false));
    assert!(
        v["raid"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("raid")),
        "{v}"
    );
    assert_eq!(v["boot"]["result"], json!(false));
    assert!(
        v["boot"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ipxe")),
        "{v}"
    );
    assert_eq!(v["power"]["result"], json!(false));
    assert!(
        v["power"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("redfish")),
        "{v}"
    );
    assert_eq!(v["deploy"], json!({"result": true}));
    c.shutdown().await;
}

#[tokio::test]
async fn boot_device_console_nmi_and_raid() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;

    let Ok(v) = c.call(uuid, DriverCall::SupportedBootDevices).await else {
        panic!("supported")
    };
    assert!(
        v["supported_boot_devices"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("disk")))
    );
    let Ok(v) = c.call(uuid, DriverCall::GetBootDevice).await else {
        panic!("get")
    };
    assert_eq!(v, json!({"boot_device": "pxe", "persistent": false}));

    let set = DriverCall::SetBootDevice {
        device: "disk".into(),
        persistent: true,
    };
    assert!(c.call(uuid, set.clone()).await.is_ok());
    let Ok(v) = c.call(uuid, DriverCall::GetBootDevice).await else {
        panic!("get")
    };
    assert_eq!(v, json!({"boot_device": "disk", "persistent": true}));
    assert_eq!(
        get(s, uuid).await.reservation,
        None,
        "the call released the lock"
    );

    let bad = DriverCall::SetBootDevice {
        device: "floppy".into(),
        persistent: false,
    };
    assert!(matches!(c.call(uuid, bad).await, Err(CallError::Invalid(m)) if m.contains("floppy")));
    assert_eq!(get(s, uuid).await.reservation, None);

    edit(s, uuid, |n| n.reservation = Some("busy-host".into())).await;
    match c.call(uuid, set).await {
        Err(CallError::NodeLocked { host, node }) => {
            assert_eq!((host.as_str(), node), ("busy-host", uuid));
        }
        other => panic!("expected NodeLocked, got {other:?}"),
    }
    assert!(matches!(
        c.call(uuid, DriverCall::InjectNmi).await,
        Err(CallError::NodeLocked { .. })
    ));
    edit(s, uuid, |n| n.reservation = None).await;
    assert!(c.call(uuid, DriverCall::InjectNmi).await.is_ok());

    let Ok(v) = c.call(uuid, DriverCall::GetConsole).await else {
        panic!("console")
    };
    assert_eq!(v, json!({"console_enabled": false, "console_info": null}));
    intend(s, &c, uuid, Intent::Console { enabled: true }).await;
    settle(s, uuid).await;
    let Ok(v) = c.call(uuid, DriverCall::GetConsole).await else {
        panic!("console")
    };
    assert_eq!(
        v,
        json!({"console_enabled": true, "console_info": {"type": "fake", "url": "fake://"}})
    );

    let good = json!({"logical_disks": [{"size_gb": 10, "raid_level": "1+0"}]});
    assert!(
        c.call(uuid, DriverCall::ValidateRaidConfig(good))
            .await
            .is_ok()
    );
    let bad = json!({"logical_disks": [{"size_gb": 10, "raid_level": "7"}]});
    assert!(matches!(
        c.call(uuid, DriverCall::ValidateRaidConfig(bad)).await,
        Err(CallError::Invalid(m)) if m.contains("raid_level")
    ));
    edit(s, uuid, |n| n.raid_interface = Some("no-raid".into())).await;
    let any = json!({"logical_disks": [{"size_gb": 10, "raid_level": "1"}]});
    assert!(matches!(
        c.call(uuid, DriverCall::ValidateRaidConfig(any)).await,
        Err(CallError::Invalid(_))
    ));

    let missing = uuid::Uuid::new_v4();
    assert!(matches!(
        c.call(missing, DriverCall::Validate).await,
        Err(CallError::Invalid(_))
    ));
    c.shutdown().await;
}

#[tokio::test]
async fn a_slow_call_answers_unavailable_and_still_releases_the_lock() {
    let site = site().await;
    let s = &site.store;
    let slow = ferrite_conductor::FakeDelays {
        management_delay: 0.5,
        ..Default::default()
    };
    let c = start(
        s,
        ferrite_conductor::ConductorConfig {
            call_timeout: 0.1,
            fake: slow,
            ..config()
        },
    )
    .await;
    let uuid = node_in(s, &c, S::Manageable).await;
    let set = DriverCall::SetBootDevice {
        device: "cdrom".into(),
        persistent: false,
    };
    assert!(matches!(
        c.call(uuid, set).await,
        Err(CallError::Unavailable(_))
    ));
    let n = wait_for(s, uuid, "lock released", |n| n.reservation.is_none()).await;
    assert_eq!(
        n.driver_internal_info["fake_boot_device"]["boot_device"],
        json!("cdrom")
    );
    c.shutdown().await;
}
