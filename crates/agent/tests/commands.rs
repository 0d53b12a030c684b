//! The command API over HTTP on loopback: the token on every command,
//! the step lists, cleaning and image writing on file-backed disks, and
//! the standby, log and rescue commands.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use common::{CopyWriter, FakeRoot, TOKEN, agent, command, finished, serve};
use ferrite_agent::config::Settings;
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;

fn settings() -> Settings {
    Settings {
        api_url: Some("http://127.0.0.1:9".into()),
        agent_token: Some(TOKEN.into()),
        ..Settings::default()
    }
}

async fn start(root: &FakeRoot) -> (String, Arc<common::FakeHost>) {
    let (a, host) = agent(root, settings(), Arc::new(CopyWriter));
    (serve(a).await, host)
}

fn fill(path: &std::path::Path, byte: u8) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::write(path, vec![byte; len as usize]).unwrap();
}

fn read_at(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

#[tokio::test]
async fn every_command_needs_the_token() {
    let root = FakeRoot::new();
    let (base, _) = start(&root).await;
    for token in [None, Some("wrong"), Some(&TOKEN[..31])] {
        let (code, body) = command(&base, token, "clean.get_clean_steps", json!({}), false).await;
        assert_eq!(code, 401, "{token:?}");
        assert_eq!(body["type"], "UnauthorizedError");
    }
    let list = reqwest::get(format!("{base}/v1/commands/")).await.unwrap();
    assert_eq!(list.status(), 401);
    let list = reqwest::get(format!("{base}/commands?agent_token={TOKEN}"))
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    assert_eq!(list.json::<Value>().await.unwrap()["commands"], json!([]));
    // Status and discovery need no token.
    let status: Value = reqwest::get(format!("{base}/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["mode"], "callback");
    assert!(status.get("inventory").is_none());
    let root_doc: Value = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root_doc["default_version"]["id"], "v1");
}

#[tokio::test]
async fn an_agent_without_a_token_refuses_everything() {
    let root = FakeRoot::new();
    let mut s = settings();
    s.agent_token = None;
    let (a, _) = agent(&root, s, Arc::new(CopyWriter));
    let base = serve(a).await;
    let (code, _) = command(&base, Some(""), "standby.sync", json!({}), false).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn step_lists_carry_ironic_priorities_and_the_manager_version() {
    let root = FakeRoot::new();
    let (base, _) = start(&root).await;
    let (code, body) = command(
        &base,
        Some(TOKEN),
        "clean.get_clean_steps",
        json!({}),
        false,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["command_status"], "SUCCEEDED");
    let result = &body["command_result"];
    let steps = result["clean_steps"]["FerriteHardwareManager"]
        .as_array()
        .unwrap();
    let prio = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| s["priority"].clone())
    };
    assert_eq!(prio("erase_devices_metadata"), Some(json!(99)));
    assert_eq!(prio("erase_devices"), Some(json!(10)));
    assert_eq!(prio("write_image"), None);
    assert!(steps.iter().all(|s| s["interface"] == "deploy"));
    assert_eq!(
        result["hardware_manager_version"]["FerriteHardwareManager"],
        "1.0"
    );

    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.get_deploy_steps",
        json!({}),
        false,
    )
    .await;
    let steps = body["command_result"]["deploy_steps"]["FerriteHardwareManager"]
        .as_array()
        .unwrap()
        .clone();
    let write = steps.iter().find(|s| s["step"] == "write_image").unwrap();
    assert_eq!(write["priority"], 0);
    assert_eq!(write["argsinfo"]["image_info"]["required"], true);
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "service.get_service_steps",
        json!({}),
        false,
    )
    .await;
    assert!(body["command_result"]["service_steps"]["FerriteHardwareManager"].is_array());

    let (code, body) = command(&base, Some(TOKEN), "standby.fly", json!({}), false).await;
    assert_eq!(code, 400);
    assert_eq!(body["type"], "InvalidCommandError");
}

