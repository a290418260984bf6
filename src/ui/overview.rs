//! The overview (`/`): every SLO instance grouped by service, with the
//! release gate of each service. Filtering, search and sorting work from
//! the query string (so without JavaScript too); the page's script applies
//! the same rules in place as people type, from the `data-` attributes.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::format;
use super::layout::{alert_state, budget_bar, data_state, sr};
use crate::api::params::Params;
use crate::api::view::{AlertState, DataState, SloStatus};
use crate::gate::{Decision, Release};

/// The filters and order asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub service: String,
    /// An alert state (`firing`, `pending`, `inactive`) or a data state.
    pub state: String,
    /// `name:value` (or `name=value`).
    pub label: String,
    /// Part of an instance id, any case.
    pub search: String,
    pub sort: Sort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Name,
    /// Least budget left first.
    Budget,
    /// Fastest burn first.
    Burn,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Budget => "budget",
            Sort::Burn => "burn",
        }
    }
}

impl Query {
    /// From the query string; unknown values mean "no filter", never an error page.
    pub fn parse(params: &Params) -> Query {
        let text = |name: &str| {
            params
                .all(name, false)
                .first()
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let sort = match text("sort").as_str() {
            "budget" => Sort::Budget,
            "burn" => Sort::Burn,
            _ => Sort::Name,
        };
        Query {
            service: text("service"),
            state: text("state"),
            label: text("label"),
            search: text("q"),
            sort,
        }
    }

    /// Whether `s` passes every filter.
    pub fn matches(&self, s: &SloStatus) -> bool {
        let state_ok = self.state.is_empty()
            || s.alert_state.as_str() == self.state
            || s.data_state.as_str() == self.state;
        let label_ok = self.label.is_empty()
            || self
                .label
                .split_once([':', '='])
                .is_some_and(|(k, v)| s.labels.get(k.trim()).is_some_and(|x| x == v.trim()));
        (self.service.is_empty() || s.service == self.service)
            && state_ok
            && label_ok
            && (self.search.is_empty() || s.id.to_lowercase().contains(&self.search.to_lowercase()))
    }
}

/// The fastest burn among an instance's tiers (their long windows), else its 1h burn rate.
pub fn worst_burn(s: &SloStatus) -> Option<f64> {
    let tiers = s.alerts.iter().filter_map(|a| a.long_burn_rate);
    tiers
        .reduce(f64::max)
        .or_else(|| s.burn_rates.get("1h").copied().flatten())
}

/// The sort key: smaller sorts first; instances without a figure sort last.
fn key(sort: Sort, s: &SloStatus) -> f64 {
    match sort {
        Sort::Name => 0.0,
        Sort::Budget => s.error_budget.remaining.unwrap_or(f64::INFINITY),
        Sort::Burn => worst_burn(s).map_or(f64::INFINITY, |b| -b),
    }
}

/// One SLO: its matching instances (one, or several of a grouped SLO).
pub struct SloGroup<'a> {
    pub slo: &'a str,
    pub name: &'a str,
    pub grouped: bool,
    /// Instances in the SLO, before filtering.
    pub instances_total: usize,
    pub instances: Vec<&'a SloStatus>,
    key: f64,
}

/// One service's section.
pub struct ServiceGroup<'a> {
    pub service: &'a str,
    pub gate: Option<&'a Release>,
    pub slos: Vec<SloGroup<'a>>,
    key: f64,
}

