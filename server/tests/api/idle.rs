//! An idle instance writes nothing: no write transaction (SQLite's writer lock) and, on
//! PostgreSQL, no row inserted, updated or deleted by the database's own count, while nobody
//! does anything. The federation worker, housekeeping and the settlement watcher read first
//! and write only when there is something to do.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;

use crate::both_backends;
use crate::helpers::TestApp;

#[derive(diesel::QueryableByName)]
struct Written {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Rows inserted, updated and deleted per table of this database, by PostgreSQL's statistics.
fn pg_rows_written(app: &TestApp) -> Option<BTreeMap<String, i64>> {
    let mut conn = app.db.conn().unwrap();
    match &mut *conn {
        livestars_server::db::DbConnection::Postgres(c) => Some(
            diesel::sql_query(
                "SELECT relname::text AS table, (n_tup_ins + n_tup_upd + n_tup_del)::bigint AS n \
                 FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0",
            )
            .load::<Written>(c)
            .unwrap()
            .into_iter()
            .map(|w| (w.table, w.n))
            .collect(),
        ),
        _ => None,
    }
}

async fn an_idle_instance_writes_nothing(app: TestApp) {
    // Something to look after: a model with a room (federated on the worker's first round),
    // a viewer.
    app.model("idle_model").await;
    app.viewer("idle_viewer").await;
    // Start-up work settles, and PostgreSQL's statistics catch up: an idle backend flushes
    // its counts within 10 s (PGSTAT_IDLE_INTERVAL), so the baseline is taken once they held
    // still for 11 s. A writer that never stops never settles, and fails here.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rows = pg_rows_written(&app);
    let mut still = if rows.is_some() { 0 } else { 11 };
    for _ in 0..45 {
        if still >= 11 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = pg_rows_written(&app);
        still = if now == rows { still + 1 } else { 0 };
        rows = now;
    }
    assert!(
        still >= 11,
        "PostgreSQL's row counts never settled: {rows:?}"
    );
    let writes = app.db.writes();
    // Sixteen rounds of the federation worker, with housekeeping's first round behind.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        app.db.writes() - writes,
        0,
        "write transactions while nothing happened"
    );
    assert_eq!(
        pg_rows_written(&app),
        rows,
        "PostgreSQL counted rows written while nothing happened"
    );
    // The count is live: one action is one write.
    app.viewer("idle_viewer_2").await;
    assert!(app.db.writes() > writes);
}

both_backends!(an_idle_instance_writes_nothing);
