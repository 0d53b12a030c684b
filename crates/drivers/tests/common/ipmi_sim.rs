//! Test harness: OpenIPMI's `ipmi_sim` (a real IPMI LAN BMC, Debian
//! package `openipmi`) on a free UDP port of 127.0.0.1, one simulator
//! process per test, stopped by its PID when the test ends.
//!
//! Power and boot device are handled by a chassis-control shell script
//! that `ipmi_sim` runs for each chassis request; it keeps the state in
//! files of the simulator's temporary directory and logs every call, so
//! tests can see what reached the "hardware". Soft power off takes one
//! second, like an OS shutting down, so waiting is exercised.
//!
//! If ipmitool or ipmi_sim is missing, `scripts/install-ipmi-tools.sh` is
//! run; if the simulator still cannot start, the test fails (never skips).

use std::net::UdpSocket;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ferrite_model::Node;
use serde_json::{Value, json};

/// The administrator the simulator knows.
pub const IPMI_USER: &str = "admin";

/// Its password; it must never show up in an error or on a command line.
/// 16 bytes, the most IPMI 1.5 allows, so both protocols can use it.
pub const IPMI_PASSWORD: &str = "Sim-pw-3377-okay";

/// A user limited to the USER privilege (cannot change power).
pub const IPMI_VIEWER: &str = "viewer";

/// The viewer's password.
pub const IPMI_VIEWER_PASSWORD: &str = "Viewer-pw-5512";

const CHASSIS_SCRIPT: &str = r#"#!/bin/sh
# ipmi_sim chassis control: <device> get|set [parm [val]]...
dir="$(dirname "$0")"
echo "$*" >> "$dir/calls.log"
shift
op="$1"
shift
case "$op" in
get)
  for p in "$@"; do
    case "$p" in
      power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)" ;;
      boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)" ;;
      *) echo "Invalid parameter: $p"; exit 1 ;;
    esac
  done ;;
set)
  while [ $# -ge 2 ]; do
    case "$1" in
      power) echo "$2" > "$dir/power" ;;
      reset) : ;;
      boot) echo "$2" > "$dir/boot" ;;
      shutdown) (sleep 1; echo 0 > "$dir/power") </dev/null >/dev/null 2>&1 & ;;
      identify) shift ;;
      *) echo "Invalid parameter: $1"; exit 1 ;;
    esac
    shift 2
  done ;;
