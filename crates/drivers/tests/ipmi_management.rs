//! The `ipmi` management interface against OpenIPMI's `ipmi_sim`: boot
//! devices (as far as the simulator implements boot parameter 5), NMI,
//! forced boot devices and bridging options.
//!
//! What ipmi_sim does with boot parameter 5: it passes the device selector
//! to its chassis-control program (`pxe`, `default` for disk, `cdrom`,
//! `bios`; anything else is refused) and drops the flags byte, so it
//! always reports "Options apply to only next boot" and legacy boot;
//! persistence and the EFI flag are checked on the bytes sent instead
//! (unit tests of `ipmi::management` with a scripted BMC).

mod common;

use std::time::Duration;

use common::ipmi_sim::{IPMI_PASSWORD, IpmiSim};
use ferrite_drivers::{BootDevice, Driver, DriverError, FakeDelays};
use ferrite_model::{Node, PowerState, PowerTarget};
use serde_json::json;

fn driver(node: &Node) -> Driver {
    match Driver::build(node, &FakeDelays::default()) {
        Ok(d) => d,
        Err(e) => panic!("cannot build the ipmi driver: {e}"),
    }
}

fn device(d: &str) -> Result<BootDevice, DriverError> {
    Ok(BootDevice {
        boot_device: Some(d.into()),
        persistent: Some(false),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_devices_are_set_and_read_back() {
    let sim = IpmiSim::start();
    let mut n = sim.node();
    n.boot_mode = Some("bios".into());
    let d = driver(&n);
    assert_eq!(d.management.name(), "ipmitool");
    assert_eq!(
        d.management.supported_boot_devices(&n),
        ["pxe", "disk", "cdrom", "bios", "safe"]
    );

    for (dev, persistent, sim_name) in [
        ("pxe", false, "pxe"),
        ("disk", true, "default"),
        ("cdrom", false, "cdrom"),
        ("bios", true, "bios"),
    ] {
        let update = d.management.set_boot_device(&n, dev, persistent).await;
        assert!(update.is_ok_and(|u| u.is_empty()), "{dev}");
        assert_eq!(sim.boot(), sim_name, "{dev}");
        // ipmi_sim drops the flags byte: it reports every device as once.
        assert_eq!(d.management.get_boot_device(&n).await, device(dev), "{dev}");
    }

    // UEFI nodes get the EFI flag; the device still arrives.
    n.boot_mode = Some("uefi".into());
    assert!(d.management.set_boot_device(&n, "pxe", true).await.is_ok());
    assert_eq!(sim.boot(), "pxe");
    assert_eq!(d.management.get_boot_device(&n).await, device("pxe"));

    // The simulator refuses the safe-mode selector: the refusal is an
    // error, not a silently unchanged device.
    let Err(DriverError::Failed(m)) = d.management.set_boot_device(&n, "safe", false).await else {
        panic!("refused boot device reported as set")
    };
    assert!(m.contains("safe") && m.contains("127.0.0.1"), "{m}");
    assert!(!m.contains(IPMI_PASSWORD), "{m}");
    assert_eq!(sim.boot(), "pxe");

    let Err(DriverError::InvalidParameter(m)) =
        d.management.set_boot_device(&n, "floppy", false).await
    else {
        panic!("floppy accepted")
    };
    assert!(m.contains("floppy"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmi_is_refused_clearly_by_the_simulator() {
    let sim = IpmiSim::start();
    let n = sim.node();
    let d = driver(&n);
    // ipmi_sim answers "pulse diagnostic interrupt" with "invalid data
    // field"; the error says what was attempted and what the BMC said.
    let Err(DriverError::Failed(m)) = d.management.inject_nmi(&n).await else {
        panic!("ipmi_sim accepted an NMI")
    };
    assert!(m.contains("NMI"), "{m}");
    assert!(m.contains("chassis power diag"), "{m}");
    assert!(m.contains("Invalid data field"), "{m}");
    assert!(!m.contains(IPMI_PASSWORD), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_boot_devices_survive_a_forgetful_bmc() {
    let sim = IpmiSim::start();
    let mut n = sim.node_with(json!({"ipmi_force_boot_device": "true"}));
    n.boot_mode = Some("bios".into());
    let d = driver(&n);
    let Ok(update) = d.management.set_boot_device(&n, "pxe", true).await else {
        panic!("set pxe")
    };
    update.apply(&mut n);
    assert_eq!(
        d.management.get_boot_device(&n).await,
        Ok(BootDevice {
            boot_device: Some("pxe".into()),
            persistent: Some(true)
        })
    );
    // The BMC forgets; the next power on sends the device again first.
    sim.set_boot("default");
    assert_eq!(
        d.power
            .set_power_state(&n, PowerTarget::On, Some(Duration::from_secs(30)))
            .await,
        Ok(PowerState::On)
    );
    assert_eq!(sim.boot(), "pxe");
    let calls = sim.calls();
    let boot = calls.iter().rposition(|c| c == "set boot pxe");
    let on = calls.iter().rposition(|c| c == "set power 1");
    assert!(boot.is_some() && on > boot, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridged_requests_reach_the_simulator() {
    let sim = IpmiSim::start();
    // The simulator's BMC is the target itself (IPMB 0x20 on channel 0),
    // so ipmitool accepts the bridging options and the request arrives.
    let n = sim.node_with(json!({
        "ipmi_bridging": "single",
        "ipmi_target_channel": "0",
        "ipmi_target_address": "0x20",
        "ipmi_local_address": "0x20",
    }));
    let d = driver(&n);
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::Off));
    let bad = sim.node_with(json!({"ipmi_bridging": "sideways"}));
    let Err(DriverError::InvalidParameter(m)) = d.power.validate(&bad).await else {
        panic!("unknown bridging accepted")
    };
    assert!(m.contains("ipmi_bridging") && m.contains("single"), "{m}");
}
