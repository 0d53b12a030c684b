//! Wiring of the boot crate: its interfaces get the node's ports from the
//! store and are installed into the drivers' registry, the image cache is
//! opened for the conductor, and the provisioning listener (`boot_listen`)
//! gets its router: boot files, images and the agent's endpoints, and
//! nothing else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use axum::Router;
use ferrite_boot::{BootContext, BootError, PortSource, Provider};
use ferrite_model::Port;
use ferrite_store::{Filter, ListQuery, Store};
use serde_json::json;
use uuid::Uuid;

use crate::config::Settings;

/// The MACs of a node's PXE-enabled ports, read from the store.
struct StorePorts(Store);

#[async_trait]
impl PortSource for StorePorts {
    async fn pxe_macs(&self, node: Uuid) -> Result<Vec<String>, BootError> {
        let query = ListQuery {
            filters: vec![Filter::Eq("node_uuid".into(), json!(node))],
            ..ListQuery::default()
        };
        let ports: Vec<Port> = self.0.list(&query).await.map_err(|e| {
            BootError::Invalid(format!("cannot read the ports of node {node}: {e}"))
        })?;
        Ok(ports
            .into_iter()
            .filter(|p| p.pxe_enabled)
            .map(|p| p.address)
            .collect())
    }
}

/// Size budget of the conductor's image cache (`<data_dir>/images`):
/// least recently used images beyond it are removed.
const IMAGE_CACHE_BYTES: u64 = 50 << 30;

/// What [`install`] set up.
pub struct Installed {
    /// The boot directory.
    pub boot_dir: PathBuf,
    /// The image cache served on the provisioning listener, when there is
    /// one and machines know its URL.
    pub images: Option<ferrite_images::Cache>,
}

/// Prepares the boot directory and installs the boot interfaces. When the
/// provisioning listener is bound to a specific address and `[boot]
/// http_url` is unset, machines are pointed at that address. With a
/// provisioning listener, also opens the image cache agents download from
/// and hands it to the conductor.
pub fn install(
    settings: &Settings,
    data_dir: &Path,
    store: Store,
    boot_listen: Option<SocketAddr>,
) -> anyhow::Result<Installed> {
    let mut config = settings.boot.clone();
    if config.http_url.is_none()
        && let Some(addr) = boot_listen.filter(|a| !a.ip().is_unspecified())
    {
        config.http_url = Some(format!("http://{addr}"));
    }
    if boot_listen.is_some() && config.http_url.is_none() {
        tracing::warn!(
            "boot_listen listens on every address: set [boot] http_url to the URL machines reach it at, or network boot cannot be prepared"
        );
    }
    let dir = config
        .boot_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("boot"));
    let images = match (&config.http_url, boot_listen) {
        (Some(url), Some(_)) => Some(image_cache(data_dir, url)?),
        _ => None,
    };
    let ctx = BootContext::new(config, dir.clone(), Arc::new(StorePorts(store)))
        .with_context(|| format!("cannot prepare the boot directory {}", dir.display()))?;
    if ferrite_drivers::external::install_boot_provider(Arc::new(Provider::new(Arc::new(ctx))))
        .is_err()
    {
        anyhow::bail!("the boot interfaces were already installed in this process");
    }
    Ok(Installed {
        boot_dir: dir,
        images,
    })
}

/// Opens the image cache under the data directory and installs it as the
/// conductor's image service, served at `<http_url>/images/<sha256>`.
fn image_cache(data_dir: &Path, http_url: &str) -> anyhow::Result<ferrite_images::Cache> {
    let root = data_dir.join("images");
    let cache = ferrite_images::Cache::open(ferrite_images::CacheConfig {
        root: root.clone(),
        max_bytes: IMAGE_CACHE_BYTES,
        qemu: ferrite_images::qemu::QemuLimits::default(),
    })
    .with_context(|| format!("cannot open the image cache {}", root.display()))?;
    let service = ferrite_conductor::agent::ImageService {
        cache: cache.clone(),
        base_url: http_url.trim_end_matches('/').to_string(),
    };
    if ferrite_conductor::agent::install_image_service(service).is_err() {
        anyhow::bail!("the image service was already installed in this process");
    }
    Ok(cache)
}

/// The provisioning listener's router: `/boot/…` from the boot directory,
/// the agent's endpoints with the API's protocol layer, 404 for the rest.
pub fn router(installed: &Installed, app: ferrite_api::App) -> Router {
    let mut router = ferrite_boot::serve::router(&installed.boot_dir);
    if let Some(cache) = &installed.images {
        router = router.merge(ferrite_images::serve::router(cache.clone()));
    }
    router.fallback_service(ferrite_api::ramdisk_router(app))
}
