//! The boot interfaces `ipxe`, `pxe`, `http-ipxe` and
//! `redfish-virtual-media`: what each writes when a node needs to boot the
//! agent, and removes when it no longer does. Registered with the drivers'
//! registry through [`BootProvider`].

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferrite_drivers::external::BootProvider;
use ferrite_drivers::interfaces::{BootInterface, Interface};
use ferrite_drivers::{Driver, DriverError, FakeDelays, InterfaceKind};
use ferrite_model::{Node, ProvisionState};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::dhcp::{Answers, DhcpFiles};
use crate::iso::{self, IsoContents};
use crate::render::{Ramdisk, grub_config, kernel_params, node_ipxe_script, pxelinux_config};
use crate::tree::{BootTree, MacConfig};
use crate::{BootConfig, BootError, files};

/// Where the MACs of a node's PXE-enabled ports come from (the store, in
/// the binary); the boot interfaces get only the node.
#[async_trait]
pub trait PortSource: Send + Sync {
    /// The MACs of the node's ports with `pxe_enabled`.
    async fn pxe_macs(&self, node: Uuid) -> Result<Vec<String>, BootError>;
}

/// Everything the boot interfaces share: configuration, boot directory,
/// dnsmasq files and the port source.
pub struct BootContext {
    config: BootConfig,
    tree: BootTree,
    dhcp: Option<DhcpFiles>,
    ports: Arc<dyn PortSource>,
}

impl BootContext {
    /// Checks the configuration, creates the boot directory (`boot_dir`)
    /// and writes the generic iPXE script.
    pub fn new(
        config: BootConfig,
        boot_dir: PathBuf,
        ports: Arc<dyn PortSource>,
    ) -> Result<BootContext, BootError> {
        config.validate()?;
        let tree = BootTree::install(&boot_dir, config.http_url.as_deref())?;
        let dhcp = DhcpFiles::from_config(&config);
        if let Some(dhcp) = &dhcp {
            dhcp.create_dirs()?;
        }
        Ok(BootContext {
            dhcp,
            config,
            tree,
            ports,
        })
    }

    /// The boot directory.
    pub fn tree(&self) -> &BootTree {
        &self.tree
    }

    /// The kernel command line for `node`: the agent's API URL and the
    /// node's `kernel_append_params`, else the configured ones.
    fn params(&self, node: &Node) -> Result<String, BootError> {
        let append = node
            .driver_info
            .get("kernel_append_params")
            .and_then(Value::as_str)
            .unwrap_or(&self.config.kernel_append_params);
        Ok(kernel_params(&self.config.agent_api_url()?, append))
    }

    /// Removes the node's boot files and its DHCP answers.
    fn forget(&self, node: Uuid) -> Result<(), BootError> {
        if let Some(dhcp) = &self.dhcp {
            dhcp.release(node)?;
        }
        self.tree.remove_node(node)
    }
}

/// Where a kernel or initramfs comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// Fetched by the machine itself (iPXE only).
    Url(String),
    /// A file on the conductor, staged into the node's directory.
    File(PathBuf),
}

/// The `driver_info` keys of the ramdisk the node boots now: the rescue
/// ramdisk while rescuing, else the deploy ramdisk.
fn ramdisk_keys(node: &Node) -> [&'static str; 2] {
    if matches!(
        node.provision_state,
        ProvisionState::Rescuing | ProvisionState::RescueWait
    ) {
        ["rescue_kernel", "rescue_ramdisk"]
    } else {
        ["deploy_kernel", "deploy_ramdisk"]
    }
}

fn source(node: &Node, key: &str) -> Result<Source, BootError> {
    let value = node
        .driver_info
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            BootError::Invalid(format!(
                "Node {} has no driver_info {key}: booting the agent needs it.",
                node.uuid
            ))
        })?;
    if value.starts_with("http://") || value.starts_with("https://") {
        return Ok(Source::Url(value.to_string()));
    }
    let path = value.strip_prefix("file://").unwrap_or(value);
    if path.starts_with('/') {
        return Ok(Source::File(PathBuf::from(path)));
    }
    Err(BootError::Invalid(format!(
        "driver_info {key} of node {} must be an http(s):// URL, a file:// URL or an absolute \
         path; image service references are not supported.",
        node.uuid
    )))
}

