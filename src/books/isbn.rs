//! ISBN-10 and ISBN-13 check digits.

use validator::ValidationError;

/// The ISBN without hyphens or spaces, if its check digit holds.
pub fn normalize(raw: &str) -> Option<String> {
    let compact: String = raw.chars().filter(|c| *c != '-' && *c != ' ').collect::<String>().to_ascii_uppercase();
    let valid = match compact.len() {
        10 => isbn10_ok(&compact),
        13 => isbn13_ok(&compact),
        _ => false,
    };
    valid.then_some(compact)
}

fn isbn10_ok(s: &str) -> bool {
    let mut sum = 0;
    for (i, c) in s.chars().enumerate() {
        let value = match (i, c) {
            (9, 'X') => 10,
            (_, d) => match d.to_digit(10) {
                Some(v) => v,
                None => return false,
            },
        };
        sum += value * (10 - i as u32);
    }
    sum % 11 == 0
}

fn isbn13_ok(s: &str) -> bool {
    let mut sum = 0;
    for (i, c) in s.chars().enumerate() {
        match c.to_digit(10) {
            Some(d) => sum += if i % 2 == 0 { d } else { d * 3 },
            None => return false,
        }
    }
    sum % 10 == 0
}

pub fn validate(raw: &str) -> Result<(), ValidationError> {
    normalize(raw)
        .map(|_| ())
        .ok_or_else(|| ValidationError::new("isbn").with_message("must be a valid ISBN-10 or ISBN-13".into()))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn accepts_valid_isbns_in_common_spellings() {
        assert_eq!(normalize("0-306-40615-2").as_deref(), Some("0306406152"));
        assert_eq!(normalize("978-0-306-40615-7").as_deref(), Some("9780306406157"));
        assert_eq!(normalize("0-8044-2957-x").as_deref(), Some("080442957X"));
    }

    #[test]
    fn rejects_bad_check_digits_and_shapes() {
        for bad in ["0-306-40615-3", "978-0-306-40615-8", "12345", "X306406152", "97803064061 57a", ""] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