/// The overview's content: services, their SLOs and instances, filtered
/// and in the order asked for.
pub fn build<'a>(
    statuses: impl Iterator<Item = &'a SloStatus>,
    gates: &'a BTreeMap<String, Release>,
    query: &Query,
) -> Vec<ServiceGroup<'a>> {
    let mut by_slo: BTreeMap<(&str, &str), Vec<&SloStatus>> = BTreeMap::new();
    for s in statuses {
        by_slo.entry((&s.service, &s.slo)).or_default().push(s);
    }
    let mut services: BTreeMap<&str, ServiceGroup<'a>> = BTreeMap::new();
    for ((service, slo), all) in by_slo {
        let grouped = all.iter().any(|s| !s.group.is_empty());
        let instances_total = all.len();
        let mut instances: Vec<&SloStatus> = all.into_iter().filter(|s| query.matches(s)).collect();
        if instances.is_empty() {
            continue;
        }
        instances.sort_by(|a, b| key(query.sort, a).total_cmp(&key(query.sort, b)));
        let group = SloGroup {
            slo,
            name: &instances[0].name,
            grouped,
            instances_total,
            key: key(query.sort, instances[0]),
            instances,
        };
        let entry = services.entry(service).or_insert_with(|| ServiceGroup {
            service,
            gate: gates.get(service),
            slos: Vec::new(),
            key: f64::INFINITY,
        });
        entry.key = entry.key.min(group.key);
        entry.slos.push(group);
    }
    let mut out: Vec<ServiceGroup<'a>> = services.into_values().collect();
    for service in &mut out {
        service.slos.sort_by(|a, b| a.key.total_cmp(&b.key));
    }
    out.sort_by(|a, b| a.key.total_cmp(&b.key));
    out
}

/// The detail page of an instance: its id percent-encoded as one segment.
pub fn detail_href(id: &str) -> String {
    format!(
        "/slos/{}",
        percent_encoding::utf8_percent_encode(id, crate::api::view::SEGMENT)
    )
}

fn gate_badge(release: Option<&Release>) -> Markup {
    let Some(r) = release else {
        return html! {};
    };
    let (symbol, class) = match r.decision {
        Decision::Allow => ("✓", "good"),
        Decision::Deny => ("✕", "bad"),
        Decision::Undecided => ("?", "warn"),
    };
    html! {
        span class=(format!("gate {class}")) title=(r.summary) data-gate=(r.decision.as_str()) {
            "Release gate: " span aria-hidden="true" { (symbol) } " " (r.decision.as_str())
        }
        @if r.decision != Decision::Allow {
            span.muted { (r.reasons.first().map(String::as_str).unwrap_or(&r.summary)) }
        }
    }
}

/// Data for the page's script: what its filters and sorting read.
fn row_data(s: &SloStatus) -> (String, String, String, String) {
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let states = format!("{} {}", s.data_state.as_str(), s.alert_state.as_str());
    let budget = s
        .error_budget
        .remaining
        .map_or(String::new(), |r| r.to_string());
    let burn = worst_burn(s).map_or(String::new(), |b| b.to_string());
    (labels.join("\n"), states, budget, burn)
}

fn tiers(s: &SloStatus) -> Markup {
    let burn = |rate: Option<f64>, threshold: Option<f64>| {
        let over = rate.zip(threshold).is_some_and(|(r, t)| r > t);
        html! {
            @if over {
                span.over { (format::or_dash(rate, format::burn)) (sr(" over the threshold")) }
            } @else {
                (format::or_dash(rate, format::burn))
            }
        }
    };
    html! {
        @if s.alerts.is_empty() {
            span.muted { "no tiers" }
        }
        ul.tiers {
            @for a in &s.alerts {
                li title=(format!("{} ({}): both windows over {} fire it", a.tier, a.severity.as_str(), format::or_dash(a.burn_rate_threshold, format::burn))) {
                    (a.tier) ": "
                    (a.long_window) " " (burn(a.long_burn_rate, a.burn_rate_threshold))
                    " · " (a.short_window) " " (burn(a.short_burn_rate, a.burn_rate_threshold))
                    span.muted.wide { " of " (format::or_dash(a.burn_rate_threshold, format::burn)) }
                }
            }
        }
    }
}

/// The pending and firing alerts of an instance, by name.
pub fn active_alerts(s: &SloStatus) -> Vec<(AlertState, String)> {
    let mut out: Vec<(AlertState, String)> = s
        .alerts
        .iter()
        .map(|a| (a.state, a.tier.clone()))
        .chain(
            s.budget_exhausted
                .as_ref()
                .map(|e| (e.state, "budget_exhausted".into())),
        )
        .chain(s.absent.as_ref().map(|a| (a.state, "absent".into())))
        .filter(|(state, _)| *state != AlertState::Inactive)
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out
}

