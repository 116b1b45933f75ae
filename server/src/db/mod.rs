//! Database access: one diesel schema over SQLite (the embedded default) and PostgreSQL.
//!
//! [`DbConnection`] is a diesel `MultiConnection`; the backend is chosen from the configured URL's
//! scheme, never by trying one after the other (that would hide the real connection error).
//! All database work is blocking and runs on tokio's blocking pool through [`Db::read`] and
//! [`Db::write`], never on the async executor threads. Every write runs in one transaction.
//!
//! SQLite allows one writer at a time; [`Db::write`] serialises this process's writers behind a
//! mutex, so a deferred transaction never has to upgrade its read snapshot against a concurrent
//! writer (which SQLite refuses with `SQLITE_BUSY_SNAPSHOT` instead of waiting).

pub mod schema;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseTarget;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend an instance runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Failure of the storage layer itself (as opposed to a domain rule).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database connection: {0}")]
    Connection(String),
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration: {0}")]
    Migration(String),
    #[error("blocking task failed: {0}")]
    Join(String),
}

/// Opens connections of the configured backend; SQLite connections get their pragmas here.
#[derive(Debug, Clone)]
pub struct Manager {
    target: DatabaseTarget,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.target {
            DatabaseTarget::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(diesel::r2d2::Error::ConnectionError),
            DatabaseTarget::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL: readers never block the writer; busy_timeout: wait for another process's
                // write lock instead of failing; foreign keys are off by default in SQLite.
                // secure_delete: deleted rows are overwritten with zeros, not left in free
                // space (a shredded document key must not be recoverable from the file).
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        std::thread::panicking()
    }
}

pub type Conn = PooledConnection<Manager>;

/// The instance's database: a connection pool and what is known about its backend.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    /// Held by writers on SQLite (see the module docs); `None` on PostgreSQL.
    write_lock: Option<Arc<std::sync::Mutex<()>>>,
    /// A purge of deleted rows that could not finish yet (SQLite readers kept the log busy):
    /// housekeeping completes it.
    shred_pending: Arc<std::sync::atomic::AtomicBool>,
    /// Write transactions begun by this process (idle instances must not take any).
    writes: Arc<std::sync::atomic::AtomicU64>,
    /// Who hears the domain events of committed writes.
    bus: Arc<crate::events::Bus<Db>>,
}

impl Db {
    /// Connect (creating the SQLite file and its directory if needed) and apply pending
    /// migrations. Blocking: call it from a blocking context or before the server starts.
    pub fn open(target: &DatabaseTarget, pool_size: u32) -> Result<Db, DbError> {
        let backend = match target {
            DatabaseTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::files::create_private_dir(dir).map_err(|e| {
                        DbError::Connection(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                private_sqlite_files(path).map_err(|e| {
                    DbError::Connection(format!("cannot create {}: {e}", path.display()))
                })?;
                Backend::Sqlite
            }
            DatabaseTarget::Postgres(_) => Backend::Postgres,
        };
        let pool = Pool::builder()
            .max_size(pool_size)
            // No idle connections kept warm: r2d2 would open them on background threads, and a
            // short-lived CLI process exiting while libpq connects there can crash at exit.
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .build(Manager {
                target: target.clone(),
            })
            .map_err(|e| DbError::Connection(e.to_string()))?;
        let db = Db {
            pool,
            backend,
            write_lock: (backend == Backend::Sqlite).then(Default::default),
            shred_pending: Arc::default(),
            writes: Arc::default(),
            bus: Arc::default(),
        };
        db.migrate()?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection, blocking until one is free.
    pub fn conn(&self) -> Result<Conn, DbError> {
        self.pool
            .get()
            .map_err(|e| DbError::Connection(e.to_string()))
    }

    /// Apply pending migrations of the backend in use.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            DbConnection::Postgres(c) => c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len()),
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        }
        .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied)
    }

    /// Revert every migration (tests check that down migrations work).
    pub fn revert_all(&self) -> Result<(), DbError> {
        let mut conn = self.conn()?;
        match &mut *conn {
            DbConnection::Postgres(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
            DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        }
        .map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Run read-only work on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// Run `f` in one transaction on the blocking pool: all of it commits, or nothing does.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// [`Db::write`] for callers already off the async threads (CLI, tests, benches).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let _guard = self
            .write_lock
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut pooled = self.conn()?;
        let conn: &mut DbConnection = &mut pooled;
        let collecting = crate::events::begin();
        let result = conn.transaction(f);
        let events = collecting.finish();
        drop(pooled);
        drop(_guard);
        // Committed: what it set off happens now, outside the transaction and its lock.
        if result.is_ok() {
            self.bus.dispatch(self, &events);
        }
        result
    }
}

impl Db {
    /// Hear the domain events of every committed write (see [`crate::events`]).
    pub fn subscribe(&self, s: crate::events::Subscriber<Db>) {
        self.bus.subscribe(s);
    }

