//! Rebuilds the crate when a migration is added, so `sqlx::migrate!` never
//! embeds a stale set of migrations.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