fn alerts_cell(s: &SloStatus) -> Markup {
    let active = active_alerts(s);
    html! {
        @if active.is_empty() {
            span.muted { "none" }
        } @else {
            ul.tiers {
                @for (state, name) in &active {
                    li { (alert_state(*state)) " " (name) }
                }
            }
        }
    }
}

fn instance_row(s: &SloStatus, grouped: bool) -> Markup {
    let (labels, states, budget, burn) = row_data(s);
    let label = if grouped {
        s.id.strip_prefix(&s.slo).unwrap_or(&s.id).to_string()
    } else {
        s.name.clone()
    };
    html! {
        tr class=(if grouped { "row instance" } else { "row" }) data-id=(s.id) data-service=(s.service)
            data-labels=(labels) data-states=(states) data-budget=(budget) data-burn=(burn) {
            th scope="row" { a href=(detail_href(&s.id)) { (label) } }
            td.num { (format::objective(s.objective)) }
            td.wide { (s.window) }
            td data-col="budget" { (budget_bar(s.error_budget.remaining)) }
            td data-col="tiers" { (tiers(s)) }
            td data-col="data" { (data_state(s.data_state)) }
            td data-col="alerts" { (alerts_cell(s)) }
        }
    }
}

fn slo_rows(group: &SloGroup<'_>) -> Markup {
    let worst = group.instances[0];
    // Whatever the order, the group's row shows its lowest budget and fastest burn.
    let lowest = group
        .instances
        .iter()
        .filter_map(|s| s.error_budget.remaining)
        .min_by(f64::total_cmp);
    let fastest = group
        .instances
        .iter()
        .filter_map(|s| worst_burn(s))
        .max_by(f64::total_cmp);
    let firing = group
        .instances
        .iter()
        .filter(|s| s.alert_state == AlertState::Firing)
        .count();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &group.instances {
        *states.entry(s.data_state.as_str()).or_default() += 1;
    }
    html! {
        tbody.slo data-slo=(group.slo) data-grouped=[group.grouped.then_some("true")] {
            @if group.grouped {
                tr.group {
                    th scope="row" {
                        button.fold type="button" hidden aria-expanded="true" aria-label=(format!("Show or hide the instances of {}", group.slo)) { "▾" }
                        (group.name)
                        span.muted { " " (group.instances.len()) " of " (group.instances_total) " instances" }
                    }
                    td.num { (format::objective(worst.objective)) }
                    td.wide { (worst.window) }
                    td data-col="budget" { (budget_bar(lowest)) span.muted.wide { " lowest" } }
                    td data-col="tiers" { "fastest " (format::or_dash(fastest, format::burn)) }
                    td data-col="data" {
                        @for (state, n) in &states {
                            span.badge { (n) " " (state.replace('_', " ")) } " "
                        }
                    }
                    td data-col="alerts" {
                        @if firing > 0 { (alert_state(AlertState::Firing)) " " (firing) } @else { span.muted.nowrap { "none firing" } }
                    }
                }
            }
            @for s in &group.instances {
                (instance_row(s, group.grouped))
            }
        }
    }
}

fn filters(query: &Query, services: &[&str]) -> Markup {
    let states: Vec<&str> = AlertState::ALL
        .iter()
        .rev()
        .map(|s| s.as_str())
        .chain(DataState::ALL.iter().map(|s| s.as_str()))
        .collect();
    html! {
        form.filters method="get" action="/" role="search" aria-label="Filter SLOs" {
            label { "Search" input type="search" name="q" value=(query.search) placeholder="service/name"; }
            label { "Service"
                select name="service" {
                    option value="" { "All" }
                    @for s in services { option value=(s) selected[query.service == *s] { (s) } }
                }
            }
            label { "State"
                select name="state" {
                    option value="" { "Any" }
                    @for s in &states { option value=(s) selected[query.state == *s] { (s.replace('_', " ")) } }
                }
            }
            label { "Label" input type="text" name="label" value=(query.label) placeholder="team:payments"; }
            label { "Sort by"
                select name="sort" {
                    @for sort in [Sort::Name, Sort::Budget, Sort::Burn] {
                        option value=(sort.as_str()) selected[query.sort == sort] {
                            (match sort { Sort::Name => "name", Sort::Budget => "budget left", Sort::Burn => "burn rate" })
                        }
                    }
                }
            }
            button type="submit" { "Apply" }
        }
    }
}

