//! Loads a generated catalog of 10,000 SLOs (100 files of 100) and reports
//! the time per load. Run: `cargo bench --bench catalog_load`.

use std::fmt::Write as _;
use std::time::Instant;

fn slo(i: usize) -> String {
    let mut s = String::new();
    let _ = write!(s, "  - name: slo-{i}\n    objective: 99.{}\n", i % 10);
    let _ = match i % 4 {
        0 => write!(
            s,
            "    indicator:\n      ratio:\n        errors: http_requests_total{{service=\"s{i}\",code=~\"5..\"}}\n        total: http_requests_total{{service=\"s{i}\"}}\n    group_by: [route]\n"
        ),
        1 => write!(
            s,
            "    window: 28d\n    indicator:\n      latency:\n        histogram: http_request_duration_seconds_bucket{{service=\"s{i}\"}}\n        threshold: 300ms\n"
        ),
        2 => write!(
            s,
            "    window: {{calendar: month, time_zone: Europe/Berlin}}\n    indicator:\n      bool_gauge: {{metric: 'probe_success{{target=\"t{i}\"}}'}}\n"
        ),
        _ => write!(
            s,
            "    indicator:\n      events:\n        bad: sum(increase(jobs_failed_total{{job=\"j{i}\"}}[{{{{.window}}}}]))\n        total: sum(increase(jobs_total{{job=\"j{i}\"}}[{{{{.window}}}}]))\n    alerting:\n      tiers:\n        ticket-3d: {{enabled: false}}\n"
        ),
    };
    s
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = 100;
    let per_file = 100;
    std::fs::write(
        dir.path().join("defaults.yaml"),
        "version: burnrate/v1\nkind: Defaults\nlabels: {env: prod}\nwindow: 30d\n",
    )
    .expect("write");
    for f in 0..files {
        let mut doc = format!(
            "version: burnrate/v1\nservice: svc-{f}\nlabels: {{team: t{}}}\nslos:\n",
            f % 7
        );
        for j in 0..per_file {
            doc.push_str(&slo(f * per_file + j));
        }
        std::fs::write(dir.path().join(format!("svc-{f}.yaml")), doc).expect("write");
    }
    let paths = vec![dir.path().to_path_buf()];
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let loaded = burnrate::catalog::load_paths(&paths).expect("load");
        times.push(start.elapsed());
        assert_eq!(
            loaded.catalog.slos.len(),
            files * per_file,
            "{:?}",
            loaded.diagnostics.sorted().first()
        );
    }
    times.sort();
    println!(
        "catalog_load: {} SLOs in {} files: median {:.0} ms, min {:.0} ms, max {:.0} ms (7 runs)",
        files * per_file,
        files + 1,
        times[3].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[6].as_secs_f64() * 1e3
    );
}
