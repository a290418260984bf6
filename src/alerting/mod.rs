//! Burn-rate alerts beyond their evaluation: the labels and annotations every
//! alert carries, their state and history in PostgreSQL, and delivery to
//! Alertmanager. The evaluation itself (tiers, `for`, the minimum-events
//! guard) is the pure engine's ([`crate::engine::alerts`]).
//!
//! # Label contract
//!
//! The same label set identifies an alert whether `burnrate serve` sends it to
//! Alertmanager or Prometheus evaluates the rules of `burnrate rules`, so
//! routes and silences work for both. From lowest to highest precedence:
//!
//! 1. the SLO's own `labels` (with those of its directory and file layers);
//! 2. the alert policy's `labels` (`alerting.labels`, on every alert);
//! 3. the tier's `labels` (`alerting.tiers.<name>.labels`, Sloth's
//!    `page_alert.labels`): the most specific setting wins;
//! 4. `severity`: `page` or `ticket` from the tier (or the budget-exhausted
//!    or absent alert) unless layer 2 or 3 set it. Routing trees usually match on
//!    `severity`, and Sloth files put their own value there
//!    (`page_alert: {labels: {severity: pageteam}}`), so a configured value
//!    replaces burnrate's;
//! 5. identity labels, which nothing overrides (a policy label of the same
//!    name is ignored), because Alertmanager tells alerts apart by their
//!    labels and one alert must never swallow another: `alertname` (the
//!    policy's `name`, else `SLOBurnRate`; `SLOBudgetExhausted` for the
//!    budget-exhausted alert; `alerting.absent.name`, else `SLOMetricAbsent`,
//!    for the absent alert, which the catalog keeps apart from
//!    `SLOBudgetExhausted`), `service`, `slo` (the SLO's name), the group
//!    labels of a `group_by` SLO's instance, and `long_window` and
//!    `short_window` (burn-rate tiers only). A `group_by` on `service` makes
//!    the data's `service` value the label, as `sum by (service)` does in the
//!    generated rules.
//!
//! # Annotations
//!
//! `summary` and `description` (with the long- and short-window burn rates,
//! the threshold and the budget left), then the policy's and the tier's
//! annotations over them (so a catalog's own `summary`, `runbook_url` or
//! `dashboard_url` wins), then `dashboard_url` pointing at the instance in
//! burnrate's API when `--external-url` is set and the catalog gives none.
//! Catalog annotations may use `{{ $labels.NAME }}` and `{{ $value }}` (the
//! long-window burn rate, or the budget left for the exhaustion and absent
//! alerts); other
//! Go-template forms are sent as written.

pub mod delivery;
pub mod queries;
pub mod tracking;
pub mod transitions;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::catalog::Slo;
use crate::duration::Duration;
use crate::labels::Labels;

pub use delivery::{AlertSender, DeliverySettings, DeliveryStats, PostableAlert};
pub use tracking::{InstanceAlerts, TrackedAlert};

use crate::evaluation::{AlertFigures, AlertRef};

/// `alertname` of burn-rate alerts when the policy names none.
pub const DEFAULT_ALERTNAME: &str = "SLOBurnRate";
pub use crate::catalog::{ABSENT_ALERTNAME, EXHAUSTED_ALERTNAME};

/// Labels no catalog label may override.
pub const IDENTITY_LABELS: [&str; 5] =
    ["alertname", "service", "slo", "long_window", "short_window"];

/// The alert name of an SLO's alert.
pub fn alertname(slo: &Slo, alert: AlertRef<'_>) -> String {
    match alert {
        AlertRef::Tier(_) => slo
            .alerting
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_ALERTNAME.to_string()),
        AlertRef::BudgetExhausted(_) => EXHAUSTED_ALERTNAME.to_string(),
        AlertRef::Absent(a) => a.alertname().to_string(),
    }
}