/// The page's content.
pub fn render(
    groups: &[ServiceGroup<'_>],
    query: &Query,
    all_services: &[&str],
    counts: &Counts,
) -> Markup {
    html! {
        h1 { "SLOs" }
        ul.summary {
            li { strong { (counts.instances) } " instances of " strong { (counts.slos) } " SLOs in " (all_services.len()) " services" }
            li { (alert_state(AlertState::Firing)) " " strong data-count="firing" { (counts.firing) } }
            li { (alert_state(AlertState::Pending)) " " strong data-count="pending" { (counts.pending) } }
            li { "Evaluated " @match counts.evaluated_at { Some(at) => (super::layout::time(at)), None => "not yet" } }
        }
        (filters(query, all_services))
        p.muted #shown aria-live="polite" {
            @let shown: usize = groups.iter().flat_map(|g| &g.slos).map(|s| s.instances.len()).sum();
            (shown) " of " (counts.instances) " instances shown"
        }
        @for group in groups {
            section.service data-service=(group.service) aria-labelledby=(format!("svc-{}", group.service)) {
                header {
                    h2 #(format!("svc-{}", group.service)) { (group.service) }
                    (gate_badge(group.gate))
                }
                div.table-wrap {
                    table {
                        caption.sr { "SLOs of " (group.service) }
                        thead {
                            tr {
                                th scope="col" { "SLO" }
                                th.num scope="col" { "Objective" }
                                th.wide scope="col" { "Window" }
                                th scope="col" { "Budget left" }
                                th scope="col" { "Burn rate per alert tier (long · short window)" }
                                th scope="col" { "Data" }
                                th scope="col" { "Alerts" }
                            }
                        }
                        @for slo in &group.slos {
                            (slo_rows(slo))
                        }
                    }
                }
            }
        }
        @if groups.is_empty() {
            p { "No SLO instance matches these filters." }
        }
    }
}

