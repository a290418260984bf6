//! How the server behaves as a server: Grafana's queries, slow clients, CORS.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::app::{Fixture, Options, READ_TOKEN};

/// Prometheus scrapes `/metrics` (with the read token), and every query of
/// dashboards/burnrate.json returns data with the variables set to "All".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_dashboard_queries_return_data() {
    let mut f = Fixture::start(Options {
        history: false,
        ..Options::default()
    })
    .await;
    let scrape = format!(
        "scrape_configs:\n  - job_name: burnrate\n    scrape_interval: 1s\n    authorization:\n      credentials: {READ_TOKEN}\n    static_configs:\n      - targets: ['{}']\n",
        f.addr
    );
    f.prom.set_config_extra(&scrape).await;
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/dashboards/burnrate.json"
        ))
        .expect("dashboards/burnrate.json"),
    )
    .expect("dashboard JSON");
    let now = || testkit::now_ms() as f64 / 1000.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = f
            .prom
            .query(
                "up{job=\"burnrate\"} == 1 and on() count(burnrate_slo_objective_ratio) == 6",
                now(),
            )
            .await;
        if !up["result"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape burnrate: {up}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut queries: Vec<String> = Vec::new();
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            // label_values(metric, label) is Grafana's; the metric part is PromQL.
            let inner = q
                .trim_start_matches("label_values(")
                .rsplit_once(',')
                .unwrap()
                .0;
            queries.push(inner.to_string());
        }
    }
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(queries.len() > 15, "{queries:?}");
    for q in queries {
        let promql = q.replace("$service", ".+").replace("$slo", ".+");
        let data = f.prom.query(&promql, now()).await;
        assert!(
            !data["result"].as_array().unwrap().is_empty(),
            "no data for `{promql}`"
        );
    }
    // The service variable lists the three services.
    let services = f
        .prom
        .query("count by (service) (burnrate_slo_objective_ratio)", now())
        .await;
    assert_eq!(services["result"].as_array().unwrap().len(), 3);
}

/// A client that opens a connection and never finishes its request headers
/// (slowloris) is disconnected after the header read timeout, while other
/// clients are served; shutdown still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_headers_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(burnrate::serve::http::serve(
        listener,
        router,
        Duration::from_millis(500),
        async {
            let _ = stopped.await;
        },
    ));

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /ok HTTP/1.1\r\nHost: burnrate\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let body = reqwest::get(format!("http://{addr}/ok"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok", "other clients are served");

    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf))
        .await
        .expect("the half-sent request is cut off within 5 s");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        read.is_err() || buf.is_empty() || text.starts_with("HTTP/1.1 408"),
        "closed without serving the request: {read:?} {text:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(400),
        "not before the timeout: {elapsed:?}"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shutdown completes")
        .unwrap();
}

/// With `--cors-origin`, a browser page from that origin may call the API:
/// the preflight is answered without a token, and answers carry
/// `Access-Control-Allow-Origin`; other origins get no CORS headers, and
/// tokens are still required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_the_configured_origins_in() {
    let f = Fixture::start(Options {
        history: false,
        cors: burnrate::api::CorsOrigins::parse(&["https://dash.example".to_string()]).unwrap(),
        ..Options::default()
    })
    .await;
    let allow_origin = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let preflight = f
        .client
        .request(reqwest::Method::OPTIONS, f.url("/api/v1/slos"))
        .header("Origin", "https://dash.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        allow_origin(&preflight).as_deref(),
        Some("https://dash.example")
    );
    let allowed_headers = preflight
        .headers()
        .get("access-control-allow-headers")
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .unwrap_or_default();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );

    let get = |origin: &'static str, token: Option<&'static str>| {
        let mut req = f.client.get(f.url("/api/v1/slos")).header("Origin", origin);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let ok = get("https://dash.example", Some(READ_TOKEN)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(allow_origin(&ok).as_deref(), Some("https://dash.example"));
    let no_token = get("https://dash.example", None).await.unwrap();
    assert_eq!(no_token.status(), 401, "CORS does not replace the token");
    let other = get("https://evil.example", Some(READ_TOKEN)).await.unwrap();
    assert_eq!(
        allow_origin(&other),
        None,
        "other origins get no CORS header"
    );
}
