//! Raw error-ratio SLIs (Sloth's `sli.raw.error_ratio_query`) against a
//! real Prometheus: time-weighted, each minute's ratio one event, equal to
//! the per-minute average computed from the raw samples.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burnrate::catalog;
use burnrate::serve::runtime::SloRuntime;
use chrono::{TimeZone, Utc};
use testkit::synthetic::{HOUR, MINUTE};
use testkit::{Series, TestDatabase, TestPrometheus};

use super::ingestion::services;

const SLOTH: &str = r#"version: prometheus/v1
service: home-wifi
slos:
  - name: satisfaction
    objective: 95
    sli:
      raw:
        error_ratio_query: |
          1 - (
            sum(sum_over_time(client_satisfaction_ratio[{{.window}}]))
            /
            sum(count_over_time(client_satisfaction_ratio[{{.window}}]))
          )
    alerting:
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"#;

/// Two clients' satisfaction, sampled at :15 and :45 past each minute (off
/// the minute's edges): 0.99 mostly, one client at 0.5 for 40 minutes, and
/// a 20-minute gap where neither reports.
fn series(start: i64, end: i64) -> Vec<Series> {
    let value = |client: usize, t: i64| -> Option<f64> {
        let minute = (t - start) / MINUTE;
        if (100..120).contains(&minute) {
            return None;
        }
        Some(if client == 1 && (200..240).contains(&minute) {
            0.5
        } else {
            0.99 - 0.01 * client as f64
        })
    };
    (0..2)
        .map(|client| {
            let samples = (start / MINUTE..end / MINUTE)
                .flat_map(|m| [m * MINUTE + 15_000, m * MINUTE + 45_000])
                .filter_map(|t| value(client, t).map(|v| (t, v)));
            Series::new(
                "client_satisfaction_ratio",
                &[("client", ["a", "b"][client])],
                samples.collect::<Vec<_>>(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_error_ratios_are_averaged_per_minute_exactly() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let start = end - 6 * HOUR;
    let series = series(start, end);
    prom.remote_write(&series).await;
    let services = services(&prom, &db).await;

    let loaded = catalog::load_str(Path::new("wifi.yml"), SLOTH);
    let slo = match loaded.into_result() {
        Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
        Err(d) => panic!("{d:?}"),
    };
    assert!(slo.indicator.time_weighted());
    let mut runtime = SloRuntime::claim(Arc::new(slo), &services)
        .await
        .expect("lease");
    runtime
        .cycle(&services, Utc.timestamp_millis_opt(end + 20_000).unwrap())
        .await;
    let status = runtime.statuses().next().unwrap();
    assert!(status.time_weighted, "the status says so");

    // Truth: per minute (samples in (m, m + 1m]) one minus the mean of the
    // clients' samples; minutes without samples hold no event.
    let mut per_minute: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for s in &series {
        for &(t, v) in &s.samples {
            let m = (t - 1).div_euclid(MINUTE) * MINUTE;
            let e = per_minute.entry(m).or_default();
            e.0 += v;
            e.1 += 1.0;
        }
    }
    let in_window = |m: i64| m >= end - 30 * 24 * HOUR && m < end;
    let ratios: Vec<f64> = per_minute
        .iter()
        .filter(|(m, _)| in_window(**m))
        .map(|(_, (sum, n))| 1.0 - sum / n)
        .collect();
    let (bad, total) = (ratios.iter().sum::<f64>(), ratios.len() as f64);
    assert_eq!(
        status.events.total, total,
        "one event per minute with samples"
    );
    assert!(
        (status.events.total - status.events.good - bad).abs() < 1e-9,
        "bad {} vs exact {bad}",
        status.events.total - status.events.good
    );
    let remaining = status.error_budget.remaining.expect("budget");
    let exact = 1.0 - bad / total / 0.05;
    assert!((remaining - exact).abs() < 1e-9, "{remaining} vs {exact}");
    // The 40 minutes at 0.5 make the last hours' burn faster than the rest.
    assert!(total > 300.0 && bad / total > 0.02, "{bad} of {total}");
}
