//! Test harness: the real sushy-tools Redfish emulator (`--fake` driver),
//! installed from PyPI into a cached virtualenv, one emulator process per
//! test on a free loopback port, stopped by its PID when the test ends.
//!
//! Anything that keeps the emulator from starting makes the test fail
//! (never skip): a BMC test that silently did not run proves nothing.

#![allow(dead_code)]

pub mod ipmi_sim;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ferrite_drivers::{Driver, FakeDelays};
use ferrite_model::Node;
use serde_json::{Value, json};

/// The pinned emulator version.
pub const SUSHY_TOOLS: &str = "sushy-tools==2.2.0";

/// Fake systems every emulator serves.
pub const SYSTEMS: usize = 8;

/// The BMC password tests use; it must never show up in an error.
pub const PASSWORD: &str = "Zq7-very-secret-pw";

/// The BMC user tests use.
pub const USERNAME: &str = "admin";

fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/ferrite-test")
}

/// The virtualenv holding sushy-tools.
pub fn venv() -> PathBuf {
    cache_dir().join("sushy-venv")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates the virtualenv with the pinned sushy-tools unless it is there,
/// under a lock directory so parallel test binaries install it once.
pub fn ensure_sushy() -> PathBuf {
    let venv = venv();
    let ready = venv.join(".ferrite-ready");
    let expected = SUSHY_TOOLS.to_string();
    if std::fs::read_to_string(&ready).is_ok_and(|s| s.trim() == expected) {
        return venv;
    }
    let _ = std::fs::create_dir_all(cache_dir());
    let lock = cache_dir().join("sushy-venv.lock");
    let start = Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        if std::fs::read_to_string(&ready).is_ok_and(|s| s.trim() == expected) {
            return venv;
        }
        if start.elapsed() > Duration::from_secs(600) {
            // A crashed installer left its lock behind.
            let _ = std::fs::remove_dir(&lock);
        }
        thread::sleep(Duration::from_millis(500));
    }
    let result = std::panic::catch_unwind(|| {
        if !std::fs::read_to_string(&ready).is_ok_and(|s| s.trim() == expected) {
            let _ = std::fs::remove_dir_all(&venv);
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            );
            run(
                Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .arg(SUSHY_TOOLS),
                "pip install sushy-tools",
            );
            std::fs::write(&ready, &expected).unwrap_or_else(|e| panic!("write marker: {e}"));
        }
    });
    let _ = std::fs::remove_dir(&lock);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    venv
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The UUID of fake system `i` (stable, so tests can name them).
pub fn system_uuid(i: usize) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        0xfe77_0000u32 + i as u32,
        i
    )
}

/// The MAC of NIC `n` of system `i`.
pub fn mac(i: usize, n: usize) -> String {
    format!("52:54:00:fe:{i:02x}:{n:02x}")
}

/// A running emulator.
pub struct Sushy {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    dir: PathBuf,
    /// Whether it demands basic authentication.
    pub with_auth: bool,
}

fn python_systems() -> String {
    let mut out = String::from("[\n");
    for i in 0..SYSTEMS {
        out.push_str(&format!(
            "    {{'uuid': '{}', 'name': 'node-{i}', 'power_state': 'Off', \
             'external_notifier': False, 'nics': [{{'mac': '{}', 'ip': '127.0.1.{}'}}, \
             {{'mac': '{}', 'ip': '127.0.2.{}'}}]}},\n",
            system_uuid(i),
            mac(i, 0),
            i + 1,
            mac(i, 1),
            i + 1
        ));
    }
    out.push(']');
    out
}

fn python_storage() -> (String, String) {
    let mut storage = String::from("{\n");
    let mut drives = String::from("{\n");
    for i in 0..SYSTEMS {
        let uuid = system_uuid(i);
        storage.push_str(&format!(
            "    '{uuid}': [{{'Id': '1', 'Name': 'Local Storage Controller', \
             'StorageControllers': [{{'MemberId': '0', 'Name': 'RAID', 'SpeedGbps': 12}}], \
             'Drives': ['disk-a', 'disk-b']}}],\n"
        ));
        drives.push_str(&format!(
            "    ('{uuid}', '1'): [\
             {{'Id': 'disk-a', 'Name': 'Drive A', 'CapacityBytes': {}, 'Protocol': 'SAS'}}, \
             {{'Id': 'disk-b', 'Name': 'Drive B', 'CapacityBytes': {}, 'Protocol': 'SATA'}}],\n",
            100u64 << 30,
            500u64 << 30
        ));
    }
    storage.push('}');
    drives.push('}');
    (storage, drives)
}