/// Labels of every series and alert of an SLO before its group labels:
/// `service`, `slo` and the SLO's own labels. Labels the SLO groups by are left
/// out, since each instance's data sets them.
pub fn slo_series_labels(slo: &Slo) -> BTreeMap<String, String> {
    let grouped = |name: &str| slo.group_by.iter().any(|g| g == name);
    let mut out: BTreeMap<String, String> = slo
        .labels
        .iter()
        .filter(|(k, _)| !grouped(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !grouped("service") {
        out.insert("service".into(), slo.service.clone());
    }
    out.insert("slo".into(), slo.name.clone());
    out
}

/// The labels an alert adds over its SLO's series labels: the policy's and
/// the tier's (or absent alert's) labels (never an identity or group
/// label), `severity`, the tier's windows, and `service` and `slo` again.
/// What a generated alerting rule lists under `labels:`.
pub fn alert_rule_labels(slo: &Slo, alert: AlertRef<'_>) -> BTreeMap<String, String> {
    let reserved =
        |name: &str| IDENTITY_LABELS.contains(&name) || slo.group_by.iter().any(|g| g == name);
    let mut out = BTreeMap::new();
    let tier_labels = match alert {
        AlertRef::Tier(t) => Some(&t.labels),
        AlertRef::Absent(a) => Some(&a.labels),
        AlertRef::BudgetExhausted(_) => None,
    };
    for layer in std::iter::once(&slo.alerting.labels).chain(tier_labels) {
        for (k, v) in layer {
            if !reserved(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.entry("severity".into())
        .or_insert_with(|| alert.severity().as_str().to_string());
    if let AlertRef::Tier(t) = alert {
        out.insert("long_window".into(), t.long_window.to_string());
        out.insert("short_window".into(), t.short_window.to_string());
    }
    // Also on the series already; repeated so that no two SLOs' rules look alike
    // (promtool's duplicate-rule lint compares names and rule labels).
    if !slo.group_by.iter().any(|g| g == "service") {
        out.insert("service".into(), slo.service.clone());
    }
    out.insert("slo".into(), slo.name.clone());
    out
}

/// The complete label set of one instance's alert, as sent to Alertmanager.
pub fn alert_labels(slo: &Slo, group: &Labels, alert: AlertRef<'_>) -> BTreeMap<String, String> {
    let mut out = slo_series_labels(slo);
    out.extend(group.iter().map(|(k, v)| (k.clone(), v.clone())));
    out.extend(alert_rule_labels(slo, alert));
    out.insert("alertname".into(), alertname(slo, alert));
    // An empty value is no label at all to Prometheus (a series missing a
    // `group_by` label): drop it so both paths give the same label set.
    out.retain(|_, v| !v.is_empty());
    out
}

fn rate_text(rate: Option<f64>) -> String {
    rate.map_or_else(|| "no data".to_string(), |r| format!("{r:.2}x"))
}

fn percent_text(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "unknown".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// The name of an instance as people read it: `checkout/availability{route="/pay"}`.
pub fn instance_name(slo: &Slo, group: &Labels) -> String {
    format!("{}{}", slo.id, crate::labels::group_key_text(group))
}

/// Settings of `burnrate serve` for alerts.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// Base URL burnrate's API is reached at, for `dashboard_url` and `generatorURL`.
    pub external_url: Option<String>,
    /// Firing alerts are sent again at most this often (Prometheus' `--rules.alert.resend-delay`).
    pub resend_interval: Duration,
    /// The evaluation interval; with the resend interval it sets how long an
    /// alert stays valid without news: `endsAt = now + 4 * max(resend, interval)`,
    /// Prometheus' rule, so Alertmanager resolves alerts of a burnrate that died.
    pub eval_interval: Duration,
    /// Resolved alerts are sent again (with their `endsAt`) for this long, in
    /// case Alertmanager missed the first resolution (Prometheus keeps 15m).
    pub resolved_retention: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            external_url: None,
            resend_interval: Duration::from_mins(1),
            eval_interval: Duration::from_mins(1),
            resolved_retention: Duration::from_mins(15),
        }
    }
}

impl AlertSettings {
    /// How long a sent firing alert stays valid without being sent again.
    pub fn validity(&self) -> Duration {
        let base = self.resend_interval.max(self.eval_interval);
        Duration::from_millis(base.as_millis().saturating_mul(4))
    }

    /// The link to an instance in burnrate's API, when an external URL is set.
    pub fn instance_url(&self, instance_id: &str) -> Option<String> {
        let base = self.external_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/api/v1/slos/{}", encode_path(instance_id)))
    }
}

/// Alert settings of `burnrate serve`, before anything is started.
#[derive(Debug, Clone, Default)]
pub struct AlertingConfig {
    /// Alertmanager base URLs; every alert goes to each of them.
    pub alertmanager_urls: Vec<String>,
    pub settings: AlertSettings,
    pub delivery: DeliverySettings,
}

impl AlertingConfig {
    /// Starts the delivery workers (on the current Tokio runtime) when URLs are configured.
    pub fn start(&self) -> Result<Alerting, reqwest::Error> {
        let sender = if self.alertmanager_urls.is_empty() {
            None
        } else {
            Some(AlertSender::start(
                &self.alertmanager_urls,
                self.delivery.clone(),
            )?)
        };
        Ok(Alerting {
            settings: self.settings.clone(),
            sender,
        })
    }
}

/// What `burnrate serve` needs to deliver alerts: settings and, when
/// Alertmanager URLs are configured, the sender. Without a sender, alerts are
/// still evaluated, recorded and shown in the API.
#[derive(Debug, Clone, Default)]
pub struct Alerting {
    pub settings: AlertSettings,
    pub sender: Option<AlertSender>,
}

/// Percent-encodes a path segment list (keeps `/` and unreserved characters).
pub fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Annotations of an instance's alert (see the module documentation).
pub fn alert_annotations(
    slo: &Slo,
    group: &Labels,
    alert: AlertRef<'_>,
    labels: &BTreeMap<String, String>,
    figures: &AlertFigures,
    settings: &AlertSettings,
) -> BTreeMap<String, String> {
    let name = instance_name(slo, group);
    let window = slo.window.to_string();
    let mut out = BTreeMap::new();
    let (summary, description, value) = match alert {
        AlertRef::Tier(t) => (
            format!(
                "{name}: error budget burning {} as fast as it may ({} tier)",
                rate_text(figures.long_burn_rate),
                t.name
            ),
            format!(
                "{}Burn rate {} over {} and {} over {} (both above {}: {:.1}% of the {window} error budget in {}). Error budget left: {}.",
                slo.description
                    .as_deref()
                    .map(|d| format!("{} ", d.trim_end()))
                    .unwrap_or_default(),
                rate_text(figures.long_burn_rate),
                t.long_window,
                rate_text(figures.short_burn_rate),
                t.short_window,
                format_factor(t.burn_rate),
                t.budget_consumed * 100.0,
                t.long_window,
                percent_text(figures.budget_remaining),
            ),
            figures.long_burn_rate,
        ),
        AlertRef::BudgetExhausted(e) => (
            format!(
                "{name}: error budget exhausted ({} left)",
                percent_text(figures.budget_remaining)
            ),
            format!(
                "{}Error budget left over the {window} window: {} (alert threshold {}). Burn rate over the last hour: {}.",
                slo.description
                    .as_deref()
                    .map(|d| format!("{} ", d.trim_end()))
                    .unwrap_or_default(),
                percent_text(figures.budget_remaining),
                percent_text(Some(e.threshold)),
                rate_text(figures.long_burn_rate),
            ),
            figures.budget_remaining,
        ),
        AlertRef::Absent(a) => (
            format!("{name}: no samples, data absent"),
            format!(
                "{}The series of this SLO instance sent no samples for longer than burnrate's absence threshold (--absent-after){}, although its {window} window has events: the exporter, the scrape or the selector may be broken. Until data returns, the error budget ({} left) and the burn-rate alerts do not see what happens now.",
                slo.description
                    .as_deref()
                    .map(|d| format!("{} ", d.trim_end()))
                    .unwrap_or_default(),
                if a.for_duration.is_zero() {
                    String::new()
                } else {
                    format!(", then for {}", a.for_duration)
                },
                percent_text(figures.budget_remaining),
            ),
            figures.budget_remaining,
        ),
    };
    out.insert("summary".to_string(), summary);
    out.insert("description".to_string(), description);
    let tier_annotations = match alert {
        AlertRef::Tier(t) => Some(&t.annotations),
        AlertRef::BudgetExhausted(_) | AlertRef::Absent(_) => None,
    };
    let value_text = value.map_or_else(|| "NaN".to_string(), |v| format!("{v}"));
    for layer in std::iter::once(&slo.alerting.annotations).chain(tier_annotations) {
        for (k, v) in layer {
            out.insert(k.clone(), expand_template(v, labels, &value_text));
        }
    }
    if !out.contains_key("dashboard_url")
        && let Some(url) = settings.instance_url(&name)
    {
        out.insert("dashboard_url".to_string(), url);
    }
    out
}

/// A factor as people write it: `14.4`, `6`, `0.933`.
pub fn format_factor(factor: f64) -> String {
    let text = format!("{:.3}", factor);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Expands `{{ $labels.NAME }}` and `{{ $value }}` (spaces optional); leaves
/// any other `{{ ... }}` as written.
pub fn expand_template(text: &str, labels: &BTreeMap<String, String>, value: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = after[..end].trim();
        let replacement = if inner == "$value" || inner == ".Value" {
            Some(value.to_string())
        } else {
            inner
                .strip_prefix("$labels.")
                .or_else(|| inner.strip_prefix(".Labels."))
                .map(|name| labels.get(name).cloned().unwrap_or_default())
        };
        match replacement {
            Some(r) => out.push_str(&r),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::catalog;

    fn slo(yaml: &str) -> Slo {
        let source =
            format!("version: burnrate/v1\nservice: shop\nlabels: {{team: web}}\nslos:\n{yaml}");
        match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
            Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
            Err(d) => panic!("{d:?}"),
        }
    }

    const BASE: &str = "  - name: availability
    objective: 99.9
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total
";

    fn tier<'a>(slo: &'a Slo, name: &str) -> AlertRef<'a> {
        AlertRef::Tier(
            slo.alerting
                .tiers
                .iter()
                .find(|t| t.name == name)
                .expect("tier"),
        )
    }

    fn labels(pairs: &[(&str, &str)]) -> crate::labels::Labels {
        crate::labels::from_pairs(pairs)
    }

    #[test]
    fn default_labels_of_a_page_tier() {
        let s = slo(BASE);
        let got = alert_labels(&s, &Labels::new(), tier(&s, "page-1h"));
        let want = labels(&[
            ("alertname", "SLOBurnRate"),
            ("service", "shop"),
            ("slo", "availability"),
            ("team", "web"),
            ("severity", "page"),
            ("long_window", "1h"),
            ("short_window", "5m"),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn label_precedence_table() {
        let yaml = format!(
            "{BASE}    group_by: [route]
    labels: {{team: slo-team, tier: gold}}
    alerting:
      name: ShopBurn
      labels: {{severity: critical, tier: policy, pager: shop, slo: nope, alertname: nope, route: nope}}
      tiers:
        page-1h:
          labels: {{severity: pageteam, pager: night, long_window: nope}}
      budget_exhausted: true
"
        );
        let s = slo(&yaml);
        let group: Labels = [("route".to_string(), "/pay".to_string())].into();
        let page = alert_labels(&s, &group, tier(&s, "page-1h"));
        let ticket = alert_labels(&s, &group, tier(&s, "ticket-1d"));
        let exhausted = alert_labels(
            &s,
            &group,
            AlertRef::BudgetExhausted(s.alerting.budget_exhausted.as_ref().expect("on")),
        );
        // (case, alert labels, label, expected value)
        #[rustfmt::skip]
        let cases = [
            ("tier severity beats policy and default", &page,      "severity",     Some("pageteam")),
            ("policy severity beats default",          &ticket,    "severity",     Some("critical")),
            ("policy severity on exhaustion too",      &exhausted, "severity",     Some("critical")),
            ("tier label beats policy label",          &page,      "pager",        Some("night")),
            ("policy label where the tier has none",   &ticket,    "pager",        Some("shop")),
            ("policy label beats SLO label",           &page,      "tier",         Some("policy")),
            ("SLO label kept",                         &page,      "team",         Some("slo-team")),
            ("alertname from the policy",              &page,      "alertname",    Some("ShopBurn")),
            ("exhaustion has its own alertname",       &exhausted, "alertname",    Some("SLOBudgetExhausted")),
            ("slo is identity",                        &page,      "slo",          Some("availability")),
            ("group label is identity",                &page,      "route",        Some("/pay")),
            ("windows are identity",                   &page,      "long_window",  Some("1h")),
            ("ticket windows",                         &ticket,    "short_window", Some("2h")),
            ("exhaustion has no windows",              &exhausted, "long_window",  None),
            ("service from the SLO",                   &page,      "service",      Some("shop")),
            ("exhaustion service",                     &exhausted, "service",      Some("shop")),
        ];
        for (case, got, name, want) in cases {
            assert_eq!(got.get(name).map(String::as_str), want, "{case}: {got:?}");
        }
    }

    #[test]
    fn grouping_by_service_takes_the_data_value() {
        let s = slo(&format!("{BASE}    group_by: [service]\n"));
        let group: Labels = [("service".to_string(), "cart".to_string())].into();
        let got = alert_labels(&s, &group, tier(&s, "page-6h"));
        assert_eq!(got["service"], "cart");
        assert!(!slo_series_labels(&s).contains_key("service"));
    }

    #[test]
    fn annotations_report_numbers_and_let_the_catalog_win() {
        let yaml = format!(
            "{BASE}    description: Shop requests.
    alerting:
      annotations: {{runbook_url: \"https://runbooks/{{{{ $labels.slo }}}}\", summary: policy}}
      tiers:
        page-1h:
          annotations: {{summary: \"{{{{$labels.service}}}} burns {{{{ $value }}}} {{{{ humanize 1 }}}}\"}}
"
        );
        let s = slo(&yaml);
        let alert = tier(&s, "page-1h");
        let labels = alert_labels(&s, &Labels::new(), alert);
        let figures = AlertFigures {
            long_burn_rate: Some(20.5),
            short_burn_rate: Some(30.0),
            budget_remaining: Some(0.875),
        };
        let settings = AlertSettings {
            external_url: Some("https://burnrate.example/".into()),
            ..AlertSettings::default()
        };
        let got = alert_annotations(&s, &Labels::new(), alert, &labels, &figures, &settings);
        assert_eq!(got["summary"], "shop burns 20.5 {{ humanize 1 }}");
        assert_eq!(got["runbook_url"], "https://runbooks/availability");
        assert_eq!(
            got["description"],
            "Shop requests. Burn rate 20.50x over 1h and 30.00x over 5m (both above 14.4: 2.0% of the 30d error budget in 1h). Error budget left: 87.5%."
        );
        assert_eq!(
            got["dashboard_url"],
            "https://burnrate.example/api/v1/slos/shop/availability"
        );
        let ticket = tier(&s, "ticket-3d");
        let got = alert_annotations(
            &s,
            &Labels::new(),
            ticket,
            &labels,
            &AlertFigures::default(),
            &AlertSettings::default(),
        );
        assert_eq!(got["summary"], "policy");
        assert!(got["description"].contains("no data over 3d"), "{got:?}");
        assert!(!got.contains_key("dashboard_url"));
    }

    #[test]
    fn instance_urls_are_encoded() {
        let settings = AlertSettings {
            external_url: Some("http://b:8080".into()),
            ..AlertSettings::default()
        };
        assert_eq!(
            settings.instance_url("shop/a{route=\"/p q\"}").as_deref(),
            Some("http://b:8080/api/v1/slos/shop/a%7Broute%3D%22/p%20q%22%7D")
        );
        assert_eq!(format_factor(14.4), "14.4");
        assert_eq!(format_factor(6.0), "6");
        assert_eq!(format_factor(0.9333333), "0.933");
        let validity = AlertSettings::default().validity();
        assert_eq!(validity, Duration::from_mins(4));
    }
}
