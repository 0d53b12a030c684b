//! What the Redfish interfaces need from a BMC, as a trait of our own: the
//! interfaces speak only this, so the transport (reqwest today, anything
//! else tomorrow, a scripted double in a unit test) can change without
//! touching them.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::resources::{Collection, ODataId};
use crate::DriverError;

/// The HTTP methods Redfish uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// Read a resource.
    Get,
    /// Run an action or create a member (a session, a volume).
    Post,
    /// Change properties of a resource.
    Patch,
    /// Remove a member (a session, a volume).
    Delete,
}

impl HttpMethod {
    /// The method as HTTP spells it, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A successful (2xx) answer of the BMC.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BmcResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
    /// The `Location` header: where a created session or a task monitor is.
    pub location: Option<String>,
}

/// Why a request to a BMC failed. Messages name the BMC and the request,
/// never a credential: the HTTP client scrubs the password out of anything
/// the BMC or the network stack said before building one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BmcError {
    /// The node's configuration cannot work (bad CA bundle, …).
    #[error("Invalid Redfish configuration: {0}")]
    Config(String),
    /// No connection could be made (refused, DNS, TLS handshake, …).
    #[error("Cannot connect to the BMC at {address}: {reason}")]
    Connect {
        /// `scheme://host:port` of the BMC.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// The BMC did not answer in time.
    #[error("The BMC at {address} did not answer {method} {path} in time")]
    Timeout {
        /// `scheme://host:port` of the BMC.
        address: String,
        /// The request's method.
        method: HttpMethod,
        /// The request's path.
        path: String,
    },
    /// The BMC refused the credentials (401/403).
    #[error(
        "The BMC at {address} refused the credentials for {method} {path} (HTTP {status}); \
         check redfish_username and redfish_password"
    )]
    Auth {
        /// `scheme://host:port` of the BMC.
        address: String,
        /// The request's method.
        method: HttpMethod,
        /// The request's path.
        path: String,
        /// 401 or 403.
        status: u16,
    },
    /// The BMC answered with an error status.
    #[error("The BMC at {address} answered {method} {path} with HTTP {status}{message}")]
    Http {
        /// `scheme://host:port` of the BMC.
        address: String,
        /// The request's method.
        method: HttpMethod,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// `: ` and the BMC's own explanation, or empty.
        message: String,
    },
    /// The BMC's answer could not be understood.
    #[error("The BMC at {address} sent an unreadable answer to {method} {path}: {reason}")]
    InvalidResponse {
        /// `scheme://host:port` of the BMC.
        address: String,
        /// The request's method.
        method: HttpMethod,
        /// The request's path.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The BMC lacks something the operation needs (no Bios resource, no
    /// virtual media device of the right type, …).
    #[error("{0}")]
    Unsupported(String),
}

impl BmcError {
    /// The HTTP status, when the BMC answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            BmcError::Http { status, .. } | BmcError::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<BmcError> for DriverError {
    fn from(e: BmcError) -> DriverError {
        match e {
            BmcError::Config(_) => DriverError::InvalidParameter(e.to_string()),
            BmcError::Unsupported(_) => DriverError::Unsupported(e.to_string()),
            BmcError::Http { status: 501, .. } => DriverError::Unsupported(e.to_string()),
            _ => DriverError::Failed(e.to_string()),
        }
    }
}

/// A BMC's Redfish service, as the interfaces use it.
#[async_trait]
pub trait BmcClient: Send + Sync {
    /// `scheme://host:port` of the BMC, for messages.
    fn address(&self) -> &str;

    /// Sends one request (with authentication, retries and the concurrency
    /// cap of the implementation); any non-2xx answer is an error.
    async fn request(
        &self,
        method: HttpMethod,
        path: &str,
        body: Option<&Value>,
    ) -> Result<BmcResponse, BmcError>;

    /// The path of the ComputerSystem the node is: `system_id` when given
    /// (checked to exist), otherwise the only member of `/redfish/v1/Systems`.
    /// Implementations may cache the answer.
    async fn system_path(&self, system_id: Option<&str>) -> Result<String, BmcError> {
        discover_system(self, system_id).await
    }
}

/// Typed helpers over [`BmcClient::request`]; blanket-implemented, so any
/// client (and `dyn BmcClient`) has them.
#[async_trait]
pub trait BmcClientExt: BmcClient {
    /// GETs `path` and decodes it as `T`.
    async fn get_as<T: DeserializeOwned + Send>(&self, path: &str) -> Result<T, BmcError> {
        let response = self.request(HttpMethod::Get, path, None).await?;
        let body = response.body.unwrap_or(Value::Null);
        serde_json::from_value(body).map_err(|e| BmcError::InvalidResponse {
            address: self.address().to_string(),
            method: HttpMethod::Get,
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    /// PATCHes `path` with `body`.
    async fn patch(&self, path: &str, body: &Value) -> Result<BmcResponse, BmcError> {
        self.request(HttpMethod::Patch, path, Some(body)).await
    }

    /// POSTs `body` to `path` (an action target or a collection).
    async fn post(&self, path: &str, body: &Value) -> Result<BmcResponse, BmcError> {
        self.request(HttpMethod::Post, path, Some(body)).await
    }

    /// The member paths of the collection at `path`.
    async fn members(&self, path: &str) -> Result<Vec<String>, BmcError> {
        let collection: Collection = self.get_as(path).await?;
        Ok(collection.members.into_iter().map(|m| m.id).collect())
    }
}

impl<C: BmcClient + ?Sized> BmcClientExt for C {}

/// Finds the ComputerSystem: the configured one must exist; without one,
/// the BMC must manage exactly one system, as Ironic requires.
pub async fn discover_system<C: BmcClient + ?Sized>(
    client: &C,
    system_id: Option<&str>,
) -> Result<String, BmcError> {
    if let Some(id) = system_id {
        let found: ODataId = client.get_as(id).await?;
        return Ok(if found.id.is_empty() {
            id.to_string()
        } else {
            found.id.trim_end_matches('/').to_string()
        });
    }
    let members = client.members("/redfish/v1/Systems").await?;
    match members.as_slice() {
        [only] => Ok(only.trim_end_matches('/').to_string()),
        [] => Err(BmcError::Unsupported(format!(
            "The BMC at {} manages no ComputerSystem.",
            client.address()
        ))),
        many => Err(BmcError::Config(format!(
            "the BMC at {} manages {} systems; set redfish_system_id to one of: {}",
            client.address(),
            many.len(),
            many.join(", ")
        ))),
    }
}
