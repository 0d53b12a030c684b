//! Fixtures shared by the test modules.

use chrono::Utc;
use ferrite_model::{Chassis, Node, Port};
use ferrite_store::Store;
use tempfile::TempDir;
use uuid::Uuid;

/// A store on a fresh file; keep the value alive as long as the store.
pub struct Db {
    pub dir: TempDir,
    pub store: Store,
}

impl Db {
    pub fn url(&self) -> String {
        url_in(&self.dir)
    }
}

pub fn url_in(dir: &TempDir) -> String {
    format!("sqlite:{}", dir.path().join("ferrite.db").display())
}

pub async fn open() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&url_in(&dir)).await.unwrap();
    Db { dir, store }
}

pub fn node(name: Option<&str>) -> Node {
    Node {
        uuid: Uuid::new_v4(),
        name: name.map(str::to_string),
        driver: "fake-hardware".into(),
        created_at: Utc::now(),
        ..Node::default()
    }
}

pub fn port(node: Uuid, address: &str) -> Port {
    Port {
        uuid: Uuid::new_v4(),
        address: address.into(),
        node_uuid: node,
        created_at: Utc::now(),
        ..Port::default()
    }
}

pub fn chassis(description: &str) -> Chassis {
    Chassis {
        uuid: Uuid::new_v4(),
        description: Some(description.into()),
        created_at: Utc::now(),
        ..Chassis::default()
    }
}