#[tokio::test]
async fn erase_devices_metadata_wipes_both_ends_and_honours_skips() {
    let root = FakeRoot::new();
    let vda = root.add_disk("vda", 8 * MIB, false, "V");
    let vdb = root.add_disk("vdb", 8 * MIB, false, "W");
    fill(&vda, 0xAB);
    fill(&vdb, 0xAB);
    let (base, _) = start(&root).await;
    let params = json!({
        "step": {"interface": "deploy", "step": "erase_devices_metadata", "args": {}},
        "node": {"properties": {"skip_block_devices": [{"name": "vdb"}]}},
        "ports": [],
        "clean_version": {"FerriteHardwareManager": "1.0"},
    });
    let (code, body) = command(
        &base,
        Some(TOKEN),
        "clean.execute_clean_step",
        params,
        false,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["command_status"], "RUNNING");
    let done = finished(&base, body["id"].as_str().unwrap()).await;
    assert_eq!(done["command_status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["command_result"]["clean_step"]["step"],
        "erase_devices_metadata"
    );
    assert_eq!(
        done["command_result"]["clean_result"]["erased_metadata"],
        json!(["/dev/vda"])
    );
    assert!(read_at(&vda, 0, MIB as usize).iter().all(|b| *b == 0));
    assert!(read_at(&vda, 7 * MIB, MIB as usize).iter().all(|b| *b == 0));
    assert!(
        read_at(&vda, 3 * MIB, MIB as usize)
            .iter()
            .all(|b| *b == 0xAB),
        "the middle is untouched"
    );
    assert!(
        read_at(&vdb, 0, 4096).iter().all(|b| *b == 0xAB),
        "skipped disk untouched"
    );
    // The list and one-command endpoints both report it.
    let list: Value = reqwest::get(format!("{base}/v1/commands?agent_token={TOKEN}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["commands"][0]["id"], done["id"]);
}

#[tokio::test]
async fn erase_devices_overwrites_everything_and_refuses_a_no_op() {
    let root = FakeRoot::new();
    let vda = root.add_disk("vda", 3 * MIB + 512, false, "V");
    fill(&vda, 0x5A);
    let (base, _) = start(&root).await;
    let step = json!({"interface": "deploy", "step": "erase_devices", "args": {}});
    let nothing = json!({"step": step, "node": {"driver_internal_info": {
        "agent_erase_devices_iterations": 0, "agent_erase_devices_zeroize": false}}});
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "clean.execute_clean_step",
        nothing,
        true,
    )
    .await;
    assert_failed_with(&body, "erase nothing");
    let full = json!({"step": step, "node": {"driver_internal_info": {"agent_erase_devices_iterations": 1}}});
    let (_, body) = command(&base, Some(TOKEN), "clean.execute_clean_step", full, true).await;
    assert_eq!(body["command_status"], "SUCCEEDED", "{body}");
    assert_eq!(
        body["command_result"]["clean_result"]["bytes_written"]["/dev/vda"],
        json!(2 * (3 * MIB + 512))
    );
    assert!(std::fs::read(&vda).unwrap().iter().all(|b| *b == 0));
}

#[tokio::test]
async fn a_clean_step_for_another_manager_version_is_a_mismatch() {
    let root = FakeRoot::new();
    let (base, _) = start(&root).await;
    let params = json!({
        "step": {"interface": "deploy", "step": "erase_devices_metadata"},
        "clean_version": {"FerriteHardwareManager": "0.9"},
    });
    let (_, body) = command(&base, Some(TOKEN), "clean.execute_clean_step", params, true).await;
    assert_eq!(body["command_status"], "CLEAN_VERSION_MISMATCH");
    let unknown = json!({"step": {"interface": "raid", "step": "create_configuration"}});
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "clean.execute_clean_step",
        unknown,
        true,
    )
    .await;
    assert_eq!(body["command_status"], "FAILED");
}

fn image_params(url: &str) -> Value {
    json!({"image_info": {"urls": [url], "disk_format": "raw", "image_type": "whole-disk"}})
}

/// An MBR disk image with signature 0x11223344.
fn mbr_image(dir: &std::path::Path) -> std::path::PathBuf {
    let mut img = vec![0x42u8; 2 * MIB as usize];
    img[440..444].copy_from_slice(&0x1122_3344u32.to_le_bytes());
    img[446 + 4] = 0x83;
    img[510] = 0x55;
    img[511] = 0xaa;
    let path = dir.join("disk.img");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&img)
        .unwrap();
    path
}