/// Both files of the node's ramdisk; `local` refuses URLs, for loaders
/// (TFTP, an ISO) that need the bytes on the conductor.
fn sources(node: &Node, local: bool) -> Result<[(&'static str, Source); 2], BootError> {
    let [k, r] = ramdisk_keys(node);
    let pair = [(k, source(node, k)?), (r, source(node, r)?)];
    for (key, src) in &pair {
        if local && matches!(src, Source::Url(_)) {
            return Err(BootError::Invalid(format!(
                "driver_info {key} of node {} must be a local file for this boot interface \
                 (it is served by TFTP or put on an ISO).",
                node.uuid
            )));
        }
    }
    Ok(pair)
}

/// One of the network boot interfaces (`ipxe`, `http-ipxe`, `pxe`): per-MAC
/// configuration in the boot directory plus dnsmasq answers.
pub struct NetworkBoot {
    answers: Answers,
    ctx: Arc<BootContext>,
}

impl NetworkBoot {
    /// The interface answering DHCP with `answers`.
    pub fn new(answers: Answers, ctx: Arc<BootContext>) -> NetworkBoot {
        NetworkBoot { answers, ctx }
    }

    /// Stages the ramdisk's files and returns how the loader names them.
    fn locate(&self, node: &Node, base: &str) -> Result<Ramdisk, BootError> {
        let local = self.answers == Answers::Pxe;
        let mut located = Vec::with_capacity(2);
        for (key, src) in sources(node, local)? {
            located.push(match src {
                Source::Url(url) => url,
                Source::File(path) => {
                    files::stage(&path, &self.ctx.tree.node_dir(node.uuid).join(key))?;
                    let relative = BootTree::node_path(node.uuid, key);
                    if local {
                        format!("/{relative}")
                    } else {
                        format!("{base}/boot/{relative}")
                    }
                }
            });
        }
        let [kernel, initrd]: [String; 2] = located
            .try_into()
            .map_err(|_| BootError::Invalid("a ramdisk has two files".into()))?;
        Ok(Ramdisk {
            kernel,
            initrd,
            params: self.ctx.params(node)?,
        })
    }

    async fn prepare(&self, node: &Node) -> Result<(), BootError> {
        let base = self.ctx.config.base_url()?;
        let macs = self.ctx.ports.pxe_macs(node.uuid).await?;
        let ramdisk = self.locate(node, &base)?;
        let tree = &self.ctx.tree;
        if self.answers == Answers::Pxe {
            tree.write_config(node.uuid, MacConfig::Pxelinux, &macs, |_| {
                pxelinux_config(&ramdisk)
            })?;
            tree.write_config(node.uuid, MacConfig::Grub, &macs, |mac| {
                grub_config(&ramdisk, Some(mac))
            })?;
        } else {
            tree.write_config(node.uuid, MacConfig::Ipxe, &macs, |_| {
                node_ipxe_script(&ramdisk)
            })?;
        }
        if let Some(dhcp) = &self.ctx.dhcp {
            dhcp.write(node.uuid, &macs, self.answers, &self.ctx.config, &base)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Interface for NetworkBoot {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Boot
    }
    fn name(&self) -> &'static str {
        match self.answers {
            Answers::Ipxe => "ipxe",
            Answers::HttpIpxe => "http-ipxe",
            Answers::Pxe => "pxe",
        }
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        self.ctx.config.base_url()?;
        sources(node, self.answers == Answers::Pxe)?;
        Ok(())
    }
}

#[async_trait]
impl BootInterface for NetworkBoot {
    async fn prepare_ramdisk(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.prepare(node).await?)
    }
    async fn clean_up_ramdisk(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.ctx.forget(node.uuid)?)
    }
    /// The instance boots from its disk (the deploy sets the boot device):
    /// nothing may answer its network boot any more.
    async fn prepare_instance(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.ctx.forget(node.uuid)?)
    }
    async fn clean_up_instance(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.ctx.forget(node.uuid)?)
    }
}

/// `redfish-virtual-media`: a per-node ISO inserted through the node's
/// management interface (reference §9.4). No DHCP is involved: the agent
/// configures its NICs from the `network_data` on the ISO.
pub struct VirtualMediaBoot {
    ctx: Arc<BootContext>,
}

