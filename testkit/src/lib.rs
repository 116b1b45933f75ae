//! The one test harness the API tests, the CLI tests, the end-to-end tests and the benches share
//! for what they all need: a throw-away PostgreSQL database (created, and dropped with its
//! sessions when the handle goes), and a free TCP port.
//!
//! PostgreSQL is found at `LIVESTARS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`; `./scripts/test` starts one when none answers) and
//! driven with the `psql` client, so this crate links nothing.

use std::io::Read;
use std::process::Command;

/// The server the test databases live on, without a trailing slash or database name.
pub fn postgres_base() -> String {
    std::env::var("LIVESTARS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

/// Run one SQL statement against the server's `postgres` database with `psql`.
fn run_psql(sql: &str) -> std::io::Result<std::process::Output> {
    Command::new("psql")
        .arg(format!("{}/postgres", postgres_base()))
        .args(["-qAtc", sql])
        .output()
}

/// Run one SQL statement against the server's `postgres` database; panics with psql's message.
pub fn psql(sql: &str) {
    let out =
        run_psql(sql).expect("run psql (the PostgreSQL client: scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "psql {sql} at {}: {}",
        postgres_base(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `prefix` and 12 random hex digits: a name no other test run uses.
pub fn unique_name(prefix: &str) -> String {
    let mut b = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("random bytes from /dev/urandom");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}_{hex}")
}

/// A PostgreSQL database of its own, dropped (sessions and all) when this is dropped — unless
/// [`TestDatabase::keep`] hands it on.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    drop_it: bool,
}

impl TestDatabase {
    /// A new empty database named `prefix_<random>`.
    pub fn create(prefix: &str) -> TestDatabase {
        let name = unique_name(prefix);
        psql(&format!("CREATE DATABASE {name}"));
        TestDatabase {
            url: format!("{}/{name}", postgres_base()),
            name,
            drop_it: true,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connection URL (`LIVESTARS_DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Give up ownership: the database stays; whoever keeps the name drops it with
    /// [`drop_database`].
    pub fn keep(mut self) -> (String, String) {
        self.drop_it = false;
        (self.name.clone(), self.url.clone())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.drop_it {
            drop_database(&self.name);
        }
    }
}

/// Drop database `name` with its sessions; a failure (server gone at the end of a run) is
/// ignored.
pub fn drop_database(name: &str) {
    let _ = run_psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid_identifiers() {
        let (a, b) = (unique_name("ls_t"), unique_name("ls_t"));
        assert_ne!(a, b);
        assert!(a.starts_with("ls_t_") && a.len() == "ls_t_".len() + 12);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }

    /// A database exists while its handle lives and is gone after.
    #[test]
    fn a_test_database_lives_as_long_as_its_handle() {
        let exists = |name: &str| {
            let out = run_psql(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
            ))
            .expect("psql");
            String::from_utf8_lossy(&out.stdout).trim() == "1"
        };
        let db = TestDatabase::create("ls_testkit");
        let name = db.name().to_string();
        assert!(db.url().ends_with(&name));
        assert!(exists(&name));
        drop(db);
        assert!(!exists(&name));
        let kept = TestDatabase::create("ls_testkit");
        let (name, _) = kept.keep();
        assert!(exists(&name));
        drop_database(&name);
        assert!(!exists(&name));
    }
}
