//! The commands SRE teams run in CI: `burnrate check` and `convert` on native,
//! Sloth, Pyrra and OpenSLO files, and `burnrate rules` checked by promtool
//! and evaluated by a real Prometheus.

mod annotations;
mod check;
mod external_formats;
mod robustness;
mod rules;
