//! The boot interfaces against a real boot directory: what a node's
//! preparation writes, what its clean-up leaves, and the ISO of virtual
//! media as `xorriso` reads it back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use ferrite_boot::interfaces::{BootContext, PortSource, Provider};
use ferrite_boot::{BootConfig, BootError};
use ferrite_drivers::external::BootProvider;
use ferrite_drivers::interfaces::BootInterface;
use ferrite_model::{Node, ProvisionState};
use serde_json::json;
use uuid::Uuid;

const MAC: &str = "52:54:00:12:34:56";

struct Ports(Vec<String>);

#[async_trait]
impl PortSource for Ports {
    async fn pxe_macs(&self, _node: Uuid) -> Result<Vec<String>, BootError> {
        Ok(self.0.clone())
    }
}

struct Site {
    dir: tempfile::TempDir,
    provider: Provider,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let config = BootConfig {
            http_url: Some("http://192.0.2.1:8080".into()),
            dhcp_hostsdir: Some(dir.path().join("hosts")),
            dhcp_optsdir: Some(dir.path().join("opts")),
            ..BootConfig::default()
        };
        let ctx = BootContext::new(
            config,
            dir.path().join("boot"),
            Arc::new(Ports(vec![MAC.into()])),
        )
        .unwrap();
        Site {
            provider: Provider::new(Arc::new(ctx)),
            dir,
        }
    }

    fn boot(&self, name: &str) -> Arc<dyn BootInterface> {
        self.provider.boot_interface(name).unwrap()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// A node whose ramdisk files exist in the site's directory.
    fn node(&self, boot_interface: &str) -> Node {
        std::fs::write(self.path("vmlinuz"), b"kernel bytes").unwrap();
        std::fs::write(self.path("initrd"), b"initrd bytes").unwrap();
        let mut node = Node {
            uuid: Uuid::new_v4(),
            driver: "fake-hardware".into(),
            boot_interface: Some(boot_interface.into()),
            provision_state: ProvisionState::Deploying,
            ..Node::default()
        };
        node.driver_info.insert(
            "deploy_kernel".into(),
            json!(format!("file://{}", self.path("vmlinuz").display())),
        );
        node.driver_info.insert(
            "deploy_ramdisk".into(),
            json!(self.path("initrd").display().to_string()),
        );
        node
    }
}

#[tokio::test]
async fn ipxe_writes_script_files_and_dhcp_then_removes_them() {
    let site = Site::new();
    let node = site.node("ipxe");
    let boot = site.boot("ipxe");
    boot.validate(&node).await.unwrap();
    boot.prepare_ramdisk(&node).await.unwrap();

    let u = node.uuid;
    let script = site.read(&format!("boot/nodes/{u}/boot.ipxe"));
    assert_eq!(site.read("boot/ipxe/52-54-00-12-34-56.ipxe"), script);
    assert!(script.contains(&format!(
        "kernel --name kernel http://192.0.2.1:8080/boot/nodes/{u}/deploy_kernel initrd=ramdisk \
         ipa-api-url=http://192.0.2.1:8080 nofb nomodeset console=tty0 console=ttyS0,115200n8 \
         BOOTIF=${{mac}}"
    )));
    assert_eq!(
        site.read(&format!("boot/nodes/{u}/deploy_kernel")),
        "kernel bytes"
    );
    assert_eq!(
        site.read(&format!("boot/nodes/{u}/deploy_ramdisk")),
        "initrd bytes"
    );
    assert!(
        site.read("boot/boot.ipxe")
            .contains("http://192.0.2.1:8080/boot/ipxe/")
    );
    let hosts = site.read(&format!("hosts/ferrite-{u}"));
    assert!(
        hosts.starts_with("52:54:00:12:34:56,set:ferrite-"),
        "{hosts}"
    );
    let opts = site.read(&format!("opts/ferrite-{u}"));
    assert!(opts.contains(",tag:ipxe,option:bootfile-name,http://192.0.2.1:8080/boot/boot.ipxe\n"));
    assert!(opts.contains(",tag:!ipxe,tag:bios,option:bootfile-name,undionly.kpxe\n"));

    boot.clean_up_ramdisk(&node).await.unwrap();
    assert!(!site.path(&format!("boot/nodes/{u}")).exists());
    assert!(std::fs::symlink_metadata(site.path("boot/ipxe/52-54-00-12-34-56.ipxe")).is_err());
    assert_eq!(
        site.read(&format!("hosts/ferrite-{u}")),
        "52:54:00:12:34:56,ignore\n"
    );
    assert!(!site.path(&format!("opts/ferrite-{u}")).exists());
}

