use diesel::prelude::*;

use crate::helpers::{drop_pg_database, fresh_config, open_db, Backend};
use livestars_server::db::schema::users;

/// up → down → up on a backend, with data written between, proves both directions work.
fn up_down_up(backend: Backend) {
    let (config, _dir, pg) = fresh_config(backend);
    let db = open_db(&config);
    {
        let mut conn = db.conn().unwrap();
        let n: i64 = users::table.count().get_result(&mut *conn).unwrap();
        assert_eq!(n, 0);
    }
    db.revert_all().expect("down migrations");
    {
        let mut conn = db.conn().unwrap();
        assert!(
            users::table.count().get_result::<i64>(&mut *conn).is_err(),
            "table dropped"
        );
    }
    assert!(db.migrate().expect("up again") > 0);
    assert_eq!(db.migrate().expect("idempotent"), 0);
    let mut conn = db.conn().unwrap();
    let n: i64 = users::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(n, 0);
    drop(conn);
    drop(db);
    if let Some(name) = pg {
        drop_pg_database(&name);
    }
}

#[test]
fn sqlite_up_down_up() {
    up_down_up(Backend::Sqlite);
}

#[test]
fn postgres_up_down_up() {
    up_down_up(Backend::Postgres);
}
