//! The `redfish` power interface against the real sushy-tools emulator
//! (fake driver: changes land 1–11 s after the reset, so every wait here
//! is generous), plus the errors a wrong address or wrong credentials give.

mod common;

use std::time::Duration;

use common::{PASSWORD, Sushy, dead_address, driver, node_with};
use ferrite_drivers::DriverError;
use ferrite_model::{PowerState, PowerTarget};
use serde_json::json;

const WAIT: Option<Duration> = Some(Duration::from_secs(45));

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn power_on_off_and_reboots_reach_the_emulator() {
    let sushy = Sushy::start();
    let on = sushy.node(0);
    let cycle = sushy.node(1);
    let reboot = sushy.node(2);
    let soft = sushy.node(3);

    for n in [&on, &cycle, &reboot, &soft] {
        let d = driver(n);
        assert_eq!(d.power.name(), "redfish");
        assert!(d.power.validate(n).await.is_ok());
        assert_eq!(d.power.get_power_state(n).await, Ok(PowerState::Off));
    }

    // Four systems change at once: the emulator's random delays overlap.
    let a = async {
        let d = driver(&on);
        assert_eq!(
            d.power.set_power_state(&on, PowerTarget::On, WAIT).await,
            Ok(PowerState::On)
        );
        assert_eq!(d.power.get_power_state(&on).await, Ok(PowerState::On));
        // Already on: nothing to do, answered at once.
        assert_eq!(
            d.power.set_power_state(&on, PowerTarget::On, WAIT).await,
            Ok(PowerState::On)
        );
    };
    let b = async {
        let d = driver(&cycle);
        assert_eq!(
            d.power.set_power_state(&cycle, PowerTarget::On, WAIT).await,
            Ok(PowerState::On)
        );
        assert_eq!(
            d.power
                .set_power_state(&cycle, PowerTarget::Off, WAIT)
                .await,
            Ok(PowerState::Off)
        );
        assert_eq!(d.power.get_power_state(&cycle).await, Ok(PowerState::Off));
    };
    let c = async {
        let d = driver(&reboot);
        // A reboot of a machine that is off powers it on.
        assert_eq!(
            d.power
                .set_power_state(&reboot, PowerTarget::Reboot, WAIT)
                .await,
            Ok(PowerState::On)
        );
        assert_eq!(
            d.power
                .set_power_state(&reboot, PowerTarget::Reboot, WAIT)
                .await,
            Ok(PowerState::On)
        );
        assert_eq!(d.power.get_power_state(&reboot).await, Ok(PowerState::On));
    };
    let e = async {
        let d = driver(&soft);
        assert_eq!(
            d.power.set_power_state(&soft, PowerTarget::On, WAIT).await,
            Ok(PowerState::On)
        );
        assert_eq!(
            d.power
                .set_power_state(&soft, PowerTarget::SoftReboot, WAIT)
                .await,
            Ok(PowerState::On)
        );
        assert_eq!(
            d.power
                .set_power_state(&soft, PowerTarget::SoftOff, WAIT)
                .await,
            Ok(PowerState::Off)
        );
    };
    tokio::join!(a, b, c, e);
}

#[tokio::test]
async fn a_short_timeout_fails_with_the_last_state() {
    let sushy = Sushy::start();
    let n = sushy.node(4);
    let d = driver(&n);
    // The emulator needs at least a second; zero seconds cannot be enough.
    let Err(DriverError::Failed(msg)) = d
        .power
        .set_power_state(&n, PowerTarget::On, Some(Duration::ZERO))
        .await
    else {
        panic!("a zero timeout succeeded")
    };
    assert!(msg.contains("Timed out"), "{msg}");
    assert!(msg.contains(&sushy.address), "{msg}");
}

