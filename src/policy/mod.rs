//! The rules for usernames, passwords and free text, shared by the API,
//! the command line and the settings (`SHELF_ADMIN_PASSWORD`): plain
//! functions with no state, so everything may use them.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 128;

static USERNAME: LazyLock<Regex> = LazyLock::new(|| {
    #[expect(clippy::unwrap_used, reason = "a constant pattern, covered by tests")]
    Regex::new("^[a-z0-9_.-]{3,32}$").unwrap()
});

/// The 10,000 most common passwords of SecLists
/// (`Passwords/Common-Credentials/10k-most-common.txt`, danielmiessler/SecLists
/// at 4f84b3c, MIT License, Copyright (c) Daniel Miessler), lower-cased.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().map(str::to_lowercase).collect());

/// The contract's password rule, shared by the API, the CLI and settings:
/// 12–128 characters and not one of the most common leaked passwords.
pub fn check_password_rules(password: &str) -> Result<&str, String> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(format!("length must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"));
    }
    if is_common(password) {
        return Err("is, or is built from, one of the most common leaked passwords; choose another".into());
    }
    Ok(password)
}

/// Few entries of the list reach 12 characters, so a password also counts
/// as common when it is a listed one with digits or symbols appended
/// (`sunshine2024!`) or one repeated (`qwertyqwerty`): the first guesses
/// any cracker makes from such a list.
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let listed = |s: &str| s.chars().count() >= 4 && COMMON_PASSWORDS.contains(s);
    if listed(&lower) || listed(stem) {
        return true;
    }
    let chars: Vec<char> = stem.chars().collect();
    (1..=chars.len() / 2).filter(|unit| chars.len().is_multiple_of(*unit)).any(|unit| {
        let first: String = chars[..unit].iter().collect();
        chars.chunks(unit).all(|c| c == &chars[..unit]) && (unit < 4 || listed(&first))
    })
}

/// The rules that need the username too: a password may not be the username.
pub fn check_password_for(username: &str, password: &str) -> Result<(), String> {
    check_password_rules(password)?;
    if password.trim().eq_ignore_ascii_case(username.trim()) {
        return Err("must not be the username".into());
    }
    Ok(())
}

pub fn check_username_rules(username: &str) -> Result<&str, String> {
    if USERNAME.is_match(username) {
        Ok(username)
    } else {
        Err("must be 3 to 32 characters of a-z, 0-9, '_', '.', '-'".into())
    }
}

/// For names, titles and search text: no control characters at all (a NUL
/// would also be refused by PostgreSQL and break SQLite's full-text query).
pub fn single_line_text(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(validator::ValidationError::new("control_characters")
            .with_message("must not contain control characters".into()));
    }
    Ok(())
}

/// For longer text: line breaks and tabs are fine, other control
/// characters (NUL among them) are not.
pub fn multi_line_text(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(validator::ValidationError::new("control_characters")
            .with_message("must not contain control characters other than line breaks and tabs".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        for ok in ["abc", "reader_1", "a.b-c", &"x".repeat(32)] {
            assert!(check_username_rules(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Admin", "with space", "ünï", &"x".repeat(33), "semi;colon"] {
            assert!(check_username_rules(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn common_and_username_passwords_are_refused() {
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
        for weak in ["unbelievable", "Sunshine2024!", "password1234", "qwertyqwerty", "abcabcabcabc", "aaaaaaaaaaaa"] {
            assert!(check_password_rules(weak).is_err(), "{weak}");
        }
        for fine in ["correct horse battery", "sunshine in a jar 7", "tr0ub4dor&3xyz"] {
            assert!(check_password_rules(fine).is_ok(), "{fine}");
        }
        assert!(check_password_for("reader_one", "READER_ONE").is_err(), "too short anyway");
        assert!(check_password_for("long.username.x", "Long.Username.X").is_err());
        assert!(check_password_for("reader", "a long unusual passphrase").is_ok());
    }

    #[test]
    fn password_rules_count_characters_not_bytes() {
        assert!(check_password_rules("short").is_err());
        // 12 characters, 24 bytes.
        assert!(check_password_rules("éèêëēėęàáâäæ").is_ok());
        let alphabet = |n: usize| (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect::<String>();
        assert!(check_password_rules(&alphabet(128)).is_ok());
        assert!(check_password_rules(&alphabet(129)).is_err());
    }
}
