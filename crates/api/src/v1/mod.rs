//! The Ironic v1 resources and their routes.

pub mod allocations;
pub mod chassis;
pub mod conductors;
pub mod crud;
pub mod deploy_templates;
pub mod drivers;
pub mod events;
pub mod inspection;
pub mod inspection_rules;
pub mod node_ctx;
pub mod node_doc;
pub mod node_history;
pub mod node_management;
pub mod node_records;
pub mod node_schema;
pub mod node_states;
pub mod node_view;
pub mod nodes;
pub mod portgroups;
pub mod ports;
pub mod ramdisk;
pub mod resource;
pub mod root;
pub mod runbooks;
pub mod schema;
pub mod vendor;
pub mod volume;

use axum::Router;
use axum::routing::{get, put};

use ferrite_model::{Chassis, Port, Portgroup, VolumeConnector, VolumeTarget};

use crate::App;
use crud::Resource;

/// Every v1 route, relative to `/v1` (also served without the prefix).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/nodes", get(nodes::list::<false>).post(nodes::create))
        .route("/nodes/detail", get(nodes::list::<true>))
        .route("/nodes/validate", get(node_management::validate_by_query))
        .route(
            "/nodes/{node}",
            get(nodes::show).patch(nodes::update).delete(nodes::delete),
        )
        .route("/nodes/{node}/states", get(node_states::get_states))
        .route("/nodes/{node}/states/power", put(node_states::set_power))
        .route(
            "/nodes/{node}/states/provision",
            put(node_states::set_provision),
        )
        .route("/nodes/{node}/states/raid", put(node_states::set_raid))
        .route(
            "/nodes/{node}/states/console",
            get(node_states::get_console).put(node_states::set_console),
        )
        // The same with the node last, a spelling some clients use.
        .route(
            "/nodes/states/console/{node}",
            get(node_states::get_console).put(node_states::set_console),
        )
        .route(
            "/nodes/{node}/states/boot_mode",
            put(node_states::set_boot_mode),
        )
        .route(
            "/nodes/{node}/states/secure_boot",
            put(node_states::set_secure_boot),
        )
        .route(
            "/nodes/{node}/management/boot_device",
            get(node_management::get_boot_device).put(node_management::set_boot_device),
        )
        .route(
            "/nodes/{node}/management/boot_device/supported",
            get(node_management::supported_boot_devices),
        )
        .route(
            "/nodes/{node}/management/inject_nmi",
            put(node_management::inject_nmi),
        )
        .route(
            "/nodes/{node}/maintenance",
            put(node_management::set_maintenance).delete(node_management::clear_maintenance),
        )
        .route("/nodes/{node}/validate", get(node_management::validate))
        .route(
            "/nodes/{node}/traits",
            get(node_management::list_traits)
                .put(node_management::set_traits)
                .delete(node_management::clear_traits),
        )
        .route(
            "/nodes/{node}/traits/{name}",
            put(node_management::add_trait).delete(node_management::remove_trait),
        )
        .route(
            "/nodes/{node}/vifs",
            get(node_management::list_vifs).post(node_management::attach_vif),
        )
        .route(
            "/nodes/{node}/vifs/{vif}",
            axum::routing::delete(node_management::detach_vif),
        )
        .route("/nodes/{node}/ports", get(crud::of_node::<Port, false>))
        .route(
            "/nodes/{node}/ports/detail",
            get(crud::of_node::<Port, true>),
        )
        .route(
            "/nodes/{node}/portgroups",
            get(crud::of_node::<Portgroup, false>),
        )
        .route(
            "/nodes/{node}/portgroups/detail",
            get(crud::of_node::<Portgroup, true>),
        )
        .route("/nodes/{node}/volume", get(volume::of_node))
        .route(
            "/nodes/{node}/volume/connectors",
            get(crud::of_node::<VolumeConnector, false>),
        )
        .route(
            "/nodes/{node}/volume/targets",
            get(crud::of_node::<VolumeTarget, false>),
        )
        .route("/portgroups/{pg}/ports", get(portgroups::ports::<false>))
        .route(
            "/portgroups/{pg}/ports/detail",
            get(portgroups::ports::<true>),
        )
        .route("/volume", get(volume::root))
        .route(
            "/nodes/{node}/management/indicators",
            get(node_management::list_indicators),
        )
        .route(
            "/nodes/{node}/management/indicators/{indicator}",
            get(node_management::get_indicator).put(node_management::set_indicator),
        )
        .route(
            "/nodes/{node}/vendor_passthru/methods",
            get(vendor::node_methods),
        )
        .route(
            "/nodes/{node}/vendor_passthru",
            axum::routing::any(vendor::node_call),
        )
        .route(
            "/drivers/{name}/vendor_passthru/methods",
            get(vendor::driver_methods),
        )
        .route(
            "/drivers/{name}/vendor_passthru",
            axum::routing::any(vendor::driver_call),
        )
        .route("/nodes/{node}/inventory", get(node_records::inventory))
        .route("/nodes/{node}/children", get(node_records::children))
        .route("/nodes/{node}/firmware", get(node_records::firmware))
        .route(
            "/nodes/{node}/vmedia",
            get(node_records::get_vmedia)
                .post(node_records::attach_vmedia)
                .delete(node_records::detach_vmedia),
        )
        .route("/shards", get(node_records::shards))
        .route("/nodes/{node}/history", get(node_history::list))
        .route("/nodes/{node}/history/{entry}", get(node_history::show))
        .merge(agent_routes())
        .route("/nodes/{node}/bios", get(ramdisk::bios))
        .route("/nodes/{node}/bios/{name}", get(ramdisk::bios_setting))
        .merge(allocations::routes())
        .merge(deploy_templates::routes())
        .merge(events::routes())
        .merge(runbooks::routes())
        .merge(inspection_rules::routes())
        .merge(collection::<Port>())
        .merge(collection::<Portgroup>())
        .merge(collection::<Chassis>())
        .merge(collection::<VolumeConnector>())
        .merge(collection::<VolumeTarget>())
        .route("/chassis/{chassis}/nodes", get(chassis::nodes::<false>))
        .route(
            "/chassis/{chassis}/nodes/detail",
            get(chassis::nodes::<true>),
        )
        .route("/drivers", get(drivers::list))
        .route("/drivers/{name}", get(drivers::show))
        .route("/drivers/{name}/properties", get(drivers::properties))
        .route(
            "/drivers/{name}/raid/logical_disk_properties",
            get(drivers::raid_properties),
        )
        .route("/conductors", get(conductors::list))
        .route("/conductors/{hostname}", get(conductors::show))
}

/// The endpoints the deploy ramdisk calls (reference §7.2): all the
/// provisioning listener serves of the API. They need no credentials; the
/// agent token is checked by the handlers.
pub fn agent_routes() -> Router<App> {
    Router::new()
        .route(
            "/continue_inspection",
            axum::routing::post(inspection::continue_inspection),
        )
        .route("/lookup", get(ramdisk::lookup))
        .route("/heartbeat/{node}", axum::routing::post(ramdisk::heartbeat))
}

/// The five routes of a document resource: list, detail, create, and
/// show/update/delete by id.
fn collection<R: Resource>() -> Router<App> {
    let base = format!("/{}", R::COLLECTION);
    Router::new()
        .route(&base, get(crud::list::<R>).post(crud::create::<R>))
        .route(&format!("{base}/detail"), get(crud::detail::<R>))
        .route(
            &format!("{base}/{{id}}"),
            get(crud::show::<R>)
                .patch(crud::update::<R>)
                .delete(crud::delete::<R>),
        )
}