#[tokio::test]
async fn prepare_instance_leaves_nothing_to_network_boot() {
    let site = Site::new();
    let node = site.node("http-ipxe");
    let boot = site.boot("http-ipxe");
    boot.prepare_ramdisk(&node).await.unwrap();
    let opts = site.read(&format!("opts/ferrite-{}", node.uuid));
    assert!(
        opts.contains(",tag:efihttp,option:vendor-class,HTTPClient\n"),
        "{opts}"
    );
    assert!(!opts.contains("tag:bios"), "{opts}");
    boot.prepare_instance(&node).await.unwrap();
    assert!(!site.path(&format!("boot/nodes/{}", node.uuid)).exists());
    assert!(!site.path(&format!("opts/ferrite-{}", node.uuid)).exists());
}

#[tokio::test]
async fn urls_are_fetched_by_ipxe_but_refused_by_pxe() {
    let site = Site::new();
    let mut node = site.node("ipxe");
    node.driver_info
        .insert("deploy_kernel".into(), json!("https://images.example/k"));
    site.boot("ipxe").prepare_ramdisk(&node).await.unwrap();
    let script = site.read(&format!("boot/nodes/{}/boot.ipxe", node.uuid));
    assert!(script.contains("kernel --name kernel https://images.example/k "));
    assert!(
        !site
            .path(&format!("boot/nodes/{}/deploy_kernel", node.uuid))
            .exists()
    );
    let err = site.boot("pxe").validate(&node).await.unwrap_err();
    assert!(err.to_string().contains("local file"), "{err}");
}

#[tokio::test]
async fn pxe_writes_pxelinux_and_grub_by_mac_with_tftp_paths() {
    let site = Site::new();
    let mut node = site.node("pxe");
    node.provision_state = ProvisionState::RescueWait;
    node.driver_info = node
        .driver_info
        .iter()
        .map(|(k, v)| (k.replace("deploy_", "rescue_"), v.clone()))
        .collect();
    site.boot("pxe").prepare_ramdisk(&node).await.unwrap();
    let u = node.uuid;
    let pxelinux = site.read("boot/pxelinux.cfg/01-52-54-00-12-34-56");
    assert!(pxelinux.contains(&format!("kernel /nodes/{u}/rescue_kernel\n")));
    assert!(pxelinux.contains(&format!(
        "append initrd=/nodes/{u}/rescue_ramdisk ipa-api-url="
    )));
    let grub = site.read("boot/grub/grub.cfg-01-52-54-00-12-34-56");
    assert!(grub.contains(&format!("linux /nodes/{u}/rescue_kernel ipa-api-url=")));
    assert!(grub.contains("BOOTIF=01-52-54-00-12-34-56"));
    let opts = site.read(&format!("opts/ferrite-{u}"));
    assert!(
        opts.contains(",tag:bios,option:bootfile-name,pxelinux.0\n"),
        "{opts}"
    );
}

#[tokio::test]
async fn validation_names_what_is_missing() {
    let site = Site::new();
    let mut node = site.node("ipxe");
    node.driver_info.remove("deploy_ramdisk");
    let err = site.boot("ipxe").validate(&node).await.unwrap_err();
    assert!(err.to_string().contains("deploy_ramdisk"), "{err}");
    node.driver_info
        .insert("deploy_ramdisk".into(), json!("0b8d6f1e-glance-id"));
    let err = site.boot("ipxe").validate(&node).await.unwrap_err();
    assert!(err.to_string().contains("absolute path"), "{err}");
    assert!(site.provider.boot_interface("fake").is_none());

    let no_url = BootContext::new(
        BootConfig::default(),
        site.path("other"),
        Arc::new(Ports(vec![])),
    )
    .unwrap();
    let boot = Provider::new(Arc::new(no_url))
        .boot_interface("ipxe")
        .unwrap();
    let err = boot.validate(&site.node("ipxe")).await.unwrap_err();
    assert!(err.to_string().contains("http_url"), "{err}");
}

