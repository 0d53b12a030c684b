//! Deployments through the real agent, without virtual machines: the real
//! `ferrite serve` binary (fake power, `direct` deploy) and the real
//! `ferrite-agent` (in this process, over a fake machine whose disk is a
//! file), all on loopback. What users rely on: deploy writes the image
//! (raw, gzip, qcow2) and reaches `active`; bad images end in `deploy
//! failed` with a clear `last_error`; undeploy erases the disk through
//! cleaning; a poll-only agent is claimed and driven by the conductor
//! without calling the API.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ferrite_agent::Agent;
use ferrite_agent::config::{Config, Settings};
use ferrite_agent::error::AgentError;
use ferrite_agent::host::{Host, LogFile};
use ferrite_agent::image::StreamWriter;
use serde_json::{Value, json};

const MAC: &str = "52:54:00:aa:bb:01";
const DISK_BYTES: u64 = 64 << 20;
/// Generous bound for a state change on a loaded 2-core machine; a
/// deadline for failing, not a speed assertion.
const STATE_DEADLINE: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `ferrite serve` on two loopback ports; killed when dropped.
struct Site {
    child: Child,
    api: String,
    boot: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Site {
    async fn start() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let (api_port, boot_port) = (free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("ferrite.log")).expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrite"));
        for (key, _) in std::env::vars() {
            if key.starts_with("FERRITE_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .args(["serve", "--listen", &format!("127.0.0.1:{api_port}")])
            .args(["--boot-listen", &format!("127.0.0.1:{boot_port}")])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("FERRITE_CONDUCTOR_AGENT_POLL_INTERVAL", "0.2")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn ferrite");
        let site = Site {
            child,
            api: format!("http://127.0.0.1:{api_port}"),
            boot: format!("http://127.0.0.1:{boot_port}"),
            dir,
            http: reqwest::Client::new(),
        };
        for _ in 0..400 {
            if site
                .http
                .get(format!("{}/v1", site.api))
                .send()
                .await
                .is_ok()
            {
                return site;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("ferrite did not answer; log:\n{}", site.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ferrite.log")).unwrap_or_default()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("X-OpenStack-Ironic-API-Version", "latest");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("API request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn node(&self, uuid: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/nodes/{uuid}"), None)
            .await
            .1
    }

    /// A `direct` node on fake hardware with one port, `manageable`.
    async fn enroll(&self, driver_info: Value) -> String {
        let (status, node) = self
            .call(
                reqwest::Method::POST,
                "/v1/nodes",
                Some(json!({
                    "driver": "fake-hardware",
                    "deploy_interface": "direct",
                    "driver_info": driver_info,
                    "properties": {"root_device": {"name": "vda"}},
                })),
            )
            .await;
        assert_eq!(status, 201, "{node}");
        let uuid = node["uuid"].as_str().expect("uuid").to_string();
        let (status, port) = self
            .call(
                reqwest::Method::POST,
                "/v1/ports",
                Some(json!({"node_uuid": uuid, "address": MAC})),
            )
            .await;
        assert_eq!(status, 201, "{port}");
        self.provision(&uuid, json!({"target": "manage"})).await;
        self.wait_for(&uuid, "manageable").await;
        uuid
    }

    async fn provision(&self, uuid: &str, body: Value) {
        let (status, answer) = self
            .call(
                reqwest::Method::PUT,
                &format!("/v1/nodes/{uuid}/states/provision"),
                Some(body),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
    }

    async fn set_instance_info(&self, uuid: &str, info: Value) {
        let ops: Vec<Value> = info
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| json!({"op": "add", "path": format!("/instance_info/{k}"), "value": v}))
            .collect();
        let (status, answer) = self
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/nodes/{uuid}"),
                Some(Value::Array(ops)),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    /// Waits for `state`; panics with the node and the log on a failure
    /// state or the deadline.
    async fn wait_for(&self, uuid: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + STATE_DEADLINE;
        loop {
            let node = self.node(uuid).await;
            let now = node["provision_state"].as_str().unwrap_or_default();
            if now == state {
                return node;
            }
            let failed = now.ends_with("failed") && !state.ends_with("failed");
            if failed || tokio::time::Instant::now() > deadline {
                panic!(
                    "waiting for {state}, node is {node:#}\nlog:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The machine: a root tree with one NIC and one disk file.
struct Machine {
    root: tempfile::TempDir,
}

fn put(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

impl Machine {
    fn new() -> Machine {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        put(
            &r.join("proc/cpuinfo"),
            "processor\t: 0\nmodel name\t: QEMU\n",
        );
        put(&r.join("proc/meminfo"), "MemTotal:        2000000 kB\n");
        put(&r.join("sys/class/net/eth0/address"), &format!("{MAC}\n"));
        put(&r.join("sys/class/net/eth0/carrier"), "1\n");
        std::fs::create_dir_all(r.join("sys/class/net/eth0/device")).expect("nic");
        let block = r.join("sys/block/vda");
        put(&block.join("size"), &format!("{}\n", DISK_BYTES / 512));
        put(&block.join("queue/rotational"), "0\n");
        put(&block.join("device/model"), "QEMU HARDDISK\n");
        std::fs::create_dir_all(r.join("dev")).expect("dev");
        let disk = std::fs::File::create(r.join("dev/vda")).expect("disk");
        disk.set_len(DISK_BYTES).expect("disk size");
        Machine { root }
    }

    fn disk(&self) -> PathBuf {
        self.root.path().join("dev/vda")
    }

    fn disk_start(&self, n: usize) -> Vec<u8> {
        let bytes = std::fs::read(self.disk()).expect("read disk");
        bytes[..n].to_vec()
    }

    /// "Boots the ramdisk": a fresh agent over this machine, calling back
    /// to `api` (or poll-only when `None`) on a free loopback port.
    async fn boot(&self, api: Option<&str>) -> (Arc<Agent>, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind agent");
        let port = listener.local_addr().expect("addr").port();
        let settings = Settings {
            api_url: api.map(str::to_string),
            advertise_host: Some("127.0.0.1".into()),
            listen_port: Some(port),
            poll_only: api.is_none().then_some(true),
            ..Settings::default()
        };
        let config = Config::resolve(settings, self.root.path().to_path_buf()).expect("config");
        let agent = Agent::new(config, Arc::new(NoHost), Arc::new(StreamWriter));
        let running = agent.clone();
        tokio::spawn(async move { ferrite_agent::run(running, listener).await });
        (agent, port)
    }
}

/// The agent's view of the host: nothing to power off in a test.
struct NoHost;

impl Host for NoHost {
    fn power_off(&self) -> Result<(), AgentError> {
        Ok(())
    }
    fn sync(&self) -> Result<(), AgentError> {
        Ok(())
    }
    fn logs(&self) -> Vec<LogFile> {
        Vec::new()
    }
    fn set_rescue_password(&self, _hash: &str) -> Result<(), AgentError> {
        Ok(())
    }
}

/// A 4 MiB raw image beginning with a marker; its path and sha256.
fn raw_image(dir: &Path, size: usize) -> (PathBuf, String) {
    let mut bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    bytes[..16].copy_from_slice(b"FERRITE-IMAGE-01");
    let path = dir.join(format!("image-{size}.raw"));
    std::fs::write(&path, &bytes).expect("write image");
    (path, sha256_of(&bytes))
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

fn file_sha256(path: &Path) -> String {
    sha256_of(&std::fs::read(path).expect("read"))
}

fn run(cmd: &mut Command) {
    let status = cmd.status().expect("run tool");
    assert!(status.success(), "{cmd:?} failed");
}

/// Deploys `source` (with its sha256) and checks the outcome: `Ok` with
/// the node active, or `Err(last_error)` with the node in deploy failed.
async fn deploy(
    site: &Site,
    machine: &Machine,
    uuid: &str,
    source: &Path,
    sha: &str,
) -> Result<Value, String> {
    site.set_instance_info(
        uuid,
        json!({"image_source": format!("file://{}", source.display()),
               "image_os_hash_algo": "sha256", "image_os_hash_value": sha}),
    )
    .await;
    site.provision(uuid, json!({"target": "active"})).await;
    site.wait_for(uuid, "wait call-back").await;
    let (agent, _) = machine.boot(Some(&site.boot)).await;
    let deadline = tokio::time::Instant::now() + STATE_DEADLINE;
    let outcome = loop {
        let node = site.node(uuid).await;
        match node["provision_state"].as_str() {
            Some("active") => break Ok(node),
            Some("deploy failed") => {
                break Err(node["last_error"].as_str().unwrap_or("").to_string());
            }
            _ if tokio::time::Instant::now() > deadline => {
                panic!("deploy stuck: {node:#}\n{}", site.log())
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    agent.stop();
    outcome
}

/// Undeploys (or cleans a failed deploy) through cleaning with the agent.
async fn undeploy(site: &Site, machine: &Machine, uuid: &str) {
    site.provision(uuid, json!({"target": "deleted"})).await;
    site.wait_for(uuid, "clean wait").await;
    let (agent, _) = machine.boot(Some(&site.boot)).await;
    site.wait_for(uuid, "available").await;
    agent.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_deploys_write_raw_gzip_and_qcow2_images_and_cleaning_erases_them() {
    let site = Site::start().await;
    let machine = Machine::new();
    let uuid = site.enroll(json!({})).await;

    // provide: automated cleaning boots the agent and erases metadata.
    std::fs::write(machine.disk(), b"OLD-DATA").expect("old data");
    std::fs::OpenOptions::new()
        .write(true)
        .open(machine.disk())
        .and_then(|f| f.set_len(DISK_BYTES))
        .expect("disk");
    site.provision(&uuid, json!({"target": "provide"})).await;
    let node = site.wait_for(&uuid, "clean wait").await;
    assert_eq!(node["clean_step"]["step"], "boot_agent", "{node:#}");
    let (agent, _) = machine.boot(Some(&site.boot)).await;
    let node = site.wait_for(&uuid, "available").await;
    agent.stop();
    assert_eq!(machine.disk_start(8), vec![0; 8], "metadata erased");
    let steps: Vec<&str> = node["driver_internal_info"]["clean_steps"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["step"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        steps,
        ["boot_agent", "erase_devices_metadata", "tear_down_agent"]
    );

    let images = tempfile::tempdir().expect("images");
    let (raw, raw_sha) = raw_image(images.path(), 4 << 20);

    // raw
    let node = deploy(&site, &machine, &uuid, &raw, &raw_sha)
        .await
        .expect("raw deploy");
    assert_eq!(machine.disk_start(16), b"FERRITE-IMAGE-01");
    let order: Vec<&str> = node["driver_internal_info"]["deploy_steps"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["step"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        order,
        [
            "deploy",
            "write_image",
            "prepare_instance_boot",
            "tear_down_agent",
            "switch_to_tenant_network",
            "boot_instance"
        ]
    );
    assert_eq!(node["power_state"], "power on");
    undeploy(&site, &machine, &uuid).await;
    assert_eq!(
        machine.disk_start(16),
        vec![0; 16],
        "undeploy erased the image"
    );

    // gzip-compressed raw, decompressed by the agent on the way.
    run(Command::new("gzip").arg("-k").arg(&raw));
    let gz = raw.with_extension("raw.gz");
    deploy(&site, &machine, &uuid, &gz, &file_sha256(&gz))
        .await
        .expect("gzip deploy");
    assert_eq!(machine.disk_start(16), b"FERRITE-IMAGE-01");
    undeploy(&site, &machine, &uuid).await;

    // qcow2, converted once on the conductor and served from the cache.
    let qcow = images.path().join("image.qcow2");
    run(Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow));
    deploy(&site, &machine, &uuid, &qcow, &file_sha256(&qcow))
        .await
        .expect("qcow2 deploy");
    let written = std::fs::read(machine.disk()).expect("disk");
    assert_eq!(
        sha256_of(&written[..4 << 20]),
        raw_sha,
        "the qcow2's content is on the disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_images_fail_the_deploy_with_a_clear_error() {
    let site = Site::start().await;
    let machine = Machine::new();
    let uuid = site.enroll(json!({})).await;
    site.call(
        reqwest::Method::PATCH,
        &format!("/v1/nodes/{uuid}"),
        Some(json!([{"op": "add", "path": "/automated_clean", "value": false}])),
    )
    .await;
    site.provision(&uuid, json!({"target": "provide"})).await;
    site.wait_for(&uuid, "available").await;
    let images = tempfile::tempdir().expect("images");
    let (raw, _) = raw_image(images.path(), 1 << 20);

    let wrong = "0".repeat(64);
    let e = deploy(&site, &machine, &uuid, &raw, &wrong)
        .await
        .expect_err("wrong checksum");
    eprintln!("last_error: {e}");
    assert!(
        e.contains("write_image") && e.to_lowercase().contains("checksum"),
        "{e}"
    );
    assert_eq!(machine.disk_start(4), vec![0; 4], "nothing written");

    // A truncated download: half the image against the whole image's
    // checksum, over a disk that held a bootable image before.
    std::fs::write(machine.disk(), b"FERRITE-IMAGE-00").expect("old image");
    std::fs::OpenOptions::new()
        .write(true)
        .open(machine.disk())
        .and_then(|f| f.set_len(DISK_BYTES))
        .expect("disk");
    let whole = std::fs::read(&raw).expect("raw");
    let half = images.path().join("half.raw");
    std::fs::write(&half, &whole[..whole.len() / 2]).expect("half");
    let e = deploy(&site, &machine, &uuid, &half, &sha256_of(&whole))
        .await
        .expect_err("truncated");
    eprintln!("last_error: {e}");
    assert!(e.contains("checksum"), "{e}");
    assert_eq!(
        machine.disk_start(16),
        vec![0; 16],
        "the old image was wiped"
    );

    let corrupt = images.path().join("corrupt.qcow2");
    let mut bytes = b"QFI\xfb\x00\x00\x00\x03".to_vec();
    bytes.extend(std::iter::repeat_n(0xffu8, 4096));
    std::fs::write(&corrupt, &bytes).expect("corrupt");
    let e = deploy(&site, &machine, &uuid, &corrupt, &sha256_of(&bytes))
        .await
        .expect_err("corrupt qcow2");
    eprintln!("last_error: {e}");
    assert!(e.contains("write_image"), "{e}");

    let (big, big_sha) = raw_image(images.path(), (DISK_BYTES + (1 << 20)) as usize);
    let e = deploy(&site, &machine, &uuid, &big, &big_sha)
        .await
        .expect_err("too large");
    eprintln!("last_error: {e}");
    assert!(
        e.contains("write_image")
            && (e.contains("large") || e.contains("capacity") || e.contains("bytes")),
        "{e}"
    );
    assert_ne!(
        machine.disk_start(16),
        b"FERRITE-IMAGE-01",
        "a half-written image cannot boot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_only_agent_is_claimed_and_driven_without_calling_the_api() {
    let site = Site::start().await;
    let machine = Machine::new();
    // The poll-only agent listens before the node is deployed; it has no
    // API URL at all, so it cannot call the API.
    let (agent, port) = machine.boot(None).await;
    let uuid = site
        .enroll(json!({"agent_poll_only": true, "agent_address": format!("127.0.0.1:{port}")}))
        .await;
    site.call(
        reqwest::Method::PATCH,
        &format!("/v1/nodes/{uuid}"),
        Some(json!([{"op": "add", "path": "/automated_clean", "value": false}])),
    )
    .await;
    site.provision(&uuid, json!({"target": "provide"})).await;
    site.wait_for(&uuid, "available").await;
    let images = tempfile::tempdir().expect("images");
    let (raw, sha) = raw_image(images.path(), 1 << 20);
    // A deploy template named by an instance trait adds an agent step.
    let (status, answer) = site
        .call(
            reqwest::Method::POST,
            "/v1/deploy_templates",
            Some(json!({"name": "CUSTOM_WIPE_FIRST", "steps": [
                {"interface": "deploy", "step": "erase_devices_metadata", "args": {}, "priority": 90}
            ]})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    site.set_instance_info(
        &uuid,
        json!({"image_source": format!("file://{}", raw.display()),
               "image_os_hash_algo": "sha256", "image_os_hash_value": sha,
               "traits": ["CUSTOM_WIPE_FIRST"]}),
    )
    .await;
    site.provision(&uuid, json!({"target": "active"})).await;
    let node = site.wait_for(&uuid, "active").await;
    assert_eq!(machine.disk_start(16), b"FERRITE-IMAGE-01");
    let order: Vec<String> = node["driver_internal_info"]["deploy_steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| format!("{}:{}", s["step"].as_str().unwrap_or("?"), s["priority"]))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        order[..3],
        ["deploy:100", "erase_devices_metadata:90", "write_image:80"],
        "{order:?}"
    );
    let status: Value = reqwest::get(format!("http://127.0.0.1:{port}/v1/status"))
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["claimed"], true, "{status}");
    assert_eq!(status["node_uuid"], uuid.as_str());
    agent.stop();
}
