//! The status page (`/status`): the catalog running and the last reload it
//! refused, whether Prometheus and PostgreSQL answer, backfills in progress,
//! and the replicas sharing the database.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::layout::{budget_bar, time};
use super::overview::detail_href;
use crate::api::view::{DataState, SloStatus};
use crate::reload::Refusal;
use crate::store::leases::MemberRow;

/// What the handler gathered.
pub struct Status<'a> {
    pub catalog_version: String,
    pub catalog_slos: usize,
    pub catalog_paths: Vec<String>,
    pub catalog_loaded_at: DateTime<Utc>,
    pub refusal: Option<Refusal>,
    pub prometheus: Option<&'a str>,
    pub prometheus_failed_cycles: u64,
    pub database: Result<std::time::Duration, String>,
    pub database_failed_cycles: u64,
    pub published_at: Option<DateTime<Utc>>,
    pub cycle_duration: std::time::Duration,
    pub cycles_on_time: bool,
    pub statuses: Vec<&'a SloStatus>,
    /// None when the database could not be read.
    pub members: Option<Vec<MemberRow>>,
    pub replica: String,
}

fn ok(good: bool, yes: &str, no: &str) -> Markup {
    html! {
        @if good {
            span.badge.good { span aria-hidden="true" { "●" } " " (yes) }
        } @else {
            span.badge.bad { span aria-hidden="true" { "✕" } " " (no) }
        }
    }
}

fn catalog(s: &Status<'_>) -> Markup {
    html! {
        section.card aria-labelledby="h-catalog" {
            h2 #h-catalog { "Catalog" }
            dl.facts {
                dt { "Version" } dd { code #catalog-version { (s.catalog_version) } }
                dt { "SLOs" } dd { (s.catalog_slos) }
                dt { "Loaded" } dd { (time(s.catalog_loaded_at)) }
                dt { "Read from" } dd { @for p in &s.catalog_paths { code { (p) } " " } }
                dt { "Last reload" }
                dd {
                    @match &s.refusal {
                        None => (ok(true, "no errors", "")),
                        Some(r) => {
                            (ok(false, "", "refused")) " " (time(r.at)) " (" (r.reason) "); the catalog above keeps running."
                        }
                    }
                }
            }
            @if let Some(r) = &s.refusal {
                h3 { (r.errors.len()) " load error(s)" }
                ul #load-errors { @for e in &r.errors { li { code { (e) } } } }
            }
        }
    }
}

fn sources(s: &Status<'_>) -> Markup {
    let stale: Vec<&&SloStatus> = s
        .statuses
        .iter()
        .filter(|x| x.data_state == DataState::Stale)
        .collect();
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for x in &stale {
        *errors
            .entry(x.error.as_deref().unwrap_or("unknown"))
            .or_default() += 1;
    }
    html! {
        section.card aria-labelledby="h-prom" {
            h2 #h-prom { "Prometheus" }
            dl.facts {
                dt { "Server" } dd { @match s.prometheus { Some(url) => a href=(url) { (url) }, None => "—" } }
                dt { "Last cycle" }
                dd {
                    @match s.published_at {
                        Some(at) => { (time(at)) ", took " (format!("{:.1} s", s.cycle_duration.as_secs_f64())) " " (ok(s.cycles_on_time, "on time", "late")) }
                        None => "none yet",
                    }
                }
                dt { "Stale instances" } dd { (ok(stale.is_empty(), "none", &format!("{}", stale.len()))) }
                dt { "Failed cycles" } dd { (s.prometheus_failed_cycles) " since start" }
            }
            @if !errors.is_empty() {
                ul { @for (e, n) in errors.iter().take(5) { li { (n) "× " code { (e) } } } }
            }
        }
        section.card aria-labelledby="h-db" {
            h2 #h-db { "PostgreSQL" }
            dl.facts {
                dt { "Reachable" }
                dd {
                    @match &s.database {
                        Ok(took) => { (ok(true, "yes", "")) " (" (format!("{:.0} ms", took.as_secs_f64() * 1000.0)) ")" }
                        Err(e) => { (ok(false, "", "no")) " " (e) }
                    }
                }
                dt { "Failed cycles" } dd { (s.database_failed_cycles) " since start" }
            }
        }
    }
}

fn backfill(s: &Status<'_>) -> Markup {
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for x in &s.statuses {
        *states.entry(x.data_state.as_str()).or_default() += 1;
    }
    let loading: Vec<&&SloStatus> = s
        .statuses
        .iter()
        .filter(|x| matches!(x.data_state, DataState::Backfilling | DataState::Pending))
        .collect();
    html! {
        section.card aria-labelledby="h-backfill" {
            h2 #h-backfill { "Backfill" }
            p {
                @for (i, (state, n)) in states.iter().enumerate() {
                    @if i > 0 { " · " }
                    span.badge { (n) " " (state.replace('_', " ")) }
                }
            }
            @if loading.is_empty() {
                p #backfill { "Every instance has its history loaded." }
            } @else {
                ul #backfill {
                    @for x in loading.iter().take(50) {
                        li {
                            a href=(detail_href(&x.id)) { (x.id) } " "
                            @match x.backfill_progress {
                                Some(p) => { (budget_bar(Some(p))) span.sr { " loaded" } }
                                None => span.muted { "waiting" },
                            }
                        }
                    }
                }
                @if loading.len() > 50 { p.muted { "and " (loading.len() - 50) " more" } }
            }
        }
    }
}

fn replicas(s: &Status<'_>) -> Markup {
    html! {
        h2 { "Replicas" }
        @match &s.members {
            None => p.error { "The replicas cannot be read: the database is unavailable." },
            Some(members) => {
                div.table-wrap {
                    table {
                        caption.sr { "Replicas sharing the database" }
                        thead { tr {
                            th scope="col" { "Replica" } th scope="col" { "Host" } th scope="col" { "Heartbeat" }
                            th scope="col" { "State" } th scope="col" { "Catalog" } th.num scope="col" { "SLOs owned" }
                        } }
                        tbody {
                            @for m in members {
                                tr {
                                    th scope="row" { code { (m.id.simple().to_string().get(..8).unwrap_or_default()) } @if m.id.simple().to_string() == s.replica { " (this one)" } }
                                    td { (m.host) ", pid " (m.pid) }
                                    td { (time(m.heartbeat_at)) }
                                    td { (ok(m.live, if m.ready { "live, ready" } else { "live, not ready" }, "gone")) }
                                    td { code { (m.catalog_hash) } }
                                    td.num { (m.owned_slos) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The page's content.
pub fn render(s: &Status<'_>) -> Markup {
    html! {
        h1 { "Status" }
        div.cards {
            (catalog(s))
            (sources(s))
            (backfill(s))
        }
        (replicas(s))
    }
}