impl VirtualMediaBoot {
    /// The interface.
    pub fn new(ctx: Arc<BootContext>) -> VirtualMediaBoot {
        VirtualMediaBoot { ctx }
    }

    /// Builds the node's ISO and returns its URL. The name carries a random
    /// part so the ISO (which holds the agent's configuration) cannot be
    /// fetched by guessing the node's UUID.
    pub async fn build_iso(&self, node: &Node) -> Result<String, BootError> {
        let base = self.ctx.config.base_url()?;
        let [(_, kernel), (_, initrd)] = sources(node, true)?;
        let (Source::File(kernel), Source::File(initrd)) = (kernel, initrd) else {
            return Err(BootError::Invalid("virtual media needs local files".into()));
        };
        let api_url = self.ctx.config.agent_api_url()?;
        let contents = IsoContents {
            kernel,
            initrd,
            params: self.ctx.params(node)?,
            agent_config: json!({ "api_url": api_url }),
            network_data: Value::Object(node.network_data.clone()),
        };
        self.ctx.tree.remove_node(node.uuid)?;
        let name = format!("boot-{}.iso", Uuid::new_v4().simple());
        let out = self.ctx.tree.node_dir(node.uuid).join(&name);
        files::ensure_dir(&self.ctx.tree.node_dir(node.uuid))?;
        iso::build(&contents, &out).await?;
        Ok(format!(
            "{base}/boot/{}",
            BootTree::node_path(node.uuid, &name)
        ))
    }

    async fn prepare(&self, node: &Node) -> Result<(), BootError> {
        let url = self.build_iso(node).await?;
        let driver = Driver::build(node, &FakeDelays::default())?;
        let management = &driver.management;
        management
            .detach_virtual_media(node, &["cdrom".to_string()])
            .await?;
        management.attach_virtual_media(node, "cdrom", &url).await?;
        // What a one-time boot device change records is the management
        // interface's own bookkeeping; the next boot consumes it.
        management.set_boot_device(node, "cdrom", false).await?;
        if let Some(dhcp) = &self.ctx.dhcp {
            dhcp.release(node.uuid)?;
        }
        Ok(())
    }

    async fn eject(&self, node: &Node) -> Result<(), BootError> {
        let driver = Driver::build(node, &FakeDelays::default())?;
        driver
            .management
            .detach_virtual_media(node, &["cdrom".to_string()])
            .await?;
        self.ctx.forget(node.uuid)
    }
}

#[async_trait]
impl Interface for VirtualMediaBoot {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Boot
    }
    fn name(&self) -> &'static str {
        "redfish-virtual-media"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        self.ctx.config.base_url()?;
        sources(node, true)?;
        Ok(())
    }
}

#[async_trait]
impl BootInterface for VirtualMediaBoot {
    async fn prepare_ramdisk(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.prepare(node).await?)
    }
    async fn clean_up_ramdisk(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.eject(node).await?)
    }
    async fn prepare_instance(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.eject(node).await?)
    }
    async fn clean_up_instance(&self, node: &Node) -> Result<(), DriverError> {
        Ok(self.eject(node).await?)
    }
}

/// The provider the binary installs with
/// [`ferrite_drivers::external::install_boot_provider`].
pub struct Provider {
    ctx: Arc<BootContext>,
}

impl Provider {
    /// A provider sharing one context between every interface it builds.
    pub fn new(ctx: Arc<BootContext>) -> Provider {
        Provider { ctx }
    }
}

impl BootProvider for Provider {
    fn boot_interface(&self, name: &str) -> Option<Arc<dyn BootInterface>> {
        let ctx = self.ctx.clone();
        Some(match name {
            "ipxe" => Arc::new(NetworkBoot::new(Answers::Ipxe, ctx)),
            "http-ipxe" => Arc::new(NetworkBoot::new(Answers::HttpIpxe, ctx)),
            "pxe" => Arc::new(NetworkBoot::new(Answers::Pxe, ctx)),
            "redfish-virtual-media" => Arc::new(VirtualMediaBoot::new(ctx)),
            _ => return None,
        })
    }
}