impl Sushy {
    /// Starts an emulator without authentication.
    pub fn start() -> Sushy {
        Sushy::launch(false)
    }

    /// Starts an emulator that demands basic auth as [`USERNAME`] /
    /// [`PASSWORD`].
    pub fn start_with_auth() -> Sushy {
        Sushy::launch(true)
    }

    fn launch(with_auth: bool) -> Sushy {
        let venv = ensure_sushy();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ferrite-sushy-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let (storage, drives) = python_storage();
        let mut config = format!(
            "SUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
             SUSHY_EMULATOR_STATE_DIR = '{}'\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = {}\n\
             SUSHY_EMULATOR_STORAGE = {storage}\n\
             SUSHY_EMULATOR_DRIVES = {drives}\n",
            dir.join("state").display(),
            python_systems(),
        );
        if with_auth {
            let hash = Command::new(venv.join("bin/python"))
                .args([
                    "-c",
                    "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), \
                     bcrypt.gensalt(4)).decode())",
                    PASSWORD,
                ])
                .output()
                .unwrap_or_else(|e| panic!("bcrypt: {e}"));
            assert!(hash.status.success(), "bcrypt failed");
            let line = format!(
                "{USERNAME}:{}",
                String::from_utf8_lossy(&hash.stdout).trim()
            );
            let auth = dir.join("htpasswd");
            std::fs::write(&auth, line + "\n").unwrap_or_else(|e| panic!("htpasswd: {e}"));
            config.push_str(&format!(
                "SUSHY_EMULATOR_AUTH_FILE = '{}'\n",
                auth.display()
            ));
        }
        let config_file = dir.join("emulator.conf");
        std::fs::write(&config_file, config).unwrap_or_else(|e| panic!("config: {e}"));
        let port = free_port();
        let log = std::fs::File::create(dir.join("emulator.log"))
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(venv.join("bin/sushy-emulator"))
            .arg("--config")
            .arg(&config_file)
            .args(["--interface", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sushy-emulator: {e}"));
        let mut sushy = Sushy {
            child,
            address: format!("http://127.0.0.1:{port}"),
            dir,
            with_auth,
        };
        sushy.wait_ready(port);
        sushy
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("emulator.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sushy-emulator exited with {status}:\n{}", self.log());
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let request = "GET /redfish/v1/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.starts_with("HTTP/1.")
                    && answer.contains(" 200 ")
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sushy-emulator not ready after 60 s:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// A `redfish` node for fake system `i` (credentials when the emulator
    /// demands them).
    pub fn node(&self, i: usize) -> Node {
        let mut info = json!({
            "redfish_address": self.address,
            "redfish_system_id": format!("/redfish/v1/Systems/{}", system_uuid(i)),
        });
        if self.with_auth {
            info["redfish_username"] = json!(USERNAME);
            info["redfish_password"] = json!(PASSWORD);
            info["redfish_auth_type"] = json!("basic");
        }
        node_with(info)
    }
}

impl Drop for Sushy {
    fn drop(&mut self) {
        // Stopped by its own PID, never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redfish` node with this `driver_info`.
pub fn node_with(info: Value) -> Node {
    let Value::Object(map) = info else {
        panic!("driver_info must be an object")
    };
    Node {
        uuid: uuid::Uuid::new_v4(),
        driver: "redfish".into(),
        driver_info: map,
        ..Node::default()
    }
}

/// The node's driver, built through the registry like the conductor does.
pub fn driver(node: &Node) -> Driver {
    match Driver::build(node, &FakeDelays::default()) {
        Ok(d) => d,
        Err(e) => panic!("cannot build the redfish driver: {e}"),
    }
}

/// A tiny HTTP server on 127.0.0.1 that answers every GET with a few
/// bytes: the emulator downloads virtual media images from it.
pub fn image_server() -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"))
        .port();
    let handle = thread::spawn(move || {
        // Bounded: a handful of downloads per test, then it stops.
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = b"not really an ISO";
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    (format!("http://127.0.0.1:{port}"), handle)
}

/// Where the emulator keeps nothing: a loopback port nobody listens on.
pub fn dead_address() -> String {
    format!("http://127.0.0.1:{}", free_port())
}
