//! Fixtures shared by the test modules, and the harness that runs every
//! store test on each backend: SQLite on a file in a temporary directory,
//! PostgreSQL on a database of its own, copied from a migrated template on
//! the server `FERRITE_TEST_PG_URL` names (scripts/with-pg.sh starts a
//! throwaway one). Without that variable the PostgreSQL runs pass with a
//! note, unless `FERRITE_TEST_PG_REQUIRED=1`, when they fail.

use std::future::Future;

use chrono::Utc;
use ferrite_model::{Chassis, Node, Port};
use ferrite_store::{Store, testing};
use tempfile::TempDir;
use uuid::Uuid;

/// The backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store on a fresh database; keep the value alive as long as the store.
pub struct Db {
    pub store: Store,
    pub backend: Backend,
    url: String,
    /// The SQLite file's directory, removed when the test ends.
    _dir: Option<TempDir>,
}

impl Db {
    /// The database's URL, to reopen it or reach it directly.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

/// The PostgreSQL server's admin URL, `None` when the run has none (and
/// does not require one: then this panics, failing the test).
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("FERRITE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("FERRITE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "FERRITE_TEST_PG_REQUIRED=1 but FERRITE_TEST_PG_URL is not set"
            );
            eprintln!("note: FERRITE_TEST_PG_URL is not set; PostgreSQL run skipped");
            None
        }
    }
}

/// A fresh database on `backend`, opened.
pub async fn open_on(backend: Backend) -> Db {
    let (url, dir) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite:{}", dir.path().join("ferrite.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            let admin = pg_admin_url().expect("PostgreSQL run without a server");
            (testing::create_database(&admin).await.unwrap(), None)
        }
    };
    let store = Store::open(&url).await.unwrap();
    Db {
        store,
        backend,
        url,
        _dir: dir,
    }
}

/// Drops a PostgreSQL test database once its test has passed (a failed
/// test's database is left for a look; the cluster is thrown away anyway).
pub async fn discard(backend: Backend, url: &str) {
    if backend == Backend::Postgres
        && let Some(admin) = pg_admin_url()
    {
        testing::drop_database(&admin, url).await.unwrap();
    }
}

/// Runs `test` on a fresh database of `backend`, on a runtime of its own.
pub fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    if backend == Backend::Postgres && pg_admin_url().is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = open_on(backend).await;
        let url = db.url();
        test(db).await;
        discard(backend, &url).await;
    });
}

/// Runs one SQL statement on the test's database directly, beside the
/// store (to damage a row, or read what the store hides).
pub async fn raw_execute(db: &Db, sql: &str) {
    use sqlx::Connection;
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

/// Reads one integer with SQL on the test's database directly.
pub async fn raw_i64(db: &Db, sql: &str) -> i64 {
    use sqlx::Connection;
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// Declares each `async fn NAME(db: Db)` as two tests, `NAME::sqlite` and
/// `NAME::postgres`, each on a fresh database of its backend.
macro_rules! on_both_backends {
    ($(async fn $name:ident($db:ident: Db) $body:block)*) => {
        $(
            async fn $name($db: $crate::common::Db) $body

            mod $name {
                #[test]
                fn sqlite() {
                    $crate::common::run($crate::common::Backend::Sqlite, super::$name);
                }

                #[test]
                fn postgres() {
                    $crate::common::run($crate::common::Backend::Postgres, super::$name);
                }
            }
        )*
    };
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
