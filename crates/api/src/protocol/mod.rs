//! The Ironic v1 protocol layer shared by every resource: errors,
//! microversions, the request pipeline, bodies, links, listing and JSON Patch.

pub mod body;
pub mod error;
pub mod links;
pub mod listing;
pub mod middleware;
pub mod patch;
pub mod version;

pub use body::{JsonBody, Obj};
pub use error::{ApiError, ApiResult};
pub use links::BaseUrl;
pub use listing::{ListParams, Params};
pub use version::ApiVersion;
