//! `burnrate serve`: the scheduler, the catalog it runs, and the HTTP API.

pub mod runtime;
pub mod status;
