//! The alerts page (`/alerts`): what is firing or pending now, from the
//! snapshot, and the latest transitions of every SLO, from PostgreSQL.

use maud::{Markup, html};

use super::detail::transitions_table;
use super::format;
use super::layout::{alert_state, time};
use super::overview::detail_href;
use crate::alerting::queries::ActiveAlert;
use crate::api::alerts::AlertTransition;

fn active_table(items: &[ActiveAlert]) -> Markup {
    html! {
        @if items.is_empty() {
            p { "Nothing is firing or pending." }
        } @else {
            div.table-wrap {
                table #active-alerts {
                    caption.sr { "Firing and pending alerts, firing first" }
                    thead { tr {
                        th scope="col" { "State" } th scope="col" { "Instance" } th scope="col" { "Alert" }
                        th scope="col" { "Severity" } th scope="col" { "Since" }
                        th.num scope="col" { "Long" } th.num scope="col" { "Short" } th.num scope="col" { "Threshold" }
                        th.num scope="col" { "Budget left" }
                    } }
                    tbody {
                        @for a in items {
                            tr data-state=(a.state.as_str()) {
                                td { (alert_state(a.state)) }
                                th scope="row" { a href=(detail_href(&a.instance)) { (a.instance) } }
                                td { (a.alert) @if let (Some(l), Some(s)) = (&a.long_window, &a.short_window) { span.muted { " (" (l) " and " (s) ")" } } }
                                td { (a.severity.as_str()) }
                                td { @if let Some(at) = a.since { (time(at)) } }
                                td.num { (format::or_dash(a.long_burn_rate, format::burn)) }
                                td.num { (format::or_dash(a.short_burn_rate, format::burn)) }
                                td.num {
                                    @match (a.kind, a.threshold) {
                                        ("budget_exhausted", Some(t)) => { "below " (format::percent(t)) }
                                        (_, Some(t)) => (format::burn(t)),
                                        _ => "—",
                                    }
                                }
                                td.num { (format::or_dash(a.budget_remaining, format::percent)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The page's content; `transitions` is none when the database could not be read.
pub fn render(active: &[ActiveAlert], transitions: Option<&[AlertTransition]>) -> Markup {
    let firing = active
        .iter()
        .filter(|a| a.state.as_str() == "firing")
        .count();
    html! {
        h1 { "Alerts" }
        p { strong { (firing) } " firing, " strong { (active.len() - firing) } " pending." }
        h2 { "Now" }
        (active_table(active))
        h2 { "Recent transitions" }
        @match transitions {
            Some(items) => (transitions_table(items, true)),
            None => p.error { "The alert history cannot be read: the database is unavailable." },
        }
    }
}
