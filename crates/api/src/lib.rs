//! ferrite-api