/// Totals over every instance, before filtering.
pub struct Counts {
    pub instances: usize,
    pub slos: usize,
    pub firing: usize,
    pub pending: usize,
    pub evaluated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Counts {
    pub fn of<'a>(
        statuses: impl Iterator<Item = &'a SloStatus>,
        evaluated_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Counts {
        let mut counts = Counts {
            instances: 0,
            slos: 0,
            firing: 0,
            pending: 0,
            evaluated_at,
        };
        let mut slos = std::collections::BTreeSet::new();
        for s in statuses {
            counts.instances += 1;
            slos.insert(s.slo.as_str());
            match s.alert_state {
                AlertState::Firing => counts.firing += 1,
                AlertState::Pending => counts.pending += 1,
                AlertState::Inactive => {}
            }
        }
        counts.slos = slos.len();
        counts
    }
}

/// Each service's release decision now, as `GET /api/v1/gate?service=S`
/// would answer it, without recording it.
pub fn service_gates(
    catalog: &crate::catalog::Catalog,
    snapshot: &crate::evaluation::Snapshot,
    freshness: &crate::gate::Freshness,
) -> BTreeMap<String, Release> {
    let mut by_slo: BTreeMap<&str, Vec<&crate::evaluation::InstanceStatus>> = BTreeMap::new();
    for s in snapshot.instances.values() {
        by_slo.entry(&s.slo).or_default().push(s);
    }
    let mut by_service: BTreeMap<&str, Vec<(&crate::catalog::Slo, Vec<_>)>> = BTreeMap::new();
    for slo in &catalog.slos {
        let statuses = by_slo.remove(slo.id.as_str()).unwrap_or_default();
        by_service
            .entry(&slo.service)
            .or_default()
            .push((slo, statuses));
    }
    by_service
        .into_iter()
        .map(|(service, slos)| {
            let what = format!("service {service}");
            (
                service.to_string(),
                crate::gate::decide(&what, &slos, freshness),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::InstanceStatus;

    /// Instances of `shop/a` (budget 0.9, burn 0.5), `shop/b` (overspent,
    /// firing) and two of the grouped `web/c` (no data, and 0.2 left).
    fn statuses() -> Vec<SloStatus> {
        let text = "version: burnrate/v1\nservice: shop\nlabels: {team: pay}\nslos:\n  - {name: a, objective: 99, indicator: {bool_gauge: {metric: up}}}\n  - {name: b, objective: 99, indicator: {bool_gauge: {metric: up}}}\n---\nversion: burnrate/v1\nservice: web\nslos:\n  - {name: c, objective: 99, group_by: [route], indicator: {bool_gauge: {metric: up}}}\n";
        let catalog = crate::catalog::load_str(std::path::Path::new("t.yaml"), text)
            .into_result()
            .expect("valid catalog");
        let make = |slo: &str, group: &[(&str, &str)], state, budget: Option<f64>, burn: f64| {
            let slo = catalog.get(slo).expect("slo");
            let group: BTreeMap<String, String> = group
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let id = match group.iter().next() {
                Some((k, v)) => format!("{}{{{k}=\"{v}\"}}", slo.id),
                None => slo.id.to_string(),
            };
            let mut status = InstanceStatus::pending(slo, id, group);
            status.data_state = state;
            status.error_budget.remaining = budget;
            status.burn_rates.insert("1h".into(), Some(burn));
            SloStatus::of(&status)
        };
        let mut b = make("shop/b", &[], DataState::Ok, Some(-0.5), 30.0);
        b.alert_state = AlertState::Firing;
        vec![
            make("shop/a", &[], DataState::Ok, Some(0.9), 0.5),
            b,
            make("web/c", &[("route", "/x")], DataState::NoData, None, 0.0),
            make("web/c", &[("route", "/y")], DataState::Ok, Some(0.2), 2.0),
        ]
    }

    fn ids(groups: &[ServiceGroup<'_>]) -> Vec<String> {
        groups
            .iter()
            .flat_map(|g| &g.slos)
            .flat_map(|s| &s.instances)
            .map(|s| s.id.clone())
            .collect()
    }

    fn query(text: &str) -> Query {
        Query::parse(&Params::parse(text))
    }

    #[test]
    fn filters_match_as_the_page_script_does() {
        let all = statuses();
        let gates = BTreeMap::new();
        let shown = |q: &str| ids(&build(all.iter(), &gates, &query(q)));
        assert_eq!(shown("").len(), 4);
        assert_eq!(shown("state=firing"), ["shop/b"]);
        assert_eq!(shown("state=no_data"), ["web/c{route=\"/x\"}"]);
        assert_eq!(shown("service=web&q=%2FY"), ["web/c{route=\"/y\"}"]);
        assert_eq!(shown("label=team:pay"), ["shop/a", "shop/b"]);
        assert_eq!(shown("label=team%3Dpay&q=a"), ["shop/a"]);
        assert_eq!(shown("label=route:/x"), ["web/c{route=\"/x\"}"]);
        assert!(shown("label=nonsense").is_empty());
        assert_eq!(
            query("sort=whatever").sort,
            Sort::Name,
            "unknown values filter nothing"
        );
    }

    #[test]
    fn sorting_brings_the_worst_service_and_slo_first() {
        let all = statuses();
        let gates = BTreeMap::new();
        let by = |q: &str| ids(&build(all.iter(), &gates, &query(q)));
        assert_eq!(
            by("sort=budget"),
            [
                "shop/b",
                "shop/a",
                "web/c{route=\"/y\"}",
                "web/c{route=\"/x\"}"
            ]
        );
        assert_eq!(
            by("sort=burn"),
            [
                "shop/b",
                "shop/a",
                "web/c{route=\"/y\"}",
                "web/c{route=\"/x\"}"
            ]
        );
        let groups = build(all.iter(), &gates, &query(""));
        assert_eq!(groups[1].slos[0].instances_total, 2);
        assert!(groups[1].slos[0].grouped && !groups[0].slos[0].grouped);
        let counts = Counts::of(all.iter(), None);
        assert_eq!((counts.instances, counts.slos, counts.firing), (4, 3, 1));
    }
}
