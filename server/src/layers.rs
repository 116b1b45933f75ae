//! The order of the server's modules, lowest first. A module uses only modules of a lower
//! rank (`crate::…` outside its tests); the test below reads the sources and fails on a use
//! that points sideways or up — so no import cycle between domain modules can come back.
//! Where a new module goes: docs/architecture.md.

/// (rank, module). Same rank: independent of each other.
pub const LAYERS: &[(u8, &str)] = &[
    // Plain building blocks.
    (0, "text"),
    (0, "files"),
    (0, "money"),
    (0, "events"),
    (0, "states"),
    (1, "config"),
    (2, "db"),
    // The domain, in the order its rules build on each other.
    (3, "accounts"),
    (3, "shows"),
    (4, "profiles"),
    (5, "iddocs"),
    (6, "rooms"),
    (7, "ledger"),
    (8, "settlement"),
    (9, "federation"),
    (10, "moderation"),
    // Use-cases spanning modules, then the ways in.
    (11, "lifecycle"),
    (12, "http"),
    (13, "startup"),
    (14, "cli"),
];

#[cfg(test)]
mod tests {
    use super::LAYERS;
    use std::path::{Path, PathBuf};

    fn rank(module: &str) -> Option<u8> {
        LAYERS.iter().find(|(_, m)| *m == module).map(|(r, _)| *r)
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }

    /// `crate::name` references in code: comments dropped, the file's test module (from
    /// `#[cfg(test)]` on) left out. (line, name).
    fn references(text: &str) -> Vec<(usize, String)> {
        let mut out = vec![];
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = match line.find("//") {
                Some(at) => &line[..at],
                None => line,
            };
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let after = &rest[at + "crate::".len()..];
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                // `crate::{a, b}` lists are not used in this code base; the test says so.
                assert!(!after.starts_with('{'), "line {}: use crate::{{…}} lists are not checked here: write one use per module", i + 1);
                out.push((i + 1, name));
                rest = after;
            }
        }
        out
    }

    fn violations(src: &Path) -> Vec<String> {
        let mut files = vec![];
        rust_files(src, &mut files);
        let mut out = vec![];
        for file in files {
            let rel = file.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if ["lib", "main", "layers"].contains(&module.as_str()) {
                continue;
            }
            let Some(mine) = rank(&module) else {
                out.push(format!(
                    "module `{module}` is not in LAYERS (server/src/layers.rs)"
                ));
                continue;
            };
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, name) in references(&text) {
                if name == module || name.is_empty() {
                    continue;
                }
                match rank(&name) {
                    Some(r) if r < mine => {}
                    Some(r) => out.push(format!(
                        "{}:{line}: `{module}` (rank {mine}) uses `{name}` (rank {r}): only lower ranks",
                        rel.display()
                    )),
                    None => {}
                }
            }
        }
        out
    }

    #[test]
    fn modules_use_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let found = violations(&src);
        assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
    }

    /// Files under `dir` (recursively) that mention diesel or the schema: (file, line).
    fn sql_in(dir: &Path) -> Vec<String> {
        let mut files = vec![];
        rust_files(dir, &mut files);
        let mut out = vec![];
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, line) in text.lines().enumerate() {
                if line.contains("diesel") || line.contains("db::schema") {
                    out.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
        out
    }

    /// Handlers parse, call the domain and map the result: no SQL in `http/`.
    #[test]
    fn http_handlers_hold_no_sql() {
        let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let found = sql_in(&http);
        assert!(
            found.is_empty(),
            "SQL in http/ (move it into the domain module):\n{}",
            found.join("\n")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("h.rs"), "use diesel::prelude::*;\n").unwrap();
        assert_eq!(sql_in(dir.path()).len(), 1, "the check sees diesel");
    }

    /// The check sees a use that points up, and one between modules of the same rank.
    #[test]
    fn the_layer_check_sees_an_upward_use() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("accounts")).unwrap();
        std::fs::write(
            dir.path().join("accounts/mod.rs"),
            "use crate::db::Db;\n// crate::rooms in a comment is fine\nfn f() { crate::rooms::stop(); }\n#[cfg(test)]\nmod tests { use crate::http; }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("shows.rs"), "use crate::accounts::User;\n").unwrap();
        std::fs::write(dir.path().join("newcomer.rs"), "").unwrap();
        let mut found = violations(dir.path());
        found.sort();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("accounts/mod.rs:3: `accounts` (rank 3) uses `rooms` (rank 6)"));
        assert!(found[1].contains("module `newcomer` is not in LAYERS"));
        assert!(found[2].contains("shows.rs:1: `shows` (rank 3) uses `accounts` (rank 3)"));
    }
}
