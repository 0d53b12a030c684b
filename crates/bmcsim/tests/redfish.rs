//! The Redfish surface a driver relies on: discovery, system documents,
//! boot override, BIOS, secure boot, virtual media, NICs, storage.

mod common;

use std::collections::HashSet;

use common::Sim;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn service_root_and_collections() {
    let s = Sim::with_systems(25).await;
    // The root is public and reachable with sushy's trailing slash.
    let resp = s.http.get(s.url("/redfish/v1/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let root: Value = resp.json().await.unwrap();
    assert_eq!(root["RedfishVersion"], "1.11.0");
    for key in [
        "Systems",
        "Managers",
        "Chassis",
        "SessionService",
        "UpdateService",
        "EventService",
    ] {
        let link = root[key]["@odata.id"]
            .as_str()
            .unwrap_or_else(|| panic!("root lacks {key}"));
        s.get(link).await;
    }
    assert_eq!(
        root["Links"]["Sessions"]["@odata.id"],
        "/redfish/v1/SessionService/Sessions"
    );

    for col in [
        "/redfish/v1/Systems",
        "/redfish/v1/Managers",
        "/redfish/v1/Chassis",
    ] {
        let c = s.get(col).await;
        assert_eq!(c["Members@odata.count"], 25, "{col}");
        let members = c["Members"].as_array().unwrap();
        assert_eq!(members.len(), 25);
        assert_eq!(members[24]["@odata.id"], format!("{col}/sys-00024"));
    }
    // Every member resolves.
    let c = s.get("/redfish/v1/Systems/").await;
    for m in c["Members"].as_array().unwrap() {
        let path = m["@odata.id"].as_str().unwrap();
        let sys = s.get(path).await;
        assert_eq!(sys["@odata.id"], path);
    }
}

#[tokio::test]
async fn system_document_has_what_ironic_reads() {
    let s = Sim::with_systems(3).await;
    let sys = s.get(&s.sys(2)).await;
    assert_eq!(sys["Id"], "sys-00002");
    assert_eq!(sys["@odata.type"], "#ComputerSystem.v1_13_0.ComputerSystem");
    assert_eq!(sys["UUID"], s.sim.fleet().inventory().uuid(2));
    assert_eq!(sys["PowerState"], "Off");
    assert_eq!(sys["Status"]["Health"], "OK");
    assert!(sys["ProcessorSummary"]["Count"].as_u64().unwrap() >= 1);
    assert!(
        sys["MemorySummary"]["TotalSystemMemoryGiB"]
            .as_u64()
            .unwrap()
            >= 64
    );
    for key in ["Manufacturer", "Model", "SerialNumber"] {
        assert!(sys[key].is_string(), "{key}");
    }
    let reset = &sys["Actions"]["#ComputerSystem.Reset"];
    assert_eq!(
        reset["target"],
        format!("{}/Actions/ComputerSystem.Reset", s.sys(2))
    );
    let allowed: Vec<&str> = reset["ResetType@Redfish.AllowableValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for t in [
        "On",
        "ForceOff",
        "GracefulShutdown",
        "GracefulRestart",
        "ForceRestart",
        "Nmi",
        "PushPowerButton",
    ] {
        assert!(allowed.contains(&t), "{t}");
    }
    let boot = &sys["Boot"];
    assert_eq!(boot["BootSourceOverrideEnabled"], "Disabled");
    assert!(
        boot["BootSourceOverrideTarget@Redfish.AllowableValues"]
            .as_array()
            .unwrap()
            .contains(&json!("Pxe"))
    );
    // Every linked sub-resource exists.
    for key in [
        "Bios",
        "SecureBoot",
        "EthernetInterfaces",
        "SimpleStorage",
        "Storage",
        "Processors",
        "Memory",
        "VirtualMedia",
    ] {
        let link = sys[key]["@odata.id"]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} link"));
        s.get(link).await;
    }
    for key in ["ManagedBy", "Chassis"] {
        let link = sys["Links"][key][0]["@odata.id"].as_str().unwrap();
        s.get(link).await;
    }
    // Processors add up to the logical CPU count.
    let procs = s.get(&format!("{}/Processors", s.sys(2))).await;
    let mut threads = 0;
    for m in procs["Members"].as_array().unwrap() {
        threads += s.get(m["@odata.id"].as_str().unwrap()).await["TotalThreads"]
            .as_u64()
            .unwrap();
    }
    assert_eq!(
        json!(threads),
        sys["ProcessorSummary"]["LogicalProcessorCount"]
    );
    // Unknown systems and resources are Redfish 404s; wrong methods 405.
    let (status, body) = s
        .call(Method::GET, "/redfish/v1/Systems/sys-00003", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["@Message.ExtendedInfo"].is_array());
    let (status, _) = s.call(Method::DELETE, &s.sys(0), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // Systems are also reachable by UUID, like sushy-tools allows.
    let by_uuid = s
        .get(&format!(
            "/redfish/v1/Systems/{}",
            sys["UUID"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_uuid["Id"], "sys-00002");
}

#[tokio::test]
async fn boot_override_patch_persists_and_once_is_consumed() {
    let s = Sim::with_systems(2).await;
    let sys = s.sys(0);
    let (status, _) = s
        .patch(
            &sys,
            json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous", "BootSourceOverrideMode": "UEFI"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let boot = s.get(&sys).await["Boot"].clone();
    assert_eq!(boot["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(boot["BootSourceOverrideEnabled"], "Continuous");
    // Continuous survives boots.
    assert_eq!(s.reset(0, "On").await, StatusCode::NO_CONTENT);
    assert_eq!(s.reset(0, "ForceRestart").await, StatusCode::NO_CONTENT);
    let boot = s.get(&sys).await["Boot"].clone();
    assert_eq!(boot["BootSourceOverrideEnabled"], "Continuous");
    assert_eq!(
        s.sim
            .fleet()
            .snapshot(0)
            .unwrap()
            .last_boot
            .unwrap()
            .target
            .as_str(),
        "Pxe"
    );

    // Once applies to exactly one boot.
    let (status, _) = s
        .patch(&sys, json!({"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&sys).await["Boot"]["BootSourceOverrideEnabled"],
        "Once"
    );
    assert_eq!(s.reset(0, "ForceRestart").await, StatusCode::NO_CONTENT);
    let boot = s.get(&sys).await["Boot"].clone();
    assert_eq!(boot["BootSourceOverrideEnabled"], "Disabled");
    assert_eq!(boot["BootSourceOverrideTarget"], "None");
    assert_eq!(
        s.sim
            .fleet()
            .snapshot(0)
            .unwrap()
            .last_boot
            .unwrap()
            .target
            .as_str(),
        "Cd"
    );
    s.reset(0, "ForceRestart").await;
    assert_eq!(
        s.sim
            .fleet()
            .snapshot(0)
            .unwrap()
            .last_boot
            .unwrap()
            .target
            .as_str(),
        "Hdd"
    );

    // Bad values are refused and change nothing.
    let (status, body) = s
        .patch(&sys, json!({"Boot": {"BootSourceOverrideTarget": "Tape"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "Base.1.8.PropertyValueNotInList");
    let (status, _) = s
        .patch(&sys, json!({"Boot": {"BootSourceOverrideMode": "uefi"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.patch(&sys, json!({"PowerState": "On"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let resp = s
        .http
        .patch(s.url(&sys))
        .basic_auth(common::USER, Some(common::PASS))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "Base.1.8.MalformedJSON"
    );
    // The other system was never touched.
    assert_eq!(
        s.get(&s.sys(1)).await["Boot"]["BootSourceOverrideTarget"],
        "None"
    );
}

#[tokio::test]
async fn bios_settings_apply_after_reset() {
    let s = Sim::with_systems(2).await;
    let bios_path = format!("{}/Bios", s.sys(1));
    let bios = s.get(&bios_path).await;
    assert_eq!(bios["Attributes"]["ProcTurboMode"], "Enabled");
    let settings = bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = s
        .patch(
            &settings,
            json!({"Attributes": {"ProcTurboMode": "Disabled", "PxeRetryCount": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Staged, not applied.
    assert_eq!(
        s.get(&settings).await["Attributes"]["ProcTurboMode"],
        "Disabled"
    );
    assert_eq!(
        s.get(&bios_path).await["Attributes"]["ProcTurboMode"],
        "Enabled"
    );
    // Invalid attributes are refused as a whole.
    let (status, body) = s
        .patch(
            &settings,
            json!({"Attributes": {"ProcTurboMode": "Enabled", "NoSuchThing": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = s
        .patch(&settings, json!({"Attributes": {"PxeRetryCount": 99}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get(&settings).await["Attributes"]["ProcTurboMode"],
        "Disabled"
    );
    // A boot applies them and clears the pending set.
    s.reset(1, "On").await;
    let attrs = s.get(&bios_path).await["Attributes"].clone();
    assert_eq!(attrs["ProcTurboMode"], "Disabled");
    assert_eq!(attrs["PxeRetryCount"], 5);
    assert_eq!(s.get(&settings).await["Attributes"], json!({}));
    // The sushy-tools spelling of the path works too.
    assert_eq!(
        s.get(&format!("{}/BIOS", s.sys(1))).await["Attributes"]["PxeRetryCount"],
        5
    );
    // ResetBios restores defaults.
    let (status, _) = s
        .post(&format!("{bios_path}/Actions/Bios.ResetBios"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&bios_path).await["Attributes"]["ProcTurboMode"],
        "Enabled"
    );
    // The attribute registry named by the Bios resource is discoverable.
    let reg_id = bios["AttributeRegistry"].as_str().unwrap();
    let regs = s.get("/redfish/v1/Registries").await;
    let file_path = regs["Members"][0]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = s.get(&file_path).await;
    let reg = s.get(file["Location"][0]["Uri"].as_str().unwrap()).await;
    assert_eq!(reg["Id"], reg_id);
    assert!(
        reg["RegistryEntries"]["Attributes"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );
}

#[tokio::test]
async fn secure_boot_toggles_and_latches_at_boot() {
    let s = Sim::with_systems(1).await;
    let path = format!("{}/SecureBoot", s.sys(0));
    let sb = s.get(&path).await;
    assert_eq!(sb["SecureBootEnable"], false);
    assert_eq!(sb["SecureBootCurrentBoot"], "Disabled");
    let (status, _) = s.patch(&path, json!({"SecureBootEnable": true})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let sb = s.get(&path).await;
    assert_eq!(sb["SecureBootEnable"], true);
    assert_eq!(
        sb["SecureBootCurrentBoot"], "Disabled",
        "takes effect at the next boot"
    );
    s.reset(0, "On").await;
    assert_eq!(s.get(&path).await["SecureBootCurrentBoot"], "Enabled");
    // Legacy mode and secure boot exclude each other.
    let (status, _) = s
        .patch(
            &s.sys(0),
            json!({"Boot": {"BootSourceOverrideMode": "Legacy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = s.patch(&path, json!({"SecureBootEnable": "yes"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn virtual_media_insert_and_eject() {
    let s = Sim::with_systems(2).await;
    let mgr = s
        .get(&format!(
            "/redfish/v1/Managers/{}",
            s.sim.fleet().system_id(1)
        ))
        .await;
    let col_path = mgr["VirtualMedia"]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let col = s.get(&col_path).await;
    let ids: Vec<&str> = col["Members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.id"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(ids, ["Cd", "Floppy"]);
    let cd_path = format!("{col_path}/Cd");
    let cd = s.get(&cd_path).await;
    assert_eq!(cd["Inserted"], false);
    assert!(cd["MediaTypes"].as_array().unwrap().contains(&json!("CD")));
    let insert = cd["Actions"]["#VirtualMedia.InsertMedia"]["target"]
        .as_str()
        .unwrap()
        .to_string();
    let eject = cd["Actions"]["#VirtualMedia.EjectMedia"]["target"]
        .as_str()
        .unwrap()
        .to_string();

    let image = "http://192.0.2.10/images/deploy.iso";
    let (status, _) = s
        .post(
            &insert,
            json!({"Image": image, "Inserted": true, "WriteProtected": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cd = s.get(&cd_path).await;
    assert_eq!(cd["Inserted"], true);
    assert_eq!(cd["Image"], image);
    assert_eq!(cd["ImageName"], "deploy.iso");
    // The system-level view shares the same device.
    let sys_cd = s.get(&format!("{}/VirtualMedia/Cd", s.sys(1))).await;
    assert_eq!(sys_cd["Image"], image);
    // A different image while one is inserted is refused; the same is fine.
    let (status, _) = s
        .post(&insert, json!({"Image": "http://192.0.2.10/other.iso"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = s.post(&insert, json!({"Image": image})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.post(&insert, json!({"Image": "not a url"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.post(&insert, json!({"Inserted": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Booting from Cd records the image.
    s.patch(
        &s.sys(1),
        json!({"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}}),
    )
    .await;
    s.reset(1, "On").await;
    let last = s.sim.fleet().snapshot(1).unwrap().last_boot.unwrap();
    assert_eq!(last.media_image.as_deref(), Some(image));

    let (status, _) = s.post(&eject, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cd = s.get(&cd_path).await;
    assert_eq!(cd["Inserted"], false);
    assert_eq!(cd["Image"], Value::Null);
    // PATCH-style insertion (some vendors) on the system-level Floppy.
    let floppy = format!("{}/VirtualMedia/Floppy", s.sys(1));
    let (status, _) = s
        .patch(
            &floppy,
            json!({"Image": "http://192.0.2.10/cfg.img", "Inserted": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&floppy).await["Inserted"], true);
    let (status, _) = s.patch(&floppy, json!({"Image": null})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&floppy).await["Inserted"], false);
    // Other systems are unaffected.
    assert_eq!(
        s.get(&format!("{}/VirtualMedia/Cd", s.sys(0))).await["Inserted"],
        false
    );
}

#[tokio::test]
async fn nics_have_unique_deterministic_macs() {
    let s = Sim::with_systems(40).await;
    let mut seen = HashSet::new();
    for i in 0..40 {
        let col = s.get(&format!("{}/EthernetInterfaces", s.sys(i))).await;
        assert_eq!(col["Members@odata.count"], 2);
        for m in col["Members"].as_array().unwrap() {
            let nic = s.get(m["@odata.id"].as_str().unwrap()).await;
            let mac = nic["MACAddress"].as_str().unwrap().to_string();
            assert!(mac.starts_with("52:54:00:"), "{mac}");
            assert_eq!(nic["Status"]["Health"], "OK");
            assert!(seen.insert(mac), "duplicate MAC");
        }
    }
    // Same seed, same inventory, across processes.
    assert_eq!(
        s.sim.fleet().inventory().mac(7, 1),
        ferrite_bmcsim::inventory::Inventory::new(0, 40, 2).mac(7, 1)
    );
}

#[tokio::test]
async fn storage_drives_and_volumes() {
    let s = Sim::with_systems(1).await;
    let st = s.get(&format!("{}/Storage", s.sys(0))).await;
    let st_path = st["Members"][0]["@odata.id"].as_str().unwrap().to_string();
    let storage = s.get(&st_path).await;
    assert!(storage["StorageControllers"][0]["SupportedRAIDTypes"].is_array());
    let drives: Vec<String> = storage["Drives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["@odata.id"].as_str().unwrap().to_string())
        .collect();
    assert!(drives.len() >= 2);
    for d in &drives {
        assert!(s.get(d).await["CapacityBytes"].as_u64().unwrap() > 0);
    }
    let simple = s.get(&format!("{}/SimpleStorage/1", s.sys(0))).await;
    assert_eq!(simple["Devices"].as_array().unwrap().len(), drives.len());

    let vols_path = storage["Volumes"]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let vols = s.get(&vols_path).await;
    assert_eq!(vols["Members@odata.count"], 1);
    // Drives of the default volume are busy.
    let (status, _) = s
        .post(
            &vols_path,
            json!({"RAIDType": "RAID0", "Links": {"Drives": [{"@odata.id": drives[0]}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Delete everything, then build a RAID1.
    let default_vol = vols["Members"][0]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = s.call(Method::DELETE, &default_vol, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&vols_path).await["Members@odata.count"], 0);
    let (status, body) = s
        .post(
            &vols_path,
            json!({"RAIDType": "RAID1", "Name": "os", "Links": {"Drives": [{"@odata.id": drives[0]}, {"@odata.id": drives[1]}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["RAIDType"], "RAID1");
    let new = s.get(body["@odata.id"].as_str().unwrap()).await;
    assert_eq!(new["Name"], "os");
    assert_eq!(new["Links"]["Drives"].as_array().unwrap().len(), 2);
    let (status, _) = s
        .post(
            &vols_path,
            json!({"RAIDType": "RAID5", "Links": {"Drives": [{"@odata.id": drives[0]}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sessions_and_services_documents() {
    let s = Sim::with_systems(1).await;
    let ss = s.get("/redfish/v1/SessionService").await;
    assert_eq!(ss["ServiceEnabled"], true);
    let upd = s.get("/redfish/v1/UpdateService").await;
    assert!(upd["Actions"]["#UpdateService.SimpleUpdate"]["target"].is_string());
    let chassis = s
        .get(&format!(
            "/redfish/v1/Chassis/{}",
            s.sim.fleet().system_id(0)
        ))
        .await;
    assert_eq!(
        chassis["Links"]["ComputerSystems"][0]["@odata.id"],
        s.sys(0)
    );
}
