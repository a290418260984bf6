//! Fresh PostgreSQL databases for tests.
//!
//! The server comes from `DATABASE_URL` (scripts/test.sh sets it, starting a
//! throwaway cluster when the user has none). Each [`TestDatabase`] is a new
//! database named `burnrate_test_<unix secs>_<pid>_<n>` on that server.
//!
//! Cleanup: dropping a `TestDatabase` drops the database (`DROP DATABASE ...
//! WITH (FORCE)`, which also ends connections still open in pools) from a
//! helper thread with its own runtime, so it works inside and outside async
//! code. This is needed because `DATABASE_URL` may point at a long-lived
//! server (the developers' one on :5432), where leftovers would pile up.
//! Databases leaked by killed test processes are swept by the first
//! `create()` of a later run once they are more than 6 hours old. Set
//! `BURNRATE_KEEP_TEST_DB=1` to keep databases for inspection.

use std::str::FromStr;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};

const PREFIX: &str = "burnrate_test_";
const SWEEP_AFTER: Duration = Duration::from_secs(6 * 3600);

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A fresh database, dropped on drop.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server in `DATABASE_URL`.
    pub async fn create() -> Self {
        let admin_url = admin_url();
        let mut admin = connect(&admin_url).await;
        let needs_sweep = {
            let mut first = false;
            SWEEP.call_once(|| first = true);
            first
        };
        if needs_sweep {
            sweep_stale(&mut admin).await;
        }
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock before 1970")
            .as_secs();
        let name = format!(
            "{PREFIX}{secs}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Self {
            name,
            url,
            admin_url,
        }
    }

    /// Connection URL of this database (same server and user as `DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new pool (up to 5 connections) on this database.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to test database {}: {e}", self.url))
    }

    /// A single connection to this database.
    pub async fn connect(&self) -> PgConnection {
        connect(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var_os("BURNRATE_KEEP_TEST_DB").is_some_and(|v| !v.is_empty() && v != "0") {
            eprintln!("keeping test database {}", self.url);
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Our own thread and runtime: Drop may run inside a runtime (where
        // block_on would panic) or outside any.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping a test database");
            rt.block_on(async move {
                let result = tokio::time::timeout(Duration::from_secs(30), async {
                    let mut admin = PgConnection::connect(&admin_url).await?;
                    sqlx::query(AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .execute(&mut admin)
                    .await?;
                    admin.close().await
                })
                .await;
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("warning: could not drop test database {name}: {e}"),
                    Err(_) => eprintln!("warning: timed out dropping test database {name}"),
                }
            });
        });
        let _ = handle.join();
    }
}

/// `DATABASE_URL`, or a panic saying how to get one.
fn admin_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: run the tests through scripts/test.sh, which \
             starts a throwaway PostgreSQL (or set DATABASE_URL to a server where \
             this user may CREATE DATABASE)"
        ),
    }
}

async fn connect(url: &str) -> PgConnection {
    let opts = PgConnectOptions::from_str(url)
        .unwrap_or_else(|e| panic!("bad PostgreSQL URL {url}: {e}"))
        .disable_statement_logging();
    opts.connect()
        .await
        .unwrap_or_else(|e| panic!("connect to PostgreSQL at {url}: {e}"))
}

/// `url` with its database (path) replaced by `database`; query kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Drops `burnrate_test_*` databases created more than [`SWEEP_AFTER`] ago
/// (left behind by test processes that were killed). Best effort.
async fn sweep_stale(admin: &mut PgConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'burnrate\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        let stale = created.is_some_and(|c| now.saturating_sub(c) > SWEEP_AFTER.as_secs());
        if stale {
            let _ = sqlx::query(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}
