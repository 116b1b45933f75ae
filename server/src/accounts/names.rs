//! Parsed account inputs: a [`Username`] and a [`Password`] exist only if they are valid.

use std::fmt;

/// A local username: 3–30 characters of `a-z`, `0-9`, `_`, starting with a letter.
/// Lower-case only, so `Alice` and `alice` can never be two accounts (it is also the
/// ActivityPub handle later, where case-folding differs between servers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const PATTERN: &'static str = "^[a-z][a-z0-9_]{2,29}$";

    pub fn parse(s: &str) -> Result<Username, String> {
        let len = s.chars().count();
        if !(3..=30).contains(&len) {
            return Err("username must be 3 to 30 characters".into());
        }
        let mut chars = s.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err("username must start with a lower-case letter a-z".into());
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err("username may only contain a-z, 0-9 and _".into());
        }
        Ok(Username(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most common passwords (lower case), refused at sign-up.
fn common_passwords() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    })
}

/// A password as typed at sign-up: 8–256 characters, not only spaces, no control characters,
/// not one of the 10,000 most common passwords. Never printed.
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Password, String> {
        let len = s.chars().count();
        if len < 8 {
            return Err("password must be at least 8 characters".into());
        }
        if len > 256 {
            return Err("password must be at most 256 characters".into());
        }
        if s.chars().any(char::is_control) {
            return Err("password must not contain control characters".into());
        }
        if s.chars().all(char::is_whitespace) {
            return Err("password must not be only spaces".into());
        }
        if common_passwords().contains(s.to_lowercase().as_str()) {
            return Err("this password is one of the most common ones; choose another".into());
        }
        Ok(Password(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        for bad in [
            "password",
            "PassWord",
            "12345678",
            "baseball",
            "iloveyou",
            "        ",
            "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}",
            "with a\nnewline",
            "tab\tinside it",
            "nul\0byte here",
            "short",
        ] {
            assert!(Password::parse(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "a long enough password",
            "correct horse battery",
            "ünïcödé pässwörd",
        ] {
            assert!(Password::parse(ok).is_ok(), "{ok:?}");
        }
        assert!(
            common_passwords().len() >= 9_000,
            "the list is bundled whole"
        );
    }

    #[test]
    fn valid_usernames() {
        for ok in ["abc", "alice_99", "a23456789012345678901234567890"] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn invalid_usernames() {
        for bad in [
            "",
            "ab",
            "Alice",
            "9lives",
            "_x_",
            "al ice",
            "alice!",
            "ålice",
            "a234567890123456789012345678901",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        let p = Password::parse("long enough").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
