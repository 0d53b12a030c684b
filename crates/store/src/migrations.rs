//! What a database has applied, against what this build ships: the basis
//! of `ferrite db upgrade` and `ferrite upgrade-check`, the same for every
//! backend (each reads its own `_sqlx_migrations` table).

use sqlx::migrate::Migrator;

/// One migration, shipped or found applied, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    /// The migration's number (the file name's prefix).
    pub version: i64,
    /// What it does, from its file name.
    pub description: String,
    /// Where it stands in this database.
    pub state: MigrationState,
}

/// Where a migration stands in one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationState {
    /// Applied, and the same as the file this build ships.
    Applied,
    /// Shipped and not applied yet: `ferrite db upgrade` applies it.
    Pending,
    /// Applied from a file that differs from the one shipped: the schema
    /// may not be what this build expects.
    Modified,
    /// Started and did not finish: the schema is half-changed.
    Failed,
    /// Applied but not shipped: a newer build owns this database.
    Unknown,
}

impl MigrationState {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::Modified => "modified",
            MigrationState::Failed => "failed",
            MigrationState::Unknown => "unknown",
        }
    }
}

/// One row of `_sqlx_migrations`: version, description, checksum, success.
pub(crate) type AppliedRow = (i64, String, Vec<u8>, bool);

/// The SELECT every backend reads its applied migrations with.
pub(crate) const APPLIED: &str =
    "SELECT version, description, checksum, success FROM _sqlx_migrations ORDER BY version";

/// Compares what `migrator` ships with what the database `applied`.
pub(crate) fn report(migrator: &Migrator, applied: &[AppliedRow]) -> Vec<MigrationInfo> {
    let mut out: Vec<MigrationInfo> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| {
            let state = match applied.iter().find(|a| a.0 == m.version) {
                None => MigrationState::Pending,
                Some((_, _, _, false)) => MigrationState::Failed,
                Some((_, _, sum, true)) if *sum != *m.checksum => MigrationState::Modified,
                Some(_) => MigrationState::Applied,
            };
            MigrationInfo {
                version: m.version,
                description: m.description.to_string(),
                state,
            }
        })
        .collect();
    for (version, description, _, _) in applied {
        if !out.iter().any(|m| m.version == *version) {
            out.push(MigrationInfo {
                version: *version,
                description: description.clone(),
                state: MigrationState::Unknown,
            });
        }
    }
    out.sort_by_key(|m| m.version);
    out
}
