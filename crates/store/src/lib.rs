//! Ferrite's persistence layer. Every resource is stored as one JSON
//! document per row with generated, indexed columns for the fields that are
//! unique, filtered or sorted on; SQLite is reached through a single writer
//! path (group commit) and a pool of readers.
//!
//! CONTRACT (used by the api and conductor crates): the signatures below are
//! fixed; bodies are being implemented.

use ferrite_model::{Chassis, Conductor, Node, Port};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use uuid::Uuid;

/// How a client names a resource in a path: a UUID or a logical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    Uuid(Uuid),
    Name(String),
}

impl Ident {
    /// A canonical UUID string becomes `Uuid`, anything else `Name`.
    pub fn parse(s: &str) -> Ident {
        match ferrite_model::ident::parse_uuid(s) {
            Some(u) => Ident::Uuid(u),
            None => Ident::Name(s.to_string()),
        }
    }
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Uuid(u) => write!(f, "{u}"),
            Ident::Name(n) => f.write_str(n),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `"{kind} {id} could not be found."` — kind is `Node`, `Port`, `Chassis`, `Conductor`.
    #[error("{kind} {id} could not be found.")]
    NotFound { kind: &'static str, id: String },
    /// A unique field collided; the message is Ironic's wording, e.g.
    /// "A node with name n1 already exists."
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
}

/// A resource kept as a document.
pub trait Document: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Name used in messages ("Node", "Port", "Chassis").
    const KIND: &'static str;
    fn uuid(&self) -> Uuid;
    fn set_updated_at(&mut self, at: chrono::DateTime<chrono::Utc>);
}

/// One condition of a list query on a document field (top-level key).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// field == value (JSON scalar; `Value::Null` matches null/absent).
    Eq(String, Value),
    /// field equals one of the values.
    In(String, Vec<Value>),
    /// Case-insensitive equality on a string field.
    EqIgnoreCase(String, String),
    /// Field is (true) / is not (false) null.
    IsNull(String, bool),
    /// Case-insensitive substring of a string field.
    Contains(String, String),
    /// `owner` or `lessee` equals the project.
    OwnerOrLessee(String),
}

/// A page request: filters, ordering and paging.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    /// Field to order by; `"id"` (insertion order) when unset.
    pub sort_key: Option<String>,
    pub sort_desc: bool,
    /// At most this many rows (the API caps it at 1000).
    pub limit: Option<usize>,
    /// Return rows after the one with this uuid (or conductor hostname) in
    /// the requested order. An unknown marker is `NotFound`.
    pub marker: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { filters: Vec::new(), sort_key: None, sort_desc: false, limit: None, marker: None }
    }
}

/// The store handle; cheap to clone.
#[derive(Clone)]
pub struct Store {}

impl Store {
    /// Opens (creating and migrating) the database at `url` (`sqlite:PATH`).
    pub async fn open(_url: &str) -> Result<Store, StoreError> { unimplemented!() }

    /// Inserts a new document; `Conflict` when a unique field collides.
    pub async fn insert<D: Document>(&self, _doc: D) -> Result<D, StoreError> { unimplemented!() }

    /// Reads one document by uuid or (for nodes) name.
    pub async fn get<D: Document>(&self, _ident: &Ident) -> Result<D, StoreError> { unimplemented!() }

    /// Lists documents matching `query`.
    pub async fn list<D: Document>(&self, _query: &ListQuery) -> Result<Vec<D>, StoreError> { unimplemented!() }

    /// Counts documents matching the filters of `query`.
    pub async fn count<D: Document>(&self, _query: &ListQuery) -> Result<u64, StoreError> { unimplemented!() }

    /// Read-modify-write of one document in one transaction on the single
    /// writer path: `change` sees the current document and may refuse
    /// (returning `Err`, nothing is written) or mutate it; `updated_at` is
    /// stamped. The result is returned only once the change is durable.
    pub async fn update<D, T, E, F>(&self, _ident: &Ident, _change: F) -> Result<(D, T), E>
    where
        D: Document,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut D) -> Result<T, E> + Send + 'static,
    { unimplemented!() }

    /// Deletes one document by uuid. Deleting a node deletes its ports.
    pub async fn delete<D: Document>(&self, _uuid: Uuid) -> Result<(), StoreError> { unimplemented!() }

    /// Uuids of nodes that carry a pending intent and no reservation.
    pub async fn nodes_with_pending_intent(&self) -> Result<Vec<Uuid>, StoreError> { unimplemented!() }

    /// Registers (or re-registers) a conductor as online.
    pub async fn register_conductor(&self, _c: &Conductor) -> Result<(), StoreError> { unimplemented!() }
    /// Refreshes a conductor's `updated_at`.
    pub async fn heartbeat_conductor(&self, _hostname: &str) -> Result<(), StoreError> { unimplemented!() }
    /// Marks a conductor offline.
    pub async fn unregister_conductor(&self, _hostname: &str) -> Result<(), StoreError> { unimplemented!() }
    /// One conductor by hostname.
    pub async fn conductor(&self, _hostname: &str) -> Result<Conductor, StoreError> { unimplemented!() }
    /// Conductors, ordered and paged by hostname.
    pub async fn list_conductors(&self, _query: &ListQuery) -> Result<Vec<Conductor>, StoreError> { unimplemented!() }
}

/// Marker so unused imports of resource types stay referenced in the contract.
pub type Resources = (Node, Port, Chassis);