#[tokio::test]
async fn write_image_goes_to_the_hinted_disk_then_partition_uuids_and_bootloader() {
    let root = FakeRoot::new();
    let vda = root.add_disk("vda", 8 * MIB, false, "V");
    let vdb = root.add_disk("vdb", 8 * MIB, false, "W");
    let image = mbr_image(root.path());
    let (a, _) = agent(&root, settings(), Arc::new(CopyWriter));
    a.adopt_lookup(
        uuid::Uuid::new_v4(),
        json!({"properties": {"root_device": {"serial": "W"}}}),
        None,
    );
    let base = serve(a).await;
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "standby.get_partition_uuids",
        json!({}),
        false,
    )
    .await;
    assert_eq!(body["command_status"], "FAILED", "nothing written yet");

    let url = format!("file://{}", image.display());
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "standby.write_image",
        image_params(&url),
        false,
    )
    .await;
    assert_eq!(body["command_status"], "RUNNING");
    let done = finished(&base, body["id"].as_str().unwrap()).await;
    assert_eq!(done["command_status"], "SUCCEEDED", "{done}");
    assert_eq!(done["command_result"]["disk"], "/dev/vdb");
    assert_eq!(
        read_at(&vdb, 0, 2 * MIB as usize),
        std::fs::read(&image).unwrap()
    );
    assert!(read_at(&vda, 0, 512).iter().all(|b| *b == 0));

    let (_, body) = command(
        &base,
        Some(TOKEN),
        "standby.get_partition_uuids",
        json!({}),
        false,
    )
    .await;
    assert_eq!(body["command_result"]["root uuid"], "0x11223344");
    assert_eq!(body["command_result"]["partition_table_type"], "msdos");

    let (_, body) = command(
        &base,
        Some(TOKEN),
        "image.install_bootloader",
        json!({"target_boot_mode": "uefi"}),
        true,
    )
    .await;
    assert_eq!(body["command_status"], "SUCCEEDED");
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "image.install_bootloader",
        json!({"root_uuid": "abc"}),
        true,
    )
    .await;
    assert_failed_with(&body, "whole-disk");
    assert_eq!(
        body["command_error"]["type"],
        "IncompatibleHardwareMethodError"
    );
}

#[tokio::test]
async fn write_image_as_a_deploy_step_and_its_refusals() {
    let root = FakeRoot::new();
    let vda = root.add_disk("vda", MIB, false, "V");
    fill(&vda, 0x77);
    let image = mbr_image(root.path());
    let (base, _) = start(&root).await;
    let url = format!("file://{}", image.display());
    let step = |args: Value| {
        json!({
            "step": {"interface": "deploy", "step": "write_image", "args": args},
            "node": {"properties": {"root_device": {"name": "vda"}}},
        })
    };
    // Larger than the disk: fails, and the disk's metadata is wiped.
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.execute_deploy_step",
        step(image_params(&url)),
        true,
    )
    .await;
    assert_failed_with(&body, "larger than the disk");
    assert!(read_at(&vda, 0, 512).iter().all(|b| *b == 0));
    let mut partition = image_params(&url);
    partition["image_info"]["image_type"] = json!("partition");
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.execute_deploy_step",
        step(partition),
        true,
    )
    .await;
    assert!(
        body["command_error"]["message"]
            .as_str()
            .unwrap()
            .contains("partition images")
    );
    let mut drive = image_params(&url);
    drive["configdrive"] = json!("H4sIAAAA");
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.execute_deploy_step",
        step(drive),
        true,
    )
    .await;
    assert!(
        body["command_error"]["message"]
            .as_str()
            .unwrap()
            .contains("config drive")
    );
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.execute_deploy_step",
        step(json!({})),
        true,
    )
    .await;
    assert_eq!(body["command_error"]["type"], "InvalidCommandParamsError");
}

