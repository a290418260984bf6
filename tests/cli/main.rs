//! The commands SRE teams run in CI: `burnrate check` and `convert` on native,
//! Sloth, Pyrra and OpenSLO files (and MetricsQL ones with
//! `--promql-dialect metricsql`), and `burnrate rules` checked by promtool
//! and evaluated by a real Prometheus. The tests named `upstream_*` read the
//! upstream files `tests/upstream.toml` pins; `fresh_clone` checks how the
//! test command finds them, or leaves those tests out.

mod annotations;
mod check;
mod external_formats;
mod fresh_clone;
mod metricsql;
mod robustness;
mod rules;
