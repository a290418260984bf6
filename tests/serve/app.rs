//! The whole `burnrate serve` application: catalog reloads without restart,
//! and a process killed in the middle of a backfill.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::serve::{App, ServeSettings};
use burnrate::store::{Store, StoredHour};
use chrono::Utc;
use testkit::synthetic::{DAY, HOUR, MINUTE, Scenario};
use testkit::{TestDatabase, TestPrometheus};

fn scenario(end: i64) -> Scenario {
    Scenario {
        start: end - 8 * DAY,
        end,
        scrape: 30_000,
        incidents: vec![],
        outages: vec![],
        restarts: vec![],
        late_routes: vec![],
    }
}

fn slo_file(name: &str) -> String {
    format!(
        "version: burnrate/v1\nservice: shop\nslos:\n  - name: {name}\n    objective: 99.9\n    window: 7d\n    indicator:\n      ratio:\n        errors: http_requests_total{{code=\"500\"}}\n        total: http_requests_total\n"
    )
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// New SLOs are picked up from the files, a broken catalog is refused while
/// the last good one keeps running, and a removed SLO stops being evaluated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_apply_without_restart() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    prom.remote_write(&scenario(end).series()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.yaml"), slo_file("first")).expect("write");
    let settings = ServeSettings {
        catalog: vec![dir.path().to_path_buf()],
        promql_dialect: Default::default(),
        prometheus: PrometheusConfig::new(prom.url()),
        database_url: burnrate::secret::Secret::new(db.url()),
        listen: "127.0.0.1:0".parse().expect("addr"),
        interval: burnrate::duration::Duration::from_mins(1),
        concurrency: 4,
        backfill_concurrency: 2,
        ingest: IngestSettings::default(),
        watch_interval: Duration::from_millis(100),
        lease_ttl: None,
        api: Default::default(),
        alerting: Default::default(),
    };
    let app = App::build(settings).await.expect("app");
    let state = app.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let ids = || {
        state
            .snapshot()
            .instances
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_for("the first evaluation", Duration::from_secs(60), || {
        ids() == ["shop/first"]
    })
    .await;

    std::fs::write(dir.path().join("b.yaml"), slo_file("second")).expect("write");
    wait_for("the new SLO", Duration::from_secs(60), || {
        ids() == ["shop/first", "shop/second"]
    })
    .await;

    std::fs::write(
        dir.path().join("broken.yaml"),
        "version: burnrate/v1\nservice: shop\nslos:\n  - name: third\n    objective: 120\n",
    )
    .expect("write");
    let refused = state
        .reloader
        .reload("test")
        .expect_err("a broken catalog is refused");
    assert!(
        refused.to_string().contains("broken.yaml:5:16"),
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ids(),
        ["shop/first", "shop/second"],
        "the last good catalog keeps running"
    );
    assert_eq!(state.reloader.current().slos.len(), 2);

    std::fs::remove_file(dir.path().join("broken.yaml")).expect("remove");
    std::fs::remove_file(dir.path().join("a.yaml")).expect("remove");
    wait_for("the removed SLO to go", Duration::from_secs(60), || {
        ids() == ["shop/second"]
    })
    .await;
    let _ = stop.send(());
    server.await.expect("join").expect("server");
}

fn spawn_serve(catalog: &Path, prom: &str, db: &str, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(["serve", "--catalog"])
        .arg(catalog)
        .args([
            "--prometheus-url",
            prom,
            "--database-url",
            db,
            "--listen",
            "127.0.0.1:0",
            "--backfill-chunk",
            "2h",
            // A restart after SIGKILL takes over its predecessor's lease soon.
            "--lease-ttl",
            "3s",
        ])
        .env("RUST_LOG", "info,burnrate=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start burnrate serve")
}

/// `burnrate serve` killed with SIGKILL in the middle of its backfill and
/// started again: no bucket is missing or counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_backfill_leaves_no_duplicate_or_missing_bucket() {
    let prom = TestPrometheus::start().await;
    let (killed_db, reference_db) = (TestDatabase::create().await, TestDatabase::create().await);
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    prom.remote_write(&scenario(end).series()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("slos.yaml");
    std::fs::write(&catalog, slo_file("availability")).expect("write");
    let log = dir.path().join("serve.log");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut first = spawn_serve(&catalog, &prom.url(), killed_db.url(), &log);
    let start = Instant::now();
    while read_log().matches("backfill chunk stored").count() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no backfill progress:\n{}",
            read_log()
        );
        assert!(
            first.try_wait().expect("wait").is_none(),
            "serve exited:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reap");
    assert!(
        !read_log().contains("backfill complete"),
        "the kill came too late to interrupt the backfill"
    );

    let log = dir.path().join("serve-again.log");
    let mut second = spawn_serve(&catalog, &prom.url(), killed_db.url(), &log);
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("backfill complete")
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no complete backfill after restart:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().expect("stop");
    second.wait().expect("reap");

    // The same history ingested in one go, for reference.
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(reference_db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: Default::default(),
    };
    let slo = burnrate::catalog::load_paths(std::slice::from_ref(&catalog))
        .expect("load")
        .into_result()
        .expect("valid")
        .slos
        .remove(0);
    let mut reference = SloRuntime::claim(slo, &services).await.expect("lease");
    reference.cycle(&services, Utc::now()).await;

    // Hours that hold data (the data ends 10 minutes ago; both runs saw all of it).
    let until = end - end.rem_euclid(HOUR) - HOUR;
    let rows = |url: String| async move {
        let store = Store::connect(&url).await.expect("store");
        let mut rows = store.stored_hours().await.expect("rows");
        rows.retain(|h| h.hour.timestamp_millis() < until);
        rows
    };
    let (killed, expected) = (
        rows(killed_db.url().to_string()).await,
        rows(reference_db.url().to_string()).await,
    );
    // Each run's history starts a window before its own start; the restart
    // waited for its killed predecessor's lease, so the edges differ.
    let first = killed[0].hour.max(expected[0].hour);
    let from_first = |rows: Vec<StoredHour>| -> Vec<StoredHour> {
        rows.into_iter().filter(|h| h.hour > first).collect()
    };
    let (killed, expected) = (from_first(killed), from_first(expected));
    assert!(expected.len() >= 7 * 24 - 3, "{} hours", expected.len());
    assert_eq!(killed.len(), expected.len(), "hours stored");
    for (a, b) in killed.iter().zip(&expected) {
        assert_eq!(a, b, "hour {}", a.hour);
    }
}