    /// Write transactions this process has begun (committed or not) since it opened the
    /// database: what an idle instance must not increase.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether an earlier [`Db::shred_deleted_rows`] could not finish.
    pub fn shred_pending(&self) -> bool {
        self.shred_pending.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// After a commit that deleted secrets (document keys): make sure no copy of the deleted
    /// rows stays in a file the server writes. On SQLite the rows were zeroed in their pages
    /// (`secure_delete`), but the write-ahead log still holds the earlier versions of those
    /// pages: a checkpoint copies the log into the database and `TRUNCATE` empties the log
    /// file. It waits for readers of older snapshots (retried for up to ~10 s). On PostgreSQL
    /// the table of keys is rewritten (`VACUUM FULL`) so its old file with the dead rows is
    /// removed — once no transaction that began before holds a snapshot (up to ~10 s; else it is
    /// left pending for housekeeping), since VACUUM FULL keeps rows such a snapshot could see;
    /// PostgreSQL's own write-ahead log and any archive of it are the operator's to rotate
    /// (docs/security.md). Blocking.
    pub fn shred_deleted_rows(&self, table: &str) -> Result<(), DbError> {
        let mut conn = self.conn()?;
        match &mut *conn {
            DbConnection::Sqlite(c) => {
                #[derive(diesel::QueryableByName)]
                struct Checkpoint {
                    #[diesel(sql_type = diesel::sql_types::Integer)]
                    busy: i32,
                }
                // A TRUNCATE checkpoint holds SQLite's writer lock while it waits for readers:
                // it runs under this process's writer mutex (our writers queue behind it instead
                // of timing out) and waits for readers briefly, retrying between other writes.
                c.batch_execute("PRAGMA busy_timeout = 250")?;
                let mut done = false;
                for _ in 0..40 {
                    let result = {
                        let _guard = self
                            .write_lock
                            .as_ref()
                            .map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
                        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").load::<Checkpoint>(c)
                    };
                    match result {
                        Ok(r) if r.first().is_some_and(|c| c.busy == 0) => {
                            done = true;
                            break;
                        }
                        // Busy (readers of an older snapshot): try again shortly.
                        Ok(_) | Err(diesel::result::Error::DatabaseError(_, _)) => {}
                        Err(e) => {
                            let _ = c.batch_execute("PRAGMA busy_timeout = 5000");
                            return Err(e.into());
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                c.batch_execute("PRAGMA busy_timeout = 5000")?;
                self.shred_pending
                    .store(!done, std::sync::atomic::Ordering::SeqCst);
                if done {
                    Ok(())
                } else {
                    Err(DbError::Connection(
                        "the write-ahead log could not be truncated: readers kept it busy".into(),
                    ))
                }
            }
            DbConnection::Postgres(c) => {
                if !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    return Err(DbError::Connection(format!("not a table name: {table:?}")));
                }
                // VACUUM FULL copies a deleted row that a snapshot older than the delete could
                // still see ("recently dead"). Wait until none can: every transaction id below
                // the next one at the time of this call has ended (a running one, in any
                // database, would lower the horizon of every new snapshot), and no snapshot of
                // this database (or of a backend not yet in one) is older. Then rewrite.
                #[derive(diesel::QueryableByName)]
                struct Next {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    next: i64,
                }
                #[derive(diesel::QueryableByName)]
                struct Older {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let next =
                    diesel::sql_query("SELECT txid_snapshot_xmax(txid_current_snapshot()) AS next")
                        .get_result::<Next>(c)?
                        .next;
                let mut clear = false;
                for _ in 0..200 {
                    let older = diesel::sql_query(
                        "SELECT (CASE WHEN txid_snapshot_xmin(txid_current_snapshot()) < $1 \
                         THEN 1 ELSE 0 END) + (SELECT count(*) FROM pg_stat_activity \
                         WHERE pid <> pg_backend_pid() AND backend_xmin IS NOT NULL \
                         AND (datname = current_database() OR datname IS NULL) \
                         AND age(backend_xmin) > age((($1 % 4294967296)::text)::xid)) AS n",
                    )
                    .bind::<diesel::sql_types::BigInt, _>(next)
                    .get_result::<Older>(c)?
                    .n;
                    if older == 0 {
                        clear = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                if clear {
                    c.batch_execute(&format!("VACUUM FULL {table}"))?;
                }
                self.shred_pending
                    .store(!clear, std::sync::atomic::Ordering::SeqCst);
                if clear {
                    Ok(())
                } else {
                    Err(DbError::Connection(
                        "an older transaction kept a snapshot for 10 s: the table is rewritten later"
                            .into(),
                    ))
                }
            }
        }
    }
}

/// The database file (and its log and shared-memory files, which SQLite creates with the
/// database file's permissions) readable by the server's user only: created 0600, and an
/// existing one from an older version narrowed to it.
fn private_sqlite_files(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The current time in UTC, at the microsecond precision both backends store.
pub fn now() -> NaiveDateTime {
    truncate_micros(Utc::now().naive_utc())
}

pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Whether `e` is a unique-constraint violation (a duplicate key), on either backend.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Run `insert` in a savepoint inside the current transaction; a unique violation (another
/// transaction inserted the same key first, on PostgreSQL) rolls back to the savepoint only and
/// yields `Ok(false)`, so the caller can update the existing row instead.
pub fn insert_or_skip<F>(conn: &mut DbConnection, insert: F) -> Result<bool, diesel::result::Error>
where
    F: FnOnce(&mut DbConnection) -> Result<usize, diesel::result::Error>,
{
    use diesel::Connection;
    match conn.transaction(insert) {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Take or renew the lease `name` for `holder` until `ttl` from now: it succeeds when the lease
/// is free, lapsed, or already `holder`'s. One statement decides (a conditional update, or an
/// insert that a concurrent insert makes fail), so two processes never both hold it.
pub fn take_lease(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    ttl: chrono::Duration,
) -> Result<bool, diesel::result::Error> {
    use diesel::prelude::*;
    use schema::leases;
    let t = now();
    let renewed = diesel::update(
        leases::table
            .find(name)
            .filter(leases::holder.eq(holder).or(leases::expires_at.lt(t))),
    )
    .set((leases::holder.eq(holder), leases::expires_at.eq(t + ttl)))
    .execute(conn)?;
    if renewed == 1 {
        return Ok(true);
    }
    let exists: i64 = leases::table.find(name).count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    insert_or_skip(conn, |c| {
        diesel::insert_into(leases::table)
            .values((
                leases::name.eq(name),
                leases::holder.eq(holder),
                leases::expires_at.eq(t + ttl),
            ))
            .execute(c)
    })
}

/// Who holds the lease `name` now, if anyone.
pub fn lease_holder(
    conn: &mut DbConnection,
    name: &str,
) -> Result<Option<String>, diesel::result::Error> {
    use diesel::prelude::*;
    use schema::leases;
    leases::table
        .find(name)
        .filter(leases::expires_at.ge(now()))
        .select(leases::holder)
        .first(conn)
        .optional()
}

/// Open a SQLite database file for tools (used by tests and benches).
pub fn open_sqlite(path: &Path) -> Result<Db, DbError> {
    Db::open(&DatabaseTarget::Sqlite(path.to_path_buf()), 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{record, Event};
    use std::sync::Mutex;

    /// Subscribers hear the events of committed writes only, once, after the commit.
    #[test]
    fn events_follow_commits_not_rollbacks() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&DatabaseTarget::Sqlite(dir.path().join("db.sqlite")), 2).unwrap();
        let heard: Arc<Mutex<Vec<Event>>> = Arc::default();
        let h = heard.clone();
        db.subscribe(Arc::new(move |db: &Db, events| {
            // After the commit: the writer's lock is free again, a write from here works.
            db.write_blocking(|c| {
                diesel::sql_query("SELECT 1").execute(c)?;
                Ok::<_, DbError>(())
            })
            .unwrap();
            h.lock().unwrap().extend_from_slice(events);
        }));
        let failed: Result<(), DbError> = db.write_blocking(|_| {
            record(Event::FederatedChanged);
            Err(DbError::Connection("refused".into()))
        });
        assert!(failed.is_err());
        assert!(
            heard.lock().unwrap().is_empty(),
            "a rollback sets nothing off"
        );
        db.write_blocking(|_| {
            record(Event::ShowEnded { user_id: 7 });
            record(Event::DeliveryQueued);
            Ok::<_, DbError>(())
        })
        .unwrap();
        assert_eq!(
            *heard.lock().unwrap(),
            vec![Event::ShowEnded { user_id: 7 }, Event::DeliveryQueued]
        );
        // Outside a write: nowhere.
        record(Event::FederatedChanged);
        db.write_blocking(|_| Ok::<_, DbError>(())).unwrap();
        assert_eq!(heard.lock().unwrap().len(), 2);
    }
}
