//! Throwaway PostgreSQL databases for test suites (this crate's and the
//! binary's), so every test gets a database of its own on one test server.
//!
//! The first caller on a server builds a template database with every
//! migration applied (named after the migrations, so a changed migration
//! gets a new template); each test database is then a cheap copy of it.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::StoreError;

/// Serialises template creation across test processes (an arbitrary
/// constant for `pg_advisory_lock`).
const TEMPLATE_LOCK: i64 = 0x4665_7272_6974_6501;

/// `admin_url` with its database replaced by `db`.
pub fn with_database(admin_url: &str, db: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// Creates a new, fully migrated database on the server `admin_url`
/// points at (any database the user may connect to, such as `postgres`;
/// the user must be allowed to create databases) and returns its URL.
pub async fn create_database(admin_url: &str) -> Result<String, StoreError> {
    let mut admin = admin_url.parse::<PgConnectOptions>()?.connect().await?;
    let template = template_name();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut admin)
        .await?;
    let made = ensure_template(&mut admin, admin_url, &template).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut admin)
        .await?;
    made?;
    let name = format!("ferrite_test_{}", uuid::Uuid::new_v4().simple());
    // A copy is refused while anyone else is connected to the template,
    // which another process's just-finished build may briefly still be.
    let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
    let mut attempts = 0;
    while let Err(e) = sqlx::query(&create).execute(&mut admin).await {
        if attempts >= 50 || !is_in_use(&e) {
            return Err(e.into());
        }
        attempts += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    admin.close().await?;
    Ok(with_database(admin_url, &name))
}

/// Drops a database made by [`create_database`], closing whatever is still
/// connected to it.
pub async fn drop_database(admin_url: &str, url: &str) -> Result<(), StoreError> {
    let name = url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .filter(|n| n.starts_with("ferrite_test_"))
        .ok_or_else(|| {
            StoreError::Db(sqlx::Error::Configuration(
                format!("{url} is not a test database").into(),
            ))
        })?;
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// The template's name: a digest of the shipped migrations.
fn template_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in crate::postgres::MIGRATOR.iter() {
        m.version.hash(&mut h);
        m.checksum.hash(&mut h);
    }
    format!("ferrite_template_{:016x}", h.finish())
}

/// Creates and migrates the template unless it exists; the caller holds the
/// advisory lock, so only one process builds it.
async fn ensure_template(
    admin: &mut PgConnection,
    admin_url: &str,
    template: &str,
) -> Result<(), StoreError> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(template)
        .fetch_optional(&mut *admin)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let building = format!("{template}_building");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {building}"))
        .execute(&mut *admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {building}"))
        .execute(&mut *admin)
        .await?;
    // Migrated under another name and renamed once complete, so a process
    // that died half-way never leaves a half-migrated template behind.
    // One connection, closed before the rename: a pool may hand a
    // connection back (and keep it open) after it was told to close.
    let mut conn = PgConnection::connect(&with_database(admin_url, &building)).await?;
    crate::postgres::MIGRATOR
        .run(&mut conn)
        .await
        .map_err(sqlx::Error::from)?;
    conn.close().await?;
    // The server ends a closed session's backend a moment after the client
    // hangs up; until then the rename is refused ("being accessed").
    let rename = format!("ALTER DATABASE {building} RENAME TO {template}");
    let mut attempts = 0;
    loop {
        match sqlx::query(&rename).execute(&mut *admin).await {
            Ok(_) => return Ok(()),
            Err(e) if attempts < 50 && is_in_use(&e) => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// PostgreSQL's "object in use" (55006).
fn is_in_use(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55006")
}
