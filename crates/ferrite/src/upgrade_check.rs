//! `ferrite upgrade-check`: what stands between this build and the
//! database and configuration it is about to run on, in the manner of
//! `ironic-status upgrade check`. Nothing is changed; each check says ok,
//! warning or failure with what to do, and the exit code is the worst
//! result: 0 ok, 1 warning, 2 failure.

use std::collections::BTreeMap;

use ferrite_model::{Node, ProvisionState};
use ferrite_store::{Filter, ListQuery, MigrationInfo, MigrationState, Store};
use serde::Serialize;
use serde_json::Value;

use crate::config::{AuthStrategy, Flags, Settings};

/// How one check came out; ordered so the worst is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Nothing to do.
    Ok,
    /// Works, but look at it (pending migrations, nodes that will fail).
    Warning,
    /// This build must not run as things stand.
    Failure,
}

impl Outcome {
    /// The exit code the outcome maps to.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Warning => 1,
            Outcome::Failure => 2,
        }
    }
}

/// One check's name, outcome and explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub result: Outcome,
    /// Why, and what to do about it.
    pub details: String,
}

fn check(check: &'static str, result: Outcome, details: impl Into<String>) -> Check {
    Check {
        check,
        result,
        details: details.into(),
    }
}

/// Runs every check. The configuration is loaded here (not by the caller)
/// because a configuration that does not load is itself a failed check.
pub async fn run(flags: &Flags) -> Vec<Check> {
    let settings = match crate::config::load(flags, None) {
        Ok(s) => s,
        Err(e) => {
            return vec![check(
                "configuration",
                Outcome::Failure,
                format!("{e:#}; the database was not checked"),
            )];
        }
    };
    let mut checks = vec![configuration(&settings)];
    let url = match &settings.database {
        Some(url) => url.clone(),
        None => match crate::config::database_url(&settings.data_dir) {
            Ok(url) => url,
            Err(e) => {
                checks.push(check("database", Outcome::Failure, format!("{e:#}")));
                return checks;
            }
        },
    };
    let shown = ferrite_store::redact_url(&url);
    let migrations = match Store::migrations(&url).await {
        Ok(m) => m,
        Err(e) => {
            checks.push(check(
                "database migrations",
                Outcome::Failure,
                format!("cannot read the database {shown}: {e}"),
            ));
            return checks;
        }
    };
    checks.push(migration_check(&shown, &migrations));
    if migrations
        .iter()
        .any(|m| m.state != MigrationState::Pending)
    {
        checks.push(node_check(&url).await);
    }
    checks
}