#[tokio::test]
async fn standby_log_and_rescue_commands() {
    let root = FakeRoot::new();
    let (a, host) = agent(&root, settings(), Arc::new(CopyWriter));
    let base = serve(a.clone()).await;
    let (_, body) = command(&base, Some(TOKEN), "standby.sync", json!({}), false).await;
    assert_eq!(body["command_status"], "SUCCEEDED");
    let (_, body) = command(&base, Some(TOKEN), "standby.power_off", json!({}), false).await;
    finished(&base, body["id"].as_str().unwrap()).await;
    assert_eq!(*host.calls.lock().unwrap(), ["sync", "power_off"]);

    let (_, body) = command(
        &base,
        Some(TOKEN),
        "log.collect_system_logs",
        json!({}),
        false,
    )
    .await;
    use base64::Engine;
    let gz = base64::engine::general_purpose::STANDARD
        .decode(body["command_result"]["system_logs"].as_str().unwrap())
        .unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.path().unwrap().to_str(), Some("dmesg.log"));
    let mut text = String::new();
    entry.read_to_string(&mut text).unwrap();
    assert_eq!(text, "kernel says hi\n");

    let (_, body) = command(
        &base,
        Some(TOKEN),
        "rescue.finalize_rescue",
        json!({"rescue_password": "plain"}),
        false,
    )
    .await;
    assert_eq!(body["command_status"], "FAILED");
    let hash = "$6$salt$abcdef";
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "rescue.finalize_rescue",
        json!({"rescue_password": hash, "hashed": true}),
        false,
    )
    .await;
    assert_eq!(body["command_status"], "SUCCEEDED");
    assert_eq!(
        body["command_params"]["rescue_password"], "******",
        "never echoed"
    );
    assert!(
        host.calls
            .lock()
            .unwrap()
            .contains(&format!("rescue:{hash}"))
    );
    tokio::time::timeout(std::time::Duration::from_secs(5), a.stopped())
        .await
        .unwrap();
}

#[tokio::test]
async fn one_async_command_at_a_time() {
    let root = FakeRoot::new();
    let vda = root.add_disk("vda", 64 * MIB, false, "V");
    let (base, _) = start(&root).await;
    let step = json!({"step": {"interface": "deploy", "step": "erase_devices"}, "node": {}});
    let (_, first) = command(
        &base,
        Some(TOKEN),
        "clean.execute_clean_step",
        step.clone(),
        false,
    )
    .await;
    assert_eq!(first["command_status"], "RUNNING");
    let (code, body) = command(&base, Some(TOKEN), "clean.execute_clean_step", step, false).await;
    assert_eq!(code, 409);
    assert_eq!(body["type"], "AgentIsBusy");
    let done = finished(&base, first["id"].as_str().unwrap()).await;
    assert_eq!(done["command_status"], "SUCCEEDED");
    assert_eq!(std::fs::metadata(&vda).unwrap().len(), 64 * MIB);
}

/// The real writer (ferrite-images): streamed from a file URL, checksum
/// verified; a wrong checksum fails the step and leaves no bootable disk.
#[tokio::test]
async fn the_stream_writer_verifies_the_checksum() {
    use sha2::{Digest, Sha256};
    let root = FakeRoot::new();
    let vda = root.add_disk("vda", 8 * MIB, false, "V");
    let image = mbr_image(root.path());
    let bytes = std::fs::read(&image).unwrap();
    let sha = format!("{:x}", Sha256::digest(&bytes));
    let (a, _) = agent(
        &root,
        settings(),
        Arc::new(ferrite_agent::image::StreamWriter),
    );
    let base = serve(a).await;
    let url = format!("file://{}", image.display());
    let step = |os_hash: &str| {
        json!({
            "step": {"interface": "deploy", "step": "write_image", "args": {"image_info": {
                "urls": [url], "os_hash_algo": "sha256", "os_hash_value": os_hash,
                "image_type": "whole-disk", "disk_format": "raw"}}},
            "node": {"properties": {"root_device": {"name": "vda"}}},
        })
    };
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.execute_deploy_step",
        step(&sha),
        true,
    )
    .await;
    assert_eq!(body["command_status"], "SUCCEEDED", "{body}");
    let report = &body["command_result"]["deploy_result"]["image"];
    assert_eq!(report["bytes_written"], json!(bytes.len()));
    assert_eq!(report["verified"], true);
    assert_eq!(read_at(&vda, 0, bytes.len()), bytes);

    let wrong = "0".repeat(64);
    let (_, body) = command(
        &base,
        Some(TOKEN),
        "deploy.execute_deploy_step",
        step(&wrong),
        true,
    )
    .await;
    assert_eq!(body["command_status"], "FAILED");
    assert_eq!(body["command_error"]["type"], "ImageWriteError");
    assert!(
        read_at(&vda, 0, MIB as usize).iter().all(|b| *b == 0),
        "the disk cannot boot"
    );
}

/// Asserts that a finished command FAILED and that its error message says
/// `expected`.
fn assert_failed_with(body: &Value, expected: &str) {
    assert_eq!(body["command_status"], "FAILED", "{body}");
    let message = body["command_error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(expected), "{message}");
}