/// Each hostile file, dropped into a running catalog, is refused on reload
/// (quickly, naming the file) and the last good catalog keeps running; so
/// is a symbolic link loop.
#[test]
fn hostile_files_never_replace_the_running_catalog() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("slo-definitions/checkout.yaml"),
        dir.path().join("checkout.yaml"),
    )
    .expect("copy a valid file");
    let paths = vec![dir.path().to_path_buf()];
    let good = burnrate::reload::load_catalog(&paths).expect("a valid catalog");
    let count = good.slos.len();
    assert!(count > 0);
    let (reloader, _rx) = burnrate::reload::Reloader::new(paths, good);
    let mut hostile = testkit::hostile::catalog_files();
    hostile.push(("loop", Vec::new()));
    for (name, content) in hostile {
        let path = dir.path().join(name);
        if name == "loop" {
            std::os::unix::fs::symlink(dir.path(), &path).expect("symlink loop");
            std::os::unix::fs::symlink("self.yaml", dir.path().join("self.yaml"))
                .expect("self link");
        } else {
            std::fs::write(&path, &content).expect("write");
        }
        let started = Instant::now();
        let refused = reloader.reload("test").expect_err(name).to_string();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            started.elapsed()
        );
        assert!(
            refused.contains(name) || name == "loop" && refused.contains("self.yaml"),
            "{name}: {refused}"
        );
        assert_eq!(
            reloader.current().slos.len(),
            count,
            "{name}: the last good catalog runs"
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(dir.path().join("self.yaml"));
    }
    assert_eq!(reloader.reload("test").expect("valid again"), count);
}
