//! The page shell every page shares (head, navigation, skip link) and the
//! small pieces several pages draw: state badges and budget bars. A state
//! is always spelled out in text and marked with a symbol; colour only
//! repeats what they say.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::assets;
use super::format;
use crate::api::view::{AlertState, DataState};

/// Which page is open, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Alerts,
    Status,
    None,
}

/// What the shell needs besides the page's own content.
pub struct Shell<'a> {
    pub title: &'a str,
    pub nav: Nav,
    /// The JSON API resource whose `ETag` tells the page it is out of date.
    pub poll: Option<&'a str>,
    /// The tag the page was made from.
    pub etag: Option<&'a str>,
    /// Milliseconds between polls.
    pub poll_ms: u128,
    /// Whether to offer "Sign out" (the token came from the UI's cookie).
    pub signed_in: bool,
    /// Firing alerts, shown beside "Alerts".
    pub firing: usize,
}

pub fn page(shell: &Shell<'_>, content: Markup) -> Markup {
    let current = |nav: Nav| (shell.nav == nav).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (shell.title) " · burnrate" }
                link rel="icon" href=(assets::ICON.url()) type="image/svg+xml";
                link rel="stylesheet" href=(assets::CSS.url());
                script src=(assets::JS.url()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "burnrate" }
                    nav aria-label="Pages" {
                        ul {
                            li { a href="/" aria-current=[current(Nav::Overview)] { "Overview" } }
                            li {
                                a href="/alerts" aria-current=[current(Nav::Alerts)] {
                                    "Alerts"
                                    @if shell.firing > 0 {
                                        " " span.count { (shell.firing) " firing" }
                                    }
                                }
                            }
                            li { a href="/status" aria-current=[current(Nav::Status)] { "Status" } }
                        }
                    }
                    @if shell.signed_in {
                        form.signout method="post" action="/ui/logout" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main data-poll=[shell.poll] data-poll-ms=[shell.poll.map(|_| shell.poll_ms)] data-etag=[shell.etag] {
                    (content)
                }
                p.refreshed aria-live="polite" {}
            }
        }
    }
}

/// A data state: symbol, words, and a class for colour.
pub fn data_state(state: DataState) -> Markup {
    let (symbol, class) = match state {
        DataState::Ok => ("●", "good"),
        DataState::NoData | DataState::Absent => ("○", "muted"),
        DataState::LowTraffic => ("◔", "muted"),
        DataState::Stale => ("⚠", "warn"),
        DataState::Pending | DataState::Backfilling => ("◌", "muted"),
    };
    html! {
        span class=(format!("badge {class}")) data-state=(state.as_str()) {
            span aria-hidden="true" { (symbol) } " " (state.as_str().replace('_', " "))
        }
    }
}

/// An alert state: firing ▲, pending △, inactive nothing but the word.
pub fn alert_state(state: AlertState) -> Markup {
    let (symbol, class) = match state {
        AlertState::Firing => ("▲", "bad"),
        AlertState::Pending => ("△", "warn"),
        AlertState::Inactive => ("·", "muted"),
    };
    html! {
        span class=(format!("badge {class}")) {
            span aria-hidden="true" { (symbol) } " " (state.as_str())
        }
    }
}

/// The remaining budget as a bar and a number. An overspent budget shows
/// an empty bar in the "bad" colour and its negative value.
pub fn budget_bar(remaining: Option<f64>) -> Markup {
    let Some(r) = remaining else {
        return html! { span.budget.none { "—" span.sr { " no budget figure" } } };
    };
    let width = (r.clamp(0.0, 1.0) * 100.0).round();
    let class = if r <= 0.0 {
        "bad"
    } else if r < 0.25 {
        "warn"
    } else {
        "good"
    };
    html! {
        span.budget {
            svg class=(format!("bar {class}")) viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" {
                rect.track width="100" height="8" {}
                rect.fill width=(width) height="8" {}
            }
            span.value { (format::percent(r)) @if r <= 0.0 { " spent" } }
        }
    }
}

/// A `<time>` element in UTC.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(format::datetime(at)) { (format::time(at)) } }
}

/// Text for screen readers only.
pub fn sr(text: &str) -> Markup {
    html! { span.sr { (text) } }
}

/// A page saying why there is nothing to show.
pub fn message(heading: &str, text: &str) -> Markup {
    html! {
        h1 { (heading) }
        p { (text) }
    }
}

/// The token prompt: shown instead of a page while reads need a token and
/// the request carried none (or a wrong one).
pub fn sign_in(next: &str, wrong: bool) -> Markup {
    let shell = Shell {
        title: "Sign in",
        nav: Nav::None,
        poll: None,
        etag: None,
        poll_ms: 0,
        signed_in: false,
        firing: 0,
    };
    page(
        &shell,
        html! {
            h1 { "Sign in" }
            p { "This burnrate asks for its read token. It is kept in a cookie that scripts cannot read and other sites never send, and the page asks again only once the cookie is gone." }
            @if wrong {
                p.error role="alert" { "That token is not valid." }
            }
            form.signin method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// Raw markup that is known to be safe (an entity or a fixed snippet).
pub fn raw(text: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(text)
}