#[tokio::test]
async fn single_system_discovery_needs_a_system_id_when_there_are_many() {
    let sushy = Sushy::start();
    let n = node_with(json!({"redfish_address": sushy.address}));
    let Err(DriverError::InvalidParameter(msg)) = driver(&n).power.get_power_state(&n).await else {
        panic!("eight systems and no redfish_system_id accepted")
    };
    assert!(msg.contains("redfish_system_id"), "{msg}");
    // A system id may also be given as a bare id.
    let bare = node_with(json!({
        "redfish_address": sushy.address,
        "redfish_system_id": common::system_uuid(5),
    }));
    assert_eq!(
        driver(&bare).power.get_power_state(&bare).await,
        Ok(PowerState::Off)
    );
    // By name: the emulator redirects (307) to the UUID, on the same host.
    let named = node_with(json!({
        "redfish_address": sushy.address,
        "redfish_system_id": "/redfish/v1/Systems/node-5",
    }));
    assert_eq!(
        driver(&named).power.get_power_state(&named).await,
        Ok(PowerState::Off)
    );
    let missing = node_with(json!({
        "redfish_address": sushy.address,
        "redfish_system_id": "/redfish/v1/Systems/no-such-system",
    }));
    let Err(e) = driver(&missing).power.get_power_state(&missing).await else {
        panic!("a missing system answered")
    };
    assert!(e.to_string().contains("404"), "{e}");
}

#[tokio::test]
async fn a_wrong_address_fails_clearly_without_the_password() {
    let address = dead_address();
    let n = node_with(json!({
        "redfish_address": address,
        "redfish_system_id": "/redfish/v1/Systems/1",
        "redfish_username": "admin",
        "redfish_password": PASSWORD,
        "redfish_auth_type": "basic",
    }));
    let d = driver(&n);
    assert!(d.power.validate(&n).await.is_ok());
    let Err(e) = d.power.get_power_state(&n).await else {
        panic!("a dead address answered")
    };
    let msg = e.to_string();
    assert!(msg.contains("Cannot connect"), "{msg}");
    assert!(msg.contains(&address), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert!(!format!("{e:?}").contains(PASSWORD));

    let Err(e) = d
        .power
        .set_power_state(&n, PowerTarget::On, Some(Duration::from_secs(1)))
        .await
    else {
        panic!("a dead address powered on")
    };
    assert!(!e.to_string().contains(PASSWORD), "{e}");

    let bad = node_with(json!({"redfish_address": "ftp://x", "redfish_password": PASSWORD}));
    let Err(e) = driver(&bad).power.validate(&bad).await else {
        panic!("ftp accepted")
    };
    assert!(!e.to_string().contains(PASSWORD), "{e}");
}

#[tokio::test]
async fn credentials_are_sent_and_wrong_ones_are_refused_without_echo() {
    let sushy = Sushy::start_with_auth();
    let good = sushy.node(6);
    assert_eq!(
        driver(&good).power.get_power_state(&good).await,
        Ok(PowerState::Off)
    );

    // `auto`: the emulator has no session service, so basic is used.
    let mut auto = good.clone();
    auto.driver_info
        .insert("redfish_auth_type".into(), json!("auto"));
    assert_eq!(
        driver(&auto).power.get_power_state(&auto).await,
        Ok(PowerState::Off)
    );

    // `session` cannot log in where there are no sessions, and says so.
    let mut session = good.clone();
    session
        .driver_info
        .insert("redfish_auth_type".into(), json!("session"));
    let Err(e) = driver(&session).power.get_power_state(&session).await else {
        panic!("a session was made where none can be")
    };
    assert!(e.to_string().contains("Sessions"), "{e}");
    assert!(!e.to_string().contains(PASSWORD), "{e}");

    let mut wrong = good.clone();
    let wrong_password = format!("{PASSWORD}-but-wrong");
    wrong
        .driver_info
        .insert("redfish_password".into(), json!(wrong_password));
    let Err(e) = driver(&wrong).power.get_power_state(&wrong).await else {
        panic!("a wrong password was accepted")
    };
    let msg = e.to_string();
    assert!(msg.contains("refused the credentials"), "{msg}");
    assert!(msg.contains("401"), "{msg}");
    assert!(
        !msg.contains(PASSWORD) && !msg.contains(&wrong_password),
        "{msg}"
    );

    let mut anonymous = good.clone();
    anonymous.driver_info.remove("redfish_username");
    anonymous.driver_info.remove("redfish_password");
    let Err(e) = driver(&anonymous).power.get_power_state(&anonymous).await else {
        panic!("no credentials were accepted")
    };
    assert!(e.to_string().contains("401"), "{e}");
}
