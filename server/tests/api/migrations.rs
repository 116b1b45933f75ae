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

/// One column as a backend's catalogue describes it.
#[derive(diesel::QueryableByName, Debug)]
struct LiveColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    data_type: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    not_null: bool,
}

/// (table, column) → (schema.rs type without `Nullable<…>`, nullable).
type Shape = std::collections::BTreeMap<(String, String), (String, bool)>;

/// The tables and columns `schema.rs` declares, read from its text (hand-written `table!`
/// blocks of one column per line).
fn declared() -> Shape {
    let text = include_str!("../../src/db/schema.rs");
    let mut out = Shape::new();
    let mut table: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(t) = &table {
            if line == "}" {
                table = None;
            } else if let Some((col, ty)) = line.trim_end_matches(',').split_once(" -> ") {
                let (ty, nullable) = match ty.strip_prefix("Nullable<") {
                    Some(inner) => (inner.trim_end_matches('>'), true),
                    None => (ty, false),
                };
                out.insert((t.clone(), col.to_string()), (ty.to_string(), nullable));
            }
        } else if line.ends_with(") {") && !line.starts_with("diesel::") {
            let name = line.split_whitespace().next().unwrap_or_default();
            table = Some(name.to_string());
        }
    }
    assert!(out.len() > 100, "schema.rs parsed: {} columns", out.len());
    out
}

/// Whether a backend's column type stores what the schema's diesel type says.
fn type_fits(backend: Backend, declared: &str, live: &str) -> bool {
    let live = live.to_ascii_lowercase();
    let ok: &[&str] = match (backend, declared) {
        (Backend::Sqlite, "BigInt" | "Integer") => &["bigint", "integer"],
        (Backend::Sqlite, "Text") => &["text"],
        (Backend::Sqlite, "Timestamp") => &["timestamp"],
        (Backend::Sqlite, "Date") => &["date"],
        (Backend::Sqlite, "Bool") => &["boolean"],
        (Backend::Sqlite, "Binary") => &["blob"],
        (Backend::Postgres, "BigInt") => &["bigint"],
        (Backend::Postgres, "Integer") => &["integer"],
        (Backend::Postgres, "Text") => &["text"],
        (Backend::Postgres, "Timestamp") => &["timestamp without time zone"],
        (Backend::Postgres, "Date") => &["date"],
        (Backend::Postgres, "Bool") => &["boolean"],
        (Backend::Postgres, "Binary") => &["bytea"],
        _ => &[],
    };
    ok.contains(&live.as_str())
}

/// What the migrations of `backend` actually build.
fn live(backend: Backend) -> Shape {
    let (config, _dir, pg) = fresh_config(backend);
    let db = open_db(&config);
    let query = match backend {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
             (p.\"notnull\" = 1 OR p.pk > 0) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             data_type::text AS data_type, (is_nullable = 'NO') AS not_null \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name <> '__diesel_schema_migrations'"
        }
    };
    let rows: Vec<LiveColumn> = {
        let mut conn = db.conn().unwrap();
        diesel::sql_query(query).load(&mut *conn).unwrap()
    };
    drop(db);
    if let Some(name) = pg {
        drop_pg_database(&name);
    }
    rows.into_iter()
        .map(|c| ((c.table_name, c.column_name), (c.data_type, !c.not_null)))
        .collect()
}

/// Every difference between schema.rs and what `backend`'s migrations build.
fn differences(backend: Backend, declared: &Shape, live: &Shape) -> Vec<String> {
    let mut out = vec![];
    for (key, (ty, nullable)) in declared {
        match live.get(key) {
            None => out.push(format!(
                "{}.{} is in schema.rs, not in the database",
                key.0, key.1
            )),
            Some((live_ty, live_nullable)) => {
                if !type_fits(backend, ty, live_ty) {
                    out.push(format!(
                        "{}.{}: schema.rs {ty}, database {live_ty}",
                        key.0, key.1
                    ));
                }
                if nullable != live_nullable {
                    out.push(format!(
                        "{}.{}: schema.rs nullable={nullable}, database nullable={live_nullable}",
                        key.0, key.1
                    ));
                }
            }
        }
    }
    for key in live.keys().filter(|k| !declared.contains_key(*k)) {
        out.push(format!(
            "{}.{} is in the database, not in schema.rs",
            key.0, key.1
        ));
    }
    out
}

/// schema.rs is hand-written for both backends: the migrations of each must build exactly its
/// tables and columns, with fitting types and the same nullability — and so the same as each
/// other.
#[test]
fn both_migration_trees_build_what_schema_rs_declares() {
    let declared = declared();
    let mut problems = vec![];
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let live = live(backend);
        for d in differences(backend, &declared, &live) {
            problems.push(format!("{backend:?}: {d}"));
        }
    }
    assert!(
        problems.is_empty(),
        "schema drift:\n{}",
        problems.join("\n")
    );
}

/// The check above finds drift: a column only one side has, a type that does not fit, a
/// nullability that differs.
#[test]
fn the_schema_check_sees_drift() {
    let declared = declared();
    let mut live = declared.clone();
    let key = ("users".to_string(), "username".to_string());
    live.remove(&key);
    live.insert(("users".into(), "extra".into()), ("text".into(), true));
    live.insert(("users".into(), "role".into()), ("bytea".into(), false));
    live.insert(
        ("users".into(), "deleted_at".into()),
        ("timestamp without time zone".into(), false),
    );
    // The rest fit.
    for (k, v) in live.iter_mut() {
        if !["extra", "role", "deleted_at"].contains(&k.1.as_str()) || k.0 != "users" {
            v.0 = match v.0.as_str() {
                "BigInt" => "bigint",
                "Integer" => "integer",
                "Text" => "text",
                "Timestamp" => "timestamp without time zone",
                "Date" => "date",
                "Bool" => "boolean",
                "Binary" => "bytea",
                other => other,
            }
            .to_string();
        }
    }
    let found = differences(Backend::Postgres, &declared, &live);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found
        .iter()
        .any(|d| d.contains("users.username is in schema.rs")));
    assert!(found
        .iter()
        .any(|d| d.contains("users.extra is in the database")));
    assert!(found
        .iter()
        .any(|d| d.contains("users.role: schema.rs Text, database bytea")));
    assert!(found
        .iter()
        .any(|d| d.contains("users.deleted_at: schema.rs nullable=true")));
}
