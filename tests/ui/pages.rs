//! Every page in Chromium: the token prompt, the overview against the API,
//! filters, search, sorting and folding, the detail page's charts, the
//! alerts and status pages, the refresh, keyboard use, the console; and the
//! pages again with JavaScript off.

use std::time::Instant;

use burnrate::api::Tokens;
use testkit::browser::fantoccini::Locator;
use testkit::browser::fantoccini::key::Key;
use testkit::{BrowserOptions, TestBrowser};

use crate::app::{Fixture, IDS, Options, READ_TOKEN};
use crate::site::*;

async fn sign_in(b: &TestBrowser, f: &Fixture) {
    b.client.goto(&f.url("/")).await.unwrap();
    assert_eq!(
        text(b, "h1").await,
        "Sign in",
        "reads need a token: the prompt first"
    );
    let token = element(b, "#token").await;
    token.send_keys("not-the-token").await.unwrap();
    token.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert_eq!(text(b, "p.error").await, "That token is not valid.");
    let token = element(b, "#token").await;
    token.send_keys(READ_TOKEN).await.unwrap();
    token.send_keys(&Key::Enter.to_string()).await.unwrap();
    assert_eq!(text(b, "h1").await, "SLOs");
    // Kept where scripts cannot read it and other sites cannot send it.
    let cookies = b.client.get_all_cookies().await.unwrap();
    let cookie = cookies
        .iter()
        .find(|c| c.name() == "burnrate_token")
        .expect("the token cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let visible = b.eval("return document.cookie;").await;
    assert!(!visible.as_str().unwrap().contains("burnrate_token"));
    // Asked once: the next visit goes straight to the page.
    b.client.goto(&f.url("/alerts")).await.unwrap();
    assert_eq!(text(b, "h1").await, "Alerts");
    // The prompt's answers are 401s, which Chromium logs as failed loads.
    b.console().await;
}

/// The overview shows every instance with the budget the API reports, read
/// from the same snapshot (the page and the API answer carry one `ETag`).
async fn overview_matches_the_api(b: &TestBrowser, f: &Fixture) {
    for attempt in 0.. {
        b.client.goto(&f.url("/")).await.unwrap();
        if let Some((items, _)) = api_instances_as_shown(b, f, attempt < 10).await {
            assert_eq!(items.len(), IDS.len());
            rows_show(b, &items).await;
            break;
        }
    }
}

/// Every overview row shows the budget `items` (the API's) give it.
async fn rows_show(b: &TestBrowser, items: &[serde_json::Value]) {
    let rows = b.client.find_all(Locator::Css("tr.row")).await.unwrap();
    assert_eq!(rows.len(), items.len(), "one row per instance");
    for item in items {
        let id = item["id"].as_str().unwrap();
        let css = format!("tr.row[data-id='{id}']");
        let row = b.client.find(Locator::Css(&css)).await.unwrap();
        // Folded rows are hidden, so their text is read from the DOM.
        let shown = row
            .find(Locator::Css(".budget"))
            .await
            .unwrap()
            .prop("textContent")
            .await
            .unwrap()
            .unwrap_or_default();
        match item["error_budget"]["remaining"].as_f64() {
            Some(r) => {
                let data: f64 = row
                    .attr("data-budget")
                    .await
                    .unwrap()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(data, r, "{id}");
                assert!(shown.starts_with(&percent(r)), "{id}: `{shown}`, API {r}");
            }
            None => assert!(shown.starts_with('—'), "{id}: `{shown}`"),
        }
    }
}

/// How many polls of the open page ended in `outcome` (`changed`, `unchanged`).
async fn polls(b: &TestBrowser, outcome: &str) -> u64 {
    attr(b, "main", &format!("data-{outcome}"))
        .await
        .map_or(0, |n| n.parse().unwrap())
}

/// The overview polls `/api/v1/slos` with `If-None-Match`: a 304 changes
/// nothing while the snapshot stands; the next snapshot's figures are written
/// into the rows without loading the page again.
async fn overview_updates_in_place(b: &TestBrowser, f: &Fixture) {
    b.client.goto(&f.url("/")).await.unwrap();
    let tag = attr(b, "main", "data-etag").await.unwrap();
    assert_eq!(
        attr(b, "main", "data-poll").await.as_deref(),
        Some("/api/v1/slos?limit=1000")
    );
    // Figures only the refresh can put right, and a mark a reload would lose.
    let tamper = "window.notReloaded = true; \
         for (const r of document.querySelectorAll('tr.row')) { \
           r.dataset.budget = '-999'; r.querySelector('.budget').textContent = 'stale'; } \
         return null;";
    // While the snapshot stands, polls are answered 304 and change nothing.
    for attempt in 0.. {
        b.eval(tamper).await;
        let (changed, unchanged) = (polls(b, "changed").await, polls(b, "unchanged").await);
        eventually(60, "a poll answered 304", || async {
            polls(b, "unchanged").await > unchanged
        })
        .await;
        if polls(b, "changed").await != changed {
            assert!(attempt < 5, "no 304 between snapshots");
            continue;
        }
        let budgets = b
            .eval("return Array.from(document.querySelectorAll('tr.row .budget')).map(e => e.textContent);")
            .await;
        assert!(
            budgets.as_array().unwrap().iter().all(|t| t == "stale"),
            "a 304 changed the page: {budgets}"
        );
        break;
    }
    for attempt in 0.. {
        let before = polls(b, "changed").await;
        eventually(60, "the overview takes in the next snapshot", || async {
            polls(b, "changed").await > before
        })
        .await;
        if let Some((items, now)) = api_instances_as_shown(b, f, attempt < 5).await {
            assert_ne!(now, tag, "a new snapshot");
            assert_eq!(b.eval("return window.notReloaded === true;").await, true);
            rows_show(b, &items).await;
            break;
        }
    }
    assert!(text(b, "p.refreshed").await.starts_with("Updated at"));
    assert_eq!(
        visible_rows(b).await.len(),
        4,
        "folded as before, all there"
    );
}

async fn filters_search_sort_and_fold(b: &TestBrowser, f: &Fixture) {
    b.client.goto(&f.url("/")).await.unwrap();
    // Grouped instances fold under their SLO, and open with the keyboard.
    shows(b, &[IDS[0], IDS[3], IDS[4], IDS[5]]).await;
    let fold = b
        .client
        .find(Locator::Css(
            "tbody[data-slo='checkout/by-route'] button.fold",
        ))
        .await
        .unwrap();
    assert_eq!(
        fold.attr("aria-expanded").await.unwrap().as_deref(),
        Some("false")
    );
    fold.send_keys(&Key::Enter.to_string()).await.unwrap();
    shows(b, &IDS).await;
    assert_eq!(
        fold.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    // Search by name.
    let search = element(b, "input[name=q]").await;
    search.send_keys("by-ROUTE").await.unwrap();
    shows(b, &[IDS[1], IDS[2]]).await;
    assert!(text(b, "#shown").await.starts_with("2 of 6"));
    search.clear().await.unwrap();
    search.send_keys(" ").await.unwrap();
    // State, service and label.
    let state = element(b, "select[name=state]").await;
    state.select_by_value("firing").await.unwrap();
    shows(b, &["search/availability"]).await;
    state.select_by_value("no_data").await.unwrap();
    shows(b, &["ghost/availability", "ghost/lenient"]).await;
    state.select_by_value("").await.unwrap();
    let service = element(b, "select[name=service]").await;
    service.select_by_value("checkout").await.unwrap();
    shows(b, &IDS[..3]).await;
    service.select_by_value("").await.unwrap();
    let label = element(b, "input[name=label]").await;
    label.send_keys("team:discovery").await.unwrap();
    shows(b, &["search/availability"]).await;
    label.clear().await.unwrap();
    label.send_keys(" ").await.unwrap();
    // Sorted by budget left: the overspent SLO's service comes first.
    let sort = element(b, "select[name=sort]").await;
    sort.select_by_value("budget").await.unwrap();
    eventually(10, "sorted by budget", || async {
        visible_rows(b).await.first().map(String::as_str) == Some("search/availability")
    })
    .await;
    let url = b.client.current_url().await.unwrap();
    assert!(url.as_str().contains("sort=budget"), "{url}");
    sort.select_by_value("name").await.unwrap();
    shows(b, &IDS).await;
    // The skip link is the first stop of the keyboard.
    b.client.goto(&f.url("/")).await.unwrap();
    press(b, Key::Tab).await;
    let first = b.eval("return document.activeElement.textContent;").await;
    assert_eq!(first.as_str(), Some("Skip to content"));
}

/// Light and dark themes follow the system's setting.
async fn follows_the_system_theme(b: &TestBrowser, f: &Fixture) {
    b.client.goto(&f.url("/")).await.unwrap();
    b.prefer_color_scheme("light").await;
    let light = background_luminance(b).await;
    b.prefer_color_scheme("dark").await;
    assert_eq!(
        b.eval("return matchMedia('(prefers-color-scheme: dark)').matches;")
            .await,
        true
    );
    let dark = background_luminance(b).await;
    assert!(
        light > 0.8 && dark < 0.1,
        "background luminance {light:.2} when the system prefers light, {dark:.2} dark"
    );
    // The detail page's charts, too, keep to the theme.
    b.client
        .goto(&f.url("/slos/search%2Favailability"))
        .await
        .unwrap();
    assert!(background_luminance(b).await < 0.1);
    b.prefer_color_scheme("").await;
}

/// Tab alone reaches every filter, then the SLOs' links, and Enter opens one.
async fn keyboard_reaches_filters_and_links(b: &TestBrowser, f: &Fixture) {
    b.client.goto(&f.url("/")).await.unwrap();
    let mut reached = Vec::new();
    let link = format!("link {}", IDS[0]);
    while !reached.contains(&link) {
        assert!(reached.len() < 60, "Tab never reached {link}: {reached:?}");
        press(b, Key::Tab).await;
        let at = b
            .eval(
                "const e = document.activeElement; const row = e.closest('tr.row'); \
                 return row && e.tagName === 'A' ? 'link ' + row.dataset.id \
                 : e.name ? 'field ' + e.name : e.tagName + ' ' + e.textContent.trim();",
            )
            .await;
        reached.push(at.as_str().unwrap_or_default().to_string());
    }
    let position = |what: &str| {
        reached
            .iter()
            .position(|r| r == what)
            .unwrap_or_else(|| panic!("Tab never reached {what}: {reached:?}"))
    };
    let fields =
        ["q", "service", "state", "label", "sort"].map(|n| position(&format!("field {n}")));
    assert!(
        fields.windows(2).all(|w| w[0] < w[1]) && fields[4] < position(&link),
        "filters in order, then the SLOs: {reached:?}"
    );
    press(b, Key::Enter).await;
    eventually(10, "Enter opens the SLO", || async {
        text(b, "h1").await == IDS[0]
    })
    .await;
}

async fn detail_draws_its_charts(b: &TestBrowser, f: &Fixture) {
    b.client
        .goto(&f.url("/slos/search%2Favailability"))
        .await
        .unwrap();
    assert_eq!(text(b, "h1").await, "search/availability");
    for chart in ["#chart-budget", "#chart-burn"] {
        let points: usize = attr(b, chart, "data-points")
            .await
            .unwrap()
            .parse()
            .unwrap();
        assert!(points >= 40, "{chart}: {points} points");
        let drawn = b
            .eval(&format!(
                "return Array.from(document.querySelectorAll('{chart} polyline'))\
                 .map(p => p.points.numberOfItems).reduce((a, b) => a + b, 0);"
            ))
            .await;
        assert!(
            drawn.as_u64().unwrap() >= 40,
            "{chart}: {drawn} points drawn"
        );
    }
    let thresholds = text(b, "#chart-burn + ul.legend").await;
    assert!(
        thresholds.contains("page-1h fires above 1.44×"),
        "{thresholds}"
    );
    let link = attr(b, "a.prom", "href").await.unwrap();
    assert!(
        link.starts_with(&format!("{}/graph?g0.expr=", f.prom.url())),
        "{link}"
    );
    assert!(text(b, "code.source").await.ends_with("search.yaml:6"));
    let history = text(b, "table.transitions").await;
    assert!(
        history.contains("firing"),
        "the alert history shows the page firing: {history}"
    );
    let started = Instant::now();
    b.client.refresh().await.unwrap();
    let fcp = b
        .first_contentful_paint()
        .await
        .expect("first contentful paint");
    println!(
        "detail page, 48 h of history: first contentful paint {fcp:.0} ms (reload took {} ms)",
        started.elapsed().as_millis()
    );
    b.screenshot_page(&screenshots_dir().join("ui-detail.png"), 1280)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_chromium_behind_the_token_prompt() {
    let f = Fixture::start(Options {
        history_hours: Some(48),
        ..Options::default()
    })
    .await;
    let b = TestBrowser::start(BrowserOptions::default()).await;
    sign_in(&b, &f).await;
    overview_matches_the_api(&b, &f).await;
    let fcp = b
        .first_contentful_paint()
        .await
        .expect("first contentful paint");
    println!("overview, 6 instances: first contentful paint {fcp:.0} ms");
    no_console_errors(&b, "/").await;
    b.screenshot_page(&screenshots_dir().join("ui-overview.png"), 1280)
        .await;
    filters_search_sort_and_fold(&b, &f).await;
    no_console_errors(&b, "/ (filtering)").await;
    follows_the_system_theme(&b, &f).await;
    keyboard_reaches_filters_and_links(&b, &f).await;
    no_console_errors(&b, "themes and keyboard").await;
    detail_draws_its_charts(&b, &f).await;
    no_console_errors(&b, "/slos/search%2Favailability").await;
    b.client.goto(&f.url("/alerts")).await.unwrap();
    let active = text(&b, "#active-alerts").await;
    assert!(
        active.contains("search/availability") && active.contains("page-1h"),
        "{active}"
    );
    no_console_errors(&b, "/alerts").await;
    b.client.goto(&f.url("/status")).await.unwrap();
    let version = text(&b, "#catalog-version").await;
    assert_eq!(version.len(), 16, "{version}");
    assert!(text(&b, "#backfill").await.contains("history loaded"));
    no_console_errors(&b, "/status").await;
    // On a phone's width, wide tables scroll inside their frames; the page does not.
    b.client.set_window_size(390, 844).await.unwrap();
    for path in ["/", "/slos/search%2Favailability"] {
        b.client.goto(&f.url(path)).await.unwrap();
        // The page scrolls sideways only when something sticks out of it;
        // the scrolling frames of wide tables do not count.
        let wide = b
            .eval(
                "const w = document.documentElement.clientWidth; \
                 if (document.documentElement.scrollWidth <= w) return []; \
                 return Array.from(document.querySelectorAll('body *')) \
                 .filter(e => e.getBoundingClientRect().right > w + 1) \
                 .filter(e => !e.closest('.table-wrap') || getComputedStyle(e).position === 'absolute') \
                 .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
            )
            .await;
        assert_eq!(wide, serde_json::json!([]), "{path} is wider than a phone");
    }
    b.client.goto(&f.url("/")).await.unwrap();
    b.screenshot_page(&screenshots_dir().join("ui-overview-phone.png"), 390)
        .await;
    b.client.set_window_size(1280, 900).await.unwrap();
    overview_updates_in_place(&b, &f).await;
    no_console_errors(&b, "/ (refreshed)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_with_javascript_off() {
    let f = Fixture::start(Options {
        tokens: Tokens::default(),
        ..Options::default()
    })
    .await;
    let b = TestBrowser::start(BrowserOptions {
        javascript: false,
        ..BrowserOptions::default()
    })
    .await;
    // Every instance, grouped ones unfolded, and no fold buttons to press.
    b.client.goto(&f.url("/")).await.unwrap();
    let rows = b.client.find_all(Locator::Css("tr.row")).await.unwrap();
    assert_eq!(rows.len(), IDS.len());
    for row in &rows {
        assert!(row.is_displayed().await.unwrap());
    }
    let fold = element(&b, "button.fold").await;
    assert!(!fold.is_displayed().await.unwrap());
    // The filter form works as a plain GET.
    let state = element(&b, "select[name=state]").await;
    state.select_by_value("firing").await.unwrap();
    element(&b, "form.filters button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    // The click may return before the browser has followed the form.
    eventually(10, "the filter form's GET", || async {
        let url = b.client.current_url().await.unwrap();
        url.as_str().contains("state=firing")
            && b.client
                .find_all(Locator::Css("tr.row"))
                .await
                .unwrap()
                .len()
                == 1
    })
    .await;
    let rows = b.client.find_all(Locator::Css("tr.row")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].attr("data-id").await.unwrap().as_deref(),
        Some("search/availability")
    );
    // The charts are drawn by the server.
    b.client
        .goto(&f.url("/slos/checkout%2Favailability"))
        .await
        .unwrap();
    let points: usize = attr(&b, "#chart-budget", "data-points")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(points >= 10, "{points} points");
    let polyline = attr(&b, "#chart-budget polyline", "points").await.unwrap();
    assert!(polyline.split(' ').count() >= 10, "{polyline}");
    no_console_errors(&b, "pages without JavaScript").await;
}
