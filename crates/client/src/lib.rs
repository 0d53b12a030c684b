//! ferrite-client
