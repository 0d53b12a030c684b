//! `ferrite db upgrade` and `ferrite upgrade-check`, run as the real binary
//! against a real database: SQLite in a temporary directory, and PostgreSQL
//! when the run provides a server (`FERRITE_TEST_PG_URL`; required, not
//! skipped, when `FERRITE_TEST_PG_REQUIRED=1`).

use std::process::{Command, Output};

use chrono::Utc;
use ferrite_model::{Node, ProvisionState};
use ferrite_store::{Store, testing};
use serde_json::Value;
use uuid::Uuid;

/// Runs `ferrite ARGS…` with none of the test's own configuration.
fn ferrite(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrite"));
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("FERRITE_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run the ferrite binary")
}

/// `upgrade-check --format json`: the exit code and the report.
fn check(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["upgrade-check", "--format", "json"];
    all.extend_from_slice(args);
    let out = ferrite(&all, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let code = out.status.code().expect("exited");
    assert_eq!(report["exit_code"], code, "{report}");
    (code, report)
}

/// The result of the check named `name` in `report`.
fn result_of<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == name))
        .and_then(|c| c["result"].as_str())
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn stuck_node() -> Node {
    Node {
        uuid: Uuid::new_v4(),
        driver: "fake-hardware".into(),
        provision_state: ProvisionState::Deploying,
        created_at: Utc::now(),
        ..Node::default()
    }
}

/// Puts a node mid-deploy into the database, as a conductor that died
/// would have left it.
fn leave_node_deploying(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(url).await.unwrap();
        store.insert(stuck_node()).await.unwrap();
        store.close().await;
    });
}

/// The checks every backend must pass once migrated: ok, then a warning
/// for a node mid-operation, then a failure for a database a newer build
/// migrated.
fn migrated_database_checks(db_args: &[&str], url: &str, mark_newer: &str) {
    let (code, report) = check(db_args);
    assert_eq!(code, 0, "{report}");
    assert_eq!(result_of(&report, "database migrations"), "ok");
    assert_eq!(result_of(&report, "nodes"), "ok");

    leave_node_deploying(url);
    let (code, report) = check(db_args);
    assert_eq!(code, 1, "{report}");
    assert_eq!(result_of(&report, "nodes"), "warning");
    assert!(report.to_string().contains("1 deploying"), "{report}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(mark_newer).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(mark_newer).execute(&mut c).await.unwrap();
        }
    });
    let (code, report) = check(db_args);
    assert_eq!(code, 2, "{report}");
    assert_eq!(result_of(&report, "database migrations"), "failure");
    assert!(report.to_string().contains("newer ferrite"), "{report}");
}

#[test]
fn sqlite_fresh_pending_upgraded_then_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // A site that never ran: everything pending, and nothing created.
    let (code, report) = check(&["--data-dir", d]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(result_of(&report, "database migrations"), "warning");
    assert!(!dir.path().join("ferrite.sqlite").exists());

    let out = ferrite(&["db", "upgrade", "--data-dir", d], &[]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("applied") && said.contains("initial"),
        "{said}"
    );
    let out = ferrite(&["db", "upgrade", "--data-dir", d], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let url = format!("sqlite:{}", dir.path().join("ferrite.sqlite").display());
    migrated_database_checks(
        &["--data-dir", d],
        &url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    );

    // The table format says the same to people, with the same exit code.
    let out = ferrite(&["upgrade-check", "--data-dir", d], &[]);
    assert_eq!(out.status.code(), Some(2));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("check"), "{table}");
    assert!(table.contains("failure"), "{table}");
}

#[test]
fn refused_configuration_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferrite.toml");
    std::fs::write(&config, "listen = \"0.0.0.0:6385\"\n").unwrap();
    let (code, report) = check(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{report}");
    assert_eq!(result_of(&report, "configuration"), "failure");

    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    let (code, report) = check(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{report}");
    assert!(report.to_string().contains("no_such_key"), "{report}");

    let (code, report) = check(&["--database", "mysql://db/ferrite"]);
    assert_eq!(code, 2, "{report}");
}

#[test]
fn postgres_upgrade_and_checks() {
    let Some(admin) = std::env::var("FERRITE_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("FERRITE_TEST_PG_REQUIRED").as_deref() != Ok("1"),
            "FERRITE_TEST_PG_REQUIRED=1 but FERRITE_TEST_PG_URL is not set"
        );
        eprintln!("note: FERRITE_TEST_PG_URL is not set; PostgreSQL run skipped");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(testing::create_database(&admin)).unwrap();
    let out = ferrite(&["db", "upgrade", "--database", &url], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    // From the environment as well as the flag.
    let out = ferrite(&["upgrade-check"], &[("FERRITE_DATABASE", &url)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    migrated_database_checks(
        &["--database", &url],
        &url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    );
    rt.block_on(testing::drop_database(&admin, &url)).unwrap();
}
