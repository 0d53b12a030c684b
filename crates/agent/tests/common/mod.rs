//! A fake machine for the agent: a root directory with `/proc`, `/sys`
//! and `/dev` (disks are sparse files), an agent over it with a recording
//! host and a file-copying image writer, and its API on a loopback port.

#![allow(dead_code)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferrite_agent::Agent;
use ferrite_agent::config::{Config, Settings};
use ferrite_agent::error::AgentError;
use ferrite_agent::host::{Host, LogFile};
use ferrite_agent::image::{ImageRequest, ImageWriter};
use serde_json::{Value, json};

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A fake machine's root directory.
pub struct FakeRoot {
    pub dir: tempfile::TempDir,
}

fn put(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

impl FakeRoot {
    /// Two CPUs, 2 GiB of memory in 16 128-MiB blocks, DMI, UEFI, one NIC
    /// and one loopback.
    pub fn new() -> FakeRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = FakeRoot { dir };
        let r = root.path();
        put(
            &r.join("proc/cpuinfo"),
            "processor\t: 0\nphysical id\t: 0\nmodel name\t: QEMU Virtual CPU\ncpu MHz\t\t: 2399.998\n\n\
             processor\t: 1\nphysical id\t: 0\nmodel name\t: QEMU Virtual CPU\n",
        );
        put(
            &r.join("proc/meminfo"),
            "MemTotal:        2000000 kB\nMemFree: 1 kB\n",
        );
        put(
            &r.join("sys/devices/system/memory/block_size_bytes"),
            "8000000\n",
        );
        for i in 0..16 {
            put(
                &r.join(format!("sys/devices/system/memory/memory{i}/state")),
                "online\n",
            );
        }
        put(
            &r.join("sys/devices/system/memory/memory99/state"),
            "offline\n",
        );
        let dmi = r.join("sys/class/dmi/id");
        put(&dmi.join("sys_vendor"), "QEMU\n");
        put(
            &dmi.join("product_name"),
            "Standard PC (Q35 + ICH9, 2009)\n",
        );
        put(&dmi.join("product_serial"), "SN-1\n");
        std::fs::create_dir_all(r.join("sys/firmware/efi")).unwrap();
        root.add_nic("eth0", "52:54:00:12:34:56", true);
        put(&r.join("sys/class/net/lo/address"), "00:00:00:00:00:00\n");
        root
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn add_nic(&self, name: &str, mac: &str, up: bool) {
        let dir = self.path().join("sys/class/net").join(name);
        put(&dir.join("address"), &format!("{mac}\n"));
        put(&dir.join("speed"), "1000\n");
        put(&dir.join("carrier"), if up { "1\n" } else { "0\n" });
        std::fs::create_dir_all(dir.join("device")).unwrap();
    }

    /// A disk of `size` bytes: its /sys entry and a sparse file at
    /// /dev/<name>.
    pub fn add_disk(&self, name: &str, size: u64, rotational: bool, serial: &str) -> PathBuf {
        let dir = self.path().join("sys/block").join(name);
        put(&dir.join("size"), &format!("{}\n", size / 512));
        put(
            &dir.join("queue/rotational"),
            if rotational { "1\n" } else { "0\n" },
        );
        put(&dir.join("device/model"), "QEMU HARDDISK   \n");
        put(&dir.join("device/vendor"), "ATA\n");
        put(&dir.join("device/serial"), &format!("{serial}\n"));
        put(&dir.join("wwid"), &format!("naa.5000c500{serial}\n"));
        let dev = self.path().join("dev").join(name);
        std::fs::create_dir_all(dev.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&dev).unwrap();
        f.set_len(size).unwrap();
        dev
    }

    pub fn add_by_path(&self, link: &str, name: &str) {
        let dir = self.path().join("dev/disk/by-path");
        std::fs::create_dir_all(&dir).unwrap();
        symlink(format!("../../{name}"), dir.join(link)).unwrap();
    }
}

/// Records what commands asked of the machine.
#[derive(Default)]
pub struct FakeHost {
    pub calls: Mutex<Vec<String>>,
}

impl Host for FakeHost {
    fn power_off(&self) -> Result<(), AgentError> {
        self.calls.lock().unwrap().push("power_off".into());
        Ok(())
    }
    fn sync(&self) -> Result<(), AgentError> {
        self.calls.lock().unwrap().push("sync".into());
        Ok(())
    }
    fn logs(&self) -> Vec<LogFile> {
        vec![("dmesg.log".into(), b"kernel says hi\n".to_vec())]
    }
    fn set_rescue_password(&self, hash: &str) -> Result<(), AgentError> {
        self.calls.lock().unwrap().push(format!("rescue:{hash}"));
        Ok(())
    }
}

/// Copies a `file://` image onto the disk, refusing one larger than it.
pub struct CopyWriter;

#[async_trait]
impl ImageWriter for CopyWriter {
    async fn write(
        &self,
        image: &ImageRequest,
        disk: &Path,
        capacity: u64,
    ) -> Result<Value, AgentError> {
        let src = image.url.strip_prefix("file://").unwrap_or(&image.url);
        let bytes = std::fs::read(src).map_err(|e| AgentError::io(src.to_string(), e))?;
        if bytes.len() as u64 > capacity {
            return Err(AgentError::Image(
                "the image is larger than the disk".into(),
            ));
        }
        let mut f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
        std::io::Write::write_all(&mut f, &bytes).unwrap();
        Ok(json!({"bytes_written": bytes.len()}))
    }
}

/// An agent over `root` with the given settings layered on a poll-only or
/// callback base.
pub fn agent(
    root: &FakeRoot,
    settings: Settings,
    writer: Arc<dyn ImageWriter>,
) -> (Arc<Agent>, Arc<FakeHost>) {
    let config = Config::resolve(settings, root.path().to_path_buf()).unwrap();
    let host = Arc::new(FakeHost::default());
    (Agent::new(config, host.clone(), writer), host)
}

/// Serves `agent` on a free loopback port; its base URL.
pub async fn serve(agent: Arc<Agent>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, ferrite_agent::server::router(agent))
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

/// Posts a command; status and body.
pub async fn command(
    base: &str,
    token: Option<&str>,
    name: &str,
    params: Value,
    wait: bool,
) -> (u16, Value) {
    let mut url = format!("{base}/v1/commands/?wait={wait}");
    if let Some(t) = token {
        url.push_str(&format!("&agent_token={t}"));
    }
    let r = reqwest::Client::new()
        .post(url)
        .json(&json!({"name": name, "params": params}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Polls a command until it leaves RUNNING.
pub async fn finished(base: &str, id: &str) -> Value {
    let url = format!("{base}/v1/commands/{id}?wait=true&agent_token={TOKEN}");
    reqwest::get(url).await.unwrap().json().await.unwrap()
}
