//! A real dnsmasq reads the files the `ipxe` and `http-ipxe` interfaces
//! write, and a real DHCP client (busybox udhcpc) sees the answers each
//! firmware type would get. Everything runs in two network namespaces this
//! test creates, joined by a veth pair: no traffic touches the host's
//! networks. Needs root, `ip`, dnsmasq and busybox
//! (scripts/install-boot-tools.sh); fails with the reason when it cannot
//! create the namespaces, never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use ferrite_boot::dhcp::DNSMASQ_MATCHES;
use ferrite_boot::interfaces::{BootContext, PortSource, Provider};
use ferrite_boot::{BootConfig, BootError};
use ferrite_drivers::external::BootProvider;
use ferrite_model::{Node, ProvisionState};
use serde_json::json;
use uuid::Uuid;

const MAC: &str = "52:54:00:fe:00:01";
const SERVER_IP: &str = "10.231.0.1";

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/install-boot-tools.sh): {e}"))
}

fn must(program: &str, args: &[&str]) {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The two namespaces and the dnsmasq inside; torn down on drop, dnsmasq by
/// its PID.
struct Lab {
    server: String,
    client: String,
    dir: PathBuf,
}

impl Lab {
    fn up(dir: &Path) -> Lab {
        let id = std::process::id();
        let lab = Lab {
            server: format!("fbs{id}"),
            client: format!("fbc{id}"),
            dir: dir.to_path_buf(),
        };
        let created = run("ip", &["netns", "add", &lab.server]);
        assert!(
            created.status.success(),
            "this test needs to create network namespaces (root and `ip netns add`); it could \
             not: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        must("ip", &["netns", "add", &lab.client]);
        must(
            "ip",
            &[
                "link",
                "add",
                "v0",
                "netns",
                &lab.server,
                "type",
                "veth",
                "peer",
                "name",
                "v1",
                "netns",
                &lab.client,
                "address",
                MAC,
            ],
        );
        let s = lab.server.as_str();
        must(
            "ip",
            &[
                "-n",
                s,
                "addr",
                "add",
                &format!("{SERVER_IP}/24"),
                "dev",
                "v0",
            ],
        );
        must("ip", &["-n", s, "link", "set", "v0", "up"]);
        must("ip", &["-n", &lab.client, "link", "set", "v1", "up"]);
        lab
    }

    fn start_dnsmasq(&self, hosts: &Path, opts: &Path) {
        let d = self.dir.display();
        let conf = format!(
            "port=0\ninterface=v0\nbind-interfaces\nno-ping\n\
             dhcp-range=10.231.0.100,10.231.0.199,255.255.255.0,1h\n\
             dhcp-leasefile={d}/leases\nlog-dhcp\n\
             dhcp-hostsdir={}\ndhcp-optsdir={}\n{DNSMASQ_MATCHES}",
            hosts.display(),
            opts.display()
        );
        std::fs::write(self.dir.join("dnsmasq.conf"), conf).unwrap();
        must(
            "ip",
            &[
                "netns",
                "exec",
                &self.server,
                "dnsmasq",
                &format!("--conf-file={d}/dnsmasq.conf"),
                &format!("--pid-file={d}/dnsmasq.pid"),
                &format!("--log-facility={d}/dnsmasq.log"),
            ],
        );
    }

    /// Asks for a lease as firmware of client architecture `arch` (and as
    /// iPXE when `ipxe`); the variables udhcpc reports, or `None` when no
    /// lease was offered.
    fn ask(&self, arch: u16, ipxe: bool) -> Option<Vec<(String, String)>> {
        let out = self.dir.join("lease.env");
        let _ = std::fs::remove_file(&out);
        let script = self.dir.join("udhcpc.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n",
                out.display()
            ),
        )
        .unwrap();
        must("chmod", &["+x", script.to_str().unwrap()]);
        let arch_opt = format!("93:{arch:04x}");
        let mut args = vec![
            "netns",
            "exec",
            &self.client,
            "busybox",
            "udhcpc",
            "-i",
            "v1",
            "-n",
            "-q",
            "-f",
            "-B",
            "-t",
            "3",
            "-T",
            "1",
            "-O",
            "60",
            "-O",
            "67",
            "-x",
            &arch_opt,
            "-s",
        ];
        let script = script.to_str().unwrap().to_string();
        args.push(&script);
        if ipxe {
            args.extend(["-x", "77:69505845"]);
        }
        run("ip", &args);
        let text = std::fs::read_to_string(&out).ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("dnsmasq.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn get<'a>(vars: &'a [(String, String)], key: &str) -> Option<&'a str> {
    vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

struct Ports;

#[async_trait]
impl PortSource for Ports {
    async fn pxe_macs(&self, _node: Uuid) -> Result<Vec<String>, BootError> {
        Ok(vec![MAC.to_uppercase()])
    }
}

#[tokio::test]
async fn dnsmasq_answers_each_firmware_from_the_written_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (hosts, opts) = (tmp.path().join("hosts"), tmp.path().join("opts"));
    let base = format!("http://{SERVER_IP}:8080");
    let config = BootConfig {
        http_url: Some(base.clone()),
        dhcp_hostsdir: Some(hosts.clone()),
        dhcp_optsdir: Some(opts.clone()),
        ..BootConfig::default()
    };
    let ctx = BootContext::new(config, tmp.path().join("boot"), Arc::new(Ports)).unwrap();
    let provider = Provider::new(Arc::new(ctx));
    let lab = Lab::up(tmp.path());
    lab.start_dnsmasq(&hosts, &opts);

    // Unknown to Ferrite: a lease, but nothing to boot.
    let plain = lab.ask(0, false).expect("dnsmasq offered no lease at all");
    assert_eq!(get(&plain, "bootfile"), None, "{plain:?}");

    std::fs::write(tmp.path().join("k"), b"k").unwrap();
    let mut node = Node {
        uuid: Uuid::new_v4(),
        driver: "fake-hardware".into(),
        provision_state: ProvisionState::Deploying,
        ..Node::default()
    };
    for key in ["deploy_kernel", "deploy_ramdisk"] {
        let path = tmp.path().join("k").display().to_string();
        node.driver_info.insert(key.into(), json!(path));
    }
    let ipxe = provider.boot_interface("ipxe").unwrap();
    ipxe.prepare_ramdisk(&node).await.unwrap();

    let cases: [(u16, bool, String); 5] = [
        (0, false, "undionly.kpxe".into()),
        (7, false, "snponly.efi".into()),
        (9, false, "snponly.efi".into()),
        (16, false, format!("{base}/boot/ipxe.efi")),
        (7, true, format!("{base}/boot/boot.ipxe")),
    ];
    for (arch, as_ipxe, bootfile) in &cases {
        let lease = lab
            .ask(*arch, *as_ipxe)
            .unwrap_or_else(|| panic!("no lease for arch {arch}; dnsmasq log:\n{}", lab.log()));
        assert_eq!(
            get(&lease, "bootfile"),
            Some(bootfile.as_str()),
            "arch {arch} ipxe {as_ipxe}: {lease:?}"
        );
        let vendor = get(&lease, "vendor");
        if *arch == 16 {
            assert_eq!(vendor, Some("HTTPClient"), "{lease:?}");
        } else {
            assert_ne!(vendor, Some("HTTPClient"), "{lease:?}");
        }
    }

    // http-ipxe answers only HTTP-boot firmware and iPXE.
    let http = provider.boot_interface("http-ipxe").unwrap();
    http.prepare_ramdisk(&node).await.unwrap();
    let lease = lab.ask(16, false).expect("no lease for HTTP boot");
    assert_eq!(
        get(&lease, "bootfile"),
        Some(format!("{base}/boot/ipxe.efi").as_str())
    );
    assert_eq!(get(&lease, "vendor"), Some("HTTPClient"));
    let lease = lab.ask(0, false).expect("no lease for BIOS");
    assert_eq!(get(&lease, "bootfile"), None, "{lease:?}");

    // Once the node no longer needs network boot, dnsmasq ignores it.
    http.clean_up_ramdisk(&node).await.unwrap();
    assert!(
        lab.ask(7, false).is_none(),
        "still answered:\n{}",
        lab.log()
    );
    assert!(lab.log().contains("ignored"));

    // And answers it again when it needs it again.
    ipxe.prepare_ramdisk(&node).await.unwrap();
    let lease = lab.ask(0, false).expect("no lease after a new preparation");
    assert_eq!(get(&lease, "bootfile"), Some("undionly.kpxe"));
}