/// Runs `xorriso` on an ISO and returns its output; fails clearly when the
/// tool is missing (scripts/install-boot-tools.sh installs it).
fn xorriso(iso: &Path, args: &[&str]) -> String {
    let out = Command::new("xorriso")
        .arg("-indev")
        .arg(iso)
        .args(args)
        .output()
        .expect("xorriso is not installed: run scripts/install-boot-tools.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn virtual_media_builds_a_bios_and_uefi_iso_with_config_and_network_data() {
    let site = Site::new();
    let mut node = site.node("redfish-virtual-media");
    let network_data = json!({
        "links": [{"id": "eth0", "type": "phy", "ethernet_mac_address": MAC}],
        "networks": [{"id": "n0", "link": "eth0", "type": "ipv4",
                      "ip_address": "192.0.2.50", "netmask": "255.255.255.0"}],
        "services": []
    });
    node.network_data = network_data.as_object().unwrap().clone();
    let boot = site.boot("redfish-virtual-media");
    boot.validate(&node).await.unwrap();
    boot.prepare_ramdisk(&node).await.unwrap();

    let dir = site.path(&format!("boot/nodes/{}", node.uuid));
    let isos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "iso"))
        .collect();
    assert_eq!(isos.len(), 1, "{isos:?}");
    let iso = &isos[0];
    let name = iso.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("boot-") && name.len() > 20, "{name}");

    let torito = xorriso(iso, &["-report_el_torito", "plain"]);
    assert!(torito.contains("BIOS  y"), "{torito}");
    assert!(torito.contains("UEFI  y"), "{torito}");
    let pvd = xorriso(iso, &["-pvd_info"]);
    assert!(pvd.contains("Volume Id    : FERRITE_CFG"), "{pvd}");

    let out = site.path("extracted");
    std::fs::create_dir_all(&out).unwrap();
    for (inside, local) in [
        ("/boot/grub/grub.cfg", "grub.cfg"),
        ("/ferrite-agent.json", "agent.json"),
        ("/openstack/latest/network_data.json", "network_data.json"),
        ("/vmlinuz", "vmlinuz"),
    ] {
        let target = out.join(local);
        xorriso(
            iso,
            &[
                "-osirrox",
                "on",
                "-extract",
                inside,
                target.to_str().unwrap(),
            ],
        );
    }
    let grub = std::fs::read_to_string(out.join("grub.cfg")).unwrap();
    assert!(
        grub.contains("linux /vmlinuz ipa-api-url=http://192.0.2.1:8080 "),
        "{grub}"
    );
    assert!(!grub.contains("BOOTIF"));
    let agent: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("agent.json")).unwrap()).unwrap();
    assert_eq!(agent, json!({"api_url": "http://192.0.2.1:8080"}));
    let nd: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("network_data.json")).unwrap()).unwrap();
    assert_eq!(nd, network_data);
    assert_eq!(std::fs::read(out.join("vmlinuz")).unwrap(), b"kernel bytes");

    // A second preparation replaces the ISO; clean-up removes it.
    boot.prepare_ramdisk(&node).await.unwrap();
    assert!(!iso.exists());
    boot.clean_up_ramdisk(&node).await.unwrap();
    assert!(!dir.exists());
}

#[tokio::test]
async fn the_drivers_registry_builds_the_installed_interfaces() {
    let site = Site::new();
    let node = site.node("ipxe");
    // Before installation, the name is listed but has no code.
    let before = ferrite_drivers::Driver::build(&node, &Default::default()).unwrap();
    assert!(before.boot.validate(&node).await.is_err());
    let Site {
        provider,
        dir: _dir,
    } = site;
    assert!(ferrite_drivers::external::install_boot_provider(Arc::new(provider)).is_ok());
    for name in ["ipxe", "pxe", "http-ipxe", "redfish-virtual-media"] {
        let mut n = node.clone();
        n.boot_interface = Some(name.into());
        let d = ferrite_drivers::Driver::build(&n, &Default::default()).unwrap();
        assert_eq!(d.boot.name(), name);
    }
}