*) echo "Unknown operation: $op"; exit 1 ;;
esac
"#;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Makes sure ipmitool and ipmi_sim are installed, running the install
/// script once (under a lock directory, as test processes run in
/// parallel) when they are not.
pub fn ensure_tools() {
    if on_path("ipmitool") && on_path("ipmi_sim") {
        return;
    }
    let lock = std::env::temp_dir().join("ferrite-ipmi-install.lock");
    let start = Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        if on_path("ipmitool") && on_path("ipmi_sim") {
            return;
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = std::fs::remove_dir(&lock);
        }
        thread::sleep(Duration::from_millis(500));
    }
    let script = repo_root().join("scripts/install-ipmi-tools.sh");
    let out = Command::new("bash").arg(&script).output();
    let _ = std::fs::remove_dir(&lock);
    let ok = on_path("ipmitool") && on_path("ipmi_sim");
    assert!(
        ok,
        "ipmitool and ipmi_sim (Debian packages ipmitool, openipmi) are needed by the ipmi \
         tests and {} could not install them: {:?}",
        script.display(),
        out.map(|o| format!(
            "{}\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    );
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    socket
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port()
}

fn write_private(path: &Path, contents: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::io::Write::write_all(&mut f, contents.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A running simulator.
pub struct IpmiSim {
    child: Child,
    /// Its UDP port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
}

impl IpmiSim {
    /// Starts a simulator with the chassis powered off.
    pub fn start() -> IpmiSim {
        ensure_tools();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ferrite-ipmisim-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let script = dir.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SCRIPT).unwrap_or_else(|e| panic!("script: {e}"));
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod: {e}"));
        std::fs::write(dir.join("power"), "0\n").unwrap_or_else(|e| panic!("power: {e}"));
        let port = free_udp_port();
        let lan_conf = format!(
            "name \"ferrite\"\n\
             set_working_mc 0x20\n\
             startlan 1\n\
             \x20 addr 127.0.0.1 {port}\n\
             \x20 priv_limit admin\n\
             \x20 allowed_auths_callback md5\n\
             \x20 allowed_auths_user md5\n\
             \x20 allowed_auths_operator md5\n\
             \x20 allowed_auths_admin md5\n\
             \x20 guid a123456789abcdefa123456789abcdef\n\
             endlan\n\
             chassis_control \"{} 0x20\"\n\
             user 2 true \"{IPMI_USER}\" \"{IPMI_PASSWORD}\" admin 10 md5\n\
             user 3 true \"{IPMI_VIEWER}\" \"{IPMI_VIEWER_PASSWORD}\" user 10 md5\n",
            script.display()
        );
        write_private(&dir.join("lan.conf"), &lan_conf);
        // One BMC at IPMB 0x20 with chassis device support (0x9f).
        std::fs::write(
            dir.join("sim.emu"),
            "mc_setbmc 0x20\n\
             mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n\
             mc_enable 0x20\n",
        )
        .unwrap_or_else(|e| panic!("emu: {e}"));
        write_private(&dir.join("probe.pw"), IPMI_PASSWORD);
        let log = std::fs::File::create(dir.join("sim.log")).unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("sim.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ipmi_sim: {e}"));
        let mut sim = IpmiSim { child, port, dir };
        sim.wait_ready();
        sim
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ipmi_sim exited with {status}:\n{}",
                    std::fs::read_to_string(self.dir.join("sim.log")).unwrap_or_default()
                );
            }
            let probe = Command::new("ipmitool")
                .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .args(["-U", IPMI_USER, "-f"])
                .arg(self.dir.join("probe.pw"))
                .args(["-N", "1", "-R", "1", "chassis", "power", "status"])
                .stdin(Stdio::null())
                .output();
            if let Ok(out) = &probe
                && String::from_utf8_lossy(&out.stdout).contains("Chassis Power is")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ipmi_sim on 127.0.0.1:{} not answering after 30 s: {probe:?}\n{}",
                self.port,
                std::fs::read_to_string(self.dir.join("sim.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `driver_info` of the simulated node (administrator, cipher
    /// suite 3, which ipmi_sim implements; it cannot list its suites).
    pub fn driver_info(&self) -> Value {
        json!({
            "ipmi_address": "127.0.0.1",
            "ipmi_port": self.port,
            "ipmi_username": IPMI_USER,
            "ipmi_password": IPMI_PASSWORD,
            "ipmi_cipher_suite": 3,
        })
    }

    /// An `ipmi` node for the simulator, with `extra` merged into its
    /// `driver_info`.
    pub fn node_with(&self, extra: Value) -> Node {
        let mut info = self.driver_info();
        if let (Some(map), Value::Object(extra)) = (info.as_object_mut(), extra) {
            map.extend(extra);
        }
        let Value::Object(map) = info else {
            panic!("driver_info must be an object")
        };
        Node {
            uuid: uuid::Uuid::new_v4(),
            driver: "ipmi".into(),
            driver_info: map,
            ..Node::default()
        }
    }

    /// An `ipmi` node for the simulator.
    pub fn node(&self) -> Node {
        self.node_with(json!({}))
    }

    /// Whether the simulated chassis is powered, as the "hardware" says.
    pub fn powered(&self) -> bool {
        std::fs::read_to_string(self.dir.join("power")).is_ok_and(|s| s.trim() == "1")
    }

    /// The boot device the chassis-control script last received (`pxe`,
    /// `default`, `cdrom`, `bios`, `none`).
    pub fn boot(&self) -> String {
        std::fs::read_to_string(self.dir.join("boot"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// Overwrites the recorded boot device, as a BMC that forgot it.
    pub fn set_boot(&self, value: &str) {
        std::fs::write(self.dir.join("boot"), format!("{value}\n"))
            .unwrap_or_else(|e| panic!("boot: {e}"));
    }

    /// Every chassis-control call so far (`get power`, `set power 1`, …).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim_start_matches("0x20 ").to_string())
            .collect()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.dir.join("calls.log"));
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        // Stopped by its own PID, never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