/// Configuration this build refuses or reads differently.
fn configuration(settings: &Settings) -> Check {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    if let Err(e) = crate::serve::refuse_unsafe_noauth(settings) {
        failures.push(format!("{e:#}"));
    }
    if settings.auth_strategy == AuthStrategy::HttpBasic
        && let Err(e) = crate::serve::load_auth(settings)
    {
        failures.push(format!("{e:#}"));
    }
    if settings.database.is_some() && settings.data_dir != Settings::default().data_dir {
        warnings.push(
            "data_dir is set but database is too: the database is the one the URL names and \
             data_dir is not used; drop data_dir"
                .to_string(),
        );
    }
    match (failures.is_empty(), warnings.is_empty()) {
        (true, true) => check("configuration", Outcome::Ok, "loads and is consistent"),
        (true, false) => check("configuration", Outcome::Warning, warnings.join("; ")),
        _ => check(
            "configuration",
            Outcome::Failure,
            failures
                .into_iter()
                .chain(warnings)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// Whether the database's schema is the one this build ships.
fn migration_check(shown: &str, migrations: &[MigrationInfo]) -> Check {
    let named = |state: MigrationState| -> Vec<String> {
        migrations
            .iter()
            .filter(|m| m.state == state)
            .map(|m| format!("{} {}", m.version, m.description))
            .collect()
    };
    let newer = named(MigrationState::Unknown);
    let broken: Vec<String> = named(MigrationState::Modified)
        .into_iter()
        .chain(named(MigrationState::Failed))
        .collect();
    let pending = named(MigrationState::Pending);
    if !newer.is_empty() {
        return check(
            "database migrations",
            Outcome::Failure,
            format!(
                "{shown} has migrations this build does not know ({}): it belongs to a newer \
                 ferrite; run that version",
                newer.join(", ")
            ),
        );
    }
    if !broken.is_empty() {
        return check(
            "database migrations",
            Outcome::Failure,
            format!(
                "{shown} has migrations that failed or differ from this build's ({}); restore \
                 the database from a backup",
                broken.join(", ")
            ),
        );
    }
    if !pending.is_empty() {
        return check(
            "database migrations",
            Outcome::Warning,
            format!(
                "{} pending on {shown} ({}); run `ferrite db upgrade` (ferrite serve also \
                 applies them at start)",
                pending.len(),
                pending.join(", ")
            ),
        );
    }
    check(
        "database migrations",
        Outcome::Ok,
        format!("{shown} is up to date ({} applied)", migrations.len()),
    )
}

/// Nodes this build cannot carry on with: unreadable ones (failure) and
/// ones in the middle of work that no conductor can resume (warning: they
/// are failed with a `last_error` when the conductor starts).
async fn node_check(url: &str) -> Check {
    const NAME: &str = "nodes";
    let store = match Store::open_unmigrated(url).await {
        Ok(s) => s,
        Err(e) => {
            return check(
                NAME,
                Outcome::Failure,
                format!("cannot open the database: {e}"),
            );
        }
    };
    let states = store
        .count_by::<Node>("provision_state", &ListQuery::default())
        .await;
    let result = match states {
        Err(e) => check(NAME, Outcome::Failure, format!("cannot read nodes: {e}")),
        Ok(states) => judge_states(&store, states).await,
    };
    store.close().await;
    result
}

async fn judge_states(store: &Store, states: Vec<(Value, u64)>) -> Check {
    const NAME: &str = "nodes";
    let mut unknown = Vec::new();
    let mut stuck: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    for (value, n) in states {
        total += n;
        match serde_json::from_value::<ProvisionState>(value.clone()) {
            Ok(s) if s.is_in_progress() => {
                stuck.insert(s.to_string(), n);
            }
            Ok(_) => {}
            Err(_) => unknown.push(format!("{n} in {value}")),
        }
    }
    if !unknown.is_empty() {
        return check(
            NAME,
            Outcome::Failure,
            format!(
                "nodes in provision states this build does not know: {}",
                unknown.join(", ")
            ),
        );
    }
    // Every node must still decode; a corrupt one would fail every list.
    if let Err(e) = store.list::<Node>(&ListQuery::default()).await {
        return check(
            NAME,
            Outcome::Failure,
            format!("nodes that cannot be read: {e}"),
        );
    }
    if stuck.is_empty() {
        return check(
            NAME,
            Outcome::Ok,
            format!("{total} nodes, none mid-operation"),
        );
    }
    let with_intent = store
        .count::<Node>(&ListQuery {
            filters: vec![
                Filter::In(
                    "provision_state".into(),
                    stuck.keys().map(|s| Value::String(s.clone())).collect(),
                ),
                Filter::IsNull("intent".into(), false),
            ],
            ..ListQuery::default()
        })
        .await
        .unwrap_or(0);
    let list: Vec<String> = stuck.iter().map(|(s, n)| format!("{n} {s}")).collect();
    check(
        NAME,
        Outcome::Warning,
        format!(
            "{} mid-operation ({}; {with_intent} of them with a pending request that restarts \
             it): an operation in progress cannot be resumed by another process, so the \
             conductor fails these at start with last_error set; let them finish before \
             upgrading",
            stuck.values().sum::<u64>(),
            list.join(", ")
        ),
    )
}

/// The checks as a table for people.
pub fn render_table(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("{:<width$}  {:<7}  details\n", "check", "result");
    for c in checks {
        let result = match c.result {
            Outcome::Ok => "ok",
            Outcome::Warning => "warning",
            Outcome::Failure => "failure",
        };
        out.push_str(&format!(
            "{:<width$}  {result:<7}  {}\n",
            c.check, c.details
        ));
    }
    out
}

/// The worst outcome of `checks`.
pub fn worst(checks: &[Check]) -> Outcome {
    checks.iter().map(|c| c.result).max().unwrap_or(Outcome::Ok)
}
