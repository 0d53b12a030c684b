//! The store's test-suite, against real SQLite files in temporary
//! directories. One binary with modules so it links once.

mod allocations;
mod common;
mod concurrency;
mod conductors;
mod crud;
mod feed;
mod history;
mod paging;
mod query;
mod templates;
