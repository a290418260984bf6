//! Several `burnrate serve` replicas on one PostgreSQL: leases and fencing
//! in the database, and whole processes that split the work, take over from
//! each other when killed or frozen, and answer alike.

mod cluster;
mod fencing;
mod processes;
