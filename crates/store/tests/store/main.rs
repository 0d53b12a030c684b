//! The store's test-suite, run on both backends: every test that takes a
//! database runs once on a SQLite file in a temporary directory and once
//! on a PostgreSQL database of its own (see `common`). One binary with
//! modules so it links once.

#[macro_use]
mod common;

mod allocations;
mod concurrency;
mod conductors;
mod coordination;
mod crud;
mod feed;
mod history;
mod paging;
mod query;
mod templates;
