//! The `redfish` management, inspect, BIOS and vendor interfaces against
//! the real sushy-tools emulator (fake driver).

mod common;

use common::{Sushy, driver, image_server, mac, system_uuid};
use ferrite_drivers::interfaces::BiosInterface;
use ferrite_drivers::redfish::inspect::{INSPECTED_MACS_KEY, RedfishInspect};
use ferrite_drivers::redfish::management::{BOOT_DEVICE_KEY, RedfishManagement};
use ferrite_drivers::redfish::resources::VirtualMedia;
use ferrite_drivers::redfish::{BmcClientExt, RedfishConfig, http};
use ferrite_drivers::{DriverError, StepOutcome};
use ferrite_model::Node;
use serde_json::{Value, json};

#[tokio::test]
async fn boot_device_once_and_persistent() {
    let sushy = Sushy::start();
    let mut n = sushy.node(0);
    let d = driver(&n);
    assert_eq!(d.management.name(), "redfish");
    assert!(d.management.validate(&n).await.is_ok());
    let Ok(initial) = d.management.get_boot_device(&n).await else {
        panic!("get boot device")
    };
    // The fake driver starts from Hdd, shown as persistent.
    assert_eq!(initial.boot_device.as_deref(), Some("disk"));

    let Ok(update) = d.management.set_boot_device(&n, "pxe", false).await else {
        panic!("set pxe once")
    };
    assert_eq!(
        update.driver_internal_info.get(BOOT_DEVICE_KEY),
        Some(&Value::Null)
    );
    update.apply(&mut n);
    let Ok(now) = d.management.get_boot_device(&n).await else {
        panic!("get")
    };
    assert_eq!(now.boot_device.as_deref(), Some("pxe"));

    let Ok(update) = d.management.set_boot_device(&n, "cdrom", true).await else {
        panic!("set cdrom persistent")
    };
    update.apply(&mut n);
    let Ok(now) = d.management.get_boot_device(&n).await else {
        panic!("get")
    };
    assert_eq!(now.boot_device.as_deref(), Some("cdrom"));
    assert_eq!(now.persistent, Some(true));

    // Devices Ironic does not know, and devices this BMC does not allow.
    assert!(matches!(
        d.management.set_boot_device(&n, "floppy", false).await,
        Err(DriverError::InvalidParameter(_))
    ));
    let Err(DriverError::InvalidParameter(msg)) =
        d.management.set_boot_device(&n, "bios", false).await
    else {
        panic!("BiosSetup accepted though the emulator does not list it")
    };
    assert!(msg.contains("BiosSetup"), "{msg}");
    let devices = d.management.supported_boot_devices(&n);
    assert!(devices.contains(&"uefi-http".to_string()), "{devices:?}");
}

#[tokio::test]
async fn boot_mode_and_secure_boot() {
    let sushy = Sushy::start();
    let n = sushy.node(1);
    let d = driver(&n);
    assert_eq!(
        d.management.get_boot_mode(&n).await,
        Ok(Some("uefi".into()))
    );
    assert_eq!(d.management.set_boot_mode(&n, "bios").await, Ok(()));
    assert_eq!(
        d.management.get_boot_mode(&n).await,
        Ok(Some("bios".into()))
    );
    // Secure boot needs UEFI.
    assert!(matches!(
        d.management.set_secure_boot(&n, true).await,
        Err(DriverError::InvalidParameter(_))
    ));
    assert_eq!(d.management.set_boot_mode(&n, "uefi").await, Ok(()));
    assert_eq!(
        d.management.get_boot_mode(&n).await,
        Ok(Some("uefi".into()))
    );
    assert!(matches!(
        d.management.set_boot_mode(&n, "efi").await,
        Err(DriverError::InvalidParameter(_))
    ));

    assert_eq!(d.management.get_secure_boot(&n).await, Ok(Some(false)));
    assert_eq!(d.management.set_secure_boot(&n, true).await, Ok(()));
    assert_eq!(d.management.get_secure_boot(&n).await, Ok(Some(true)));
    assert_eq!(d.management.set_secure_boot(&n, false).await, Ok(()));
    assert_eq!(d.management.get_secure_boot(&n).await, Ok(Some(false)));

    // Health is read from the system's Status.
    assert_eq!(
        RedfishManagement.get_node_health(&n).await,
        Ok(Some("OK".into()))
    );
}

#[tokio::test]
async fn nmi_reaches_the_emulator_which_refuses_it() {
    let sushy = Sushy::start();
    let n = sushy.node(2);
    // The fake driver lists Nmi as allowed but answers 501 to it.
    let Err(DriverError::Unsupported(msg)) = driver(&n).management.inject_nmi(&n).await else {
        panic!("the fake driver injected an NMI")
    };
    assert!(msg.contains("501"), "{msg}");
}

async fn cd(n: &Node) -> VirtualMedia {
    let Ok(config) = RedfishConfig::from_node(n) else {
        panic!("config")
    };
    let Ok(client) = http::client_for(&config) else {
        panic!("client")
    };
    let path = format!(
        "{}/VirtualMedia/Cd",
        config.system_id.as_deref().unwrap_or_default()
    );
    match client.get_as::<VirtualMedia>(&path).await {
        Ok(vm) => vm,
        Err(e) => panic!("read {path}: {e}"),
    }
}

#[tokio::test]
async fn virtual_media_insert_and_eject() {
    let sushy = Sushy::start();
    let (images, _server) = image_server();
    let n = sushy.node(3);
    let d = driver(&n);
    assert_eq!(cd(&n).await.inserted, Some(false));

    let url = format!("{images}/deploy.iso");
    assert_eq!(
        d.management.attach_virtual_media(&n, "cdrom", &url).await,
        Ok(())
    );
    let inserted = cd(&n).await;
    assert_eq!(inserted.inserted, Some(true));
    assert_eq!(inserted.image.as_deref(), Some(url.as_str()));
    assert_eq!(inserted.write_protected, Some(true));

    // Inserting again replaces the image (eject first).
    let second = format!("{images}/other.iso");
    assert_eq!(
        d.management
            .attach_virtual_media(&n, "cdrom", &second)
            .await,
        Ok(())
    );
    assert_eq!(cd(&n).await.image.as_deref(), Some(second.as_str()));

    assert_eq!(
        d.management
            .detach_virtual_media(&n, &["cdrom".to_string()])
            .await,
        Ok(())
    );
    assert_eq!(cd(&n).await.inserted, Some(false));

    // The vendor passthru ejects everything.
    assert_eq!(
        d.management.attach_virtual_media(&n, "cdrom", &url).await,
        Ok(())
    );
    assert_eq!(
        d.vendor.call(&n, "eject_vmedia", &json!({})).await,
        Ok(Value::Null)
    );
    assert_eq!(cd(&n).await.inserted, Some(false));
    assert!(matches!(
        d.management.attach_virtual_media(&n, "tape", &url).await,
        Err(DriverError::InvalidParameter(_))
    ));
}

#[tokio::test]
async fn inspection_reads_macs_disks_and_vendor() {
    let sushy = Sushy::start();
    let n = sushy.node(4);
    let d = driver(&n);
    let Ok(StepOutcome::Done(update)) = d.inspect.inspect_hardware(&n).await else {
        panic!("inspection failed")
    };
    assert_eq!(
        update.driver_internal_info.get(INSPECTED_MACS_KEY),
        Some(&json!([mac(4, 0), mac(4, 1)]))
    );
    // Largest drive 500 GiB, less one for partitioning.
    assert_eq!(update.properties.get("local_gb"), Some(&json!(499)));
    assert_eq!(
        update.properties.get("capabilities"),
        Some(&json!("boot_mode:uefi"))
    );
    assert_eq!(
        update.properties.get("vendor"),
        Some(&json!("Sushy Emulator"))
    );

    let Ok(found) = RedfishInspect.inspect(&n).await else {
        panic!("typed inspection failed")
    };
    assert_eq!(found.macs, vec![mac(4, 0), mac(4, 1)]);
    assert_eq!(found.inventory.disks.len(), 2);
    assert_eq!(found.inventory.disks[1].size_bytes, 500 << 30);
    assert_eq!(found.inventory.disks[1].protocol.as_deref(), Some("SATA"));
    // The fake driver reports neither CPUs nor memory.
    assert_eq!(found.inventory.cpu.count, None);
    assert_eq!(found.inventory.memory_mb, None);
    assert!(!update.properties.contains_key("cpus"));
    let other = sushy.node(5);
    let Ok(found) = RedfishInspect.inspect(&other).await else {
        panic!("inspection of another system failed")
    };
    assert_eq!(found.macs, vec![mac(5, 0), mac(5, 1)]);
    assert!(system_uuid(5).len() == 36);
}

#[tokio::test]
async fn bios_is_reported_missing_by_the_fake_driver() {
    let sushy = Sushy::start();
    let n = sushy.node(6);
    let d = driver(&n);
    assert_eq!(d.bios.name(), "redfish");
    let Err(DriverError::Unsupported(msg)) = ferrite_drivers::redfish::bios::RedfishBios
        .get_settings(&n)
        .await
    else {
        panic!("the fake driver has a Bios resource now")
    };
    assert!(msg.contains("no Bios resource"), "{msg}");
}
