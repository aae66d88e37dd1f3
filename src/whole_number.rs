//! Whole numbers in JSON bodies, as JSON Schema counts them: `3354` and
//! `3354.0` are both the integer 3354, so a field the OpenAPI document types
//! `integer` accepts both; `3354.5` is refused like any misfit value.
//!
//! serde alone refuses `3354.0` for an integer field. Use on every integer
//! field of a request body:
//! `#[serde(deserialize_with = "crate::whole_number::required")]`, or for an
//! optional one `#[serde(default, deserialize_with = "crate::whole_number::optional")]`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Error, Unexpected, Visitor};

/// What a refusal says it expected; the body extractor turns it into
/// "must be a whole number".
const EXPECTED: &str = "a whole number";

/// An integer of type `T` read from a JSON integer or an integral float.
struct Whole<T>(T);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeVisitor(PhantomData)).map(Whole)
    }
}

struct WholeVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(EXPECTED)
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &EXPECTED))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &EXPECTED))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        // Beyond ±2^63 no float converts exactly; every float that large
        // is out of range for the fields this is used on anyway.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if v.is_finite() && v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
            #[expect(clippy::cast_possible_truncation, reason = "integral and within i64's range, checked above")]
            let whole = v as i64;
            return self.visit_i64(whole);
        }
        Err(E::invalid_value(Unexpected::Float(v), &EXPECTED))
    }
}

/// A required integer field.
pub fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    Whole::deserialize(deserializer).map(|Whole(v)| v)
}

/// An optional integer field: absent or `null` is `None`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    Option::<Whole<T>>::deserialize(deserializer).map(|v| v.map(|Whole(v)| v))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::required")]
        id: i64,
        #[serde(default, deserialize_with = "super::optional")]
        days: Option<u32>,
    }

    fn parse(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integers_and_integral_floats_are_accepted() {
        let body = parse(r#"{"id": 3354.0, "days": 7}"#).unwrap();
        assert_eq!((body.id, body.days), (3354, Some(7)));
        let body = parse(r#"{"id": -2, "days": 1e2}"#).unwrap();
        assert_eq!((body.id, body.days), (-2, Some(100)));
        assert_eq!(parse(r#"{"id": 1, "days": null}"#).unwrap().days, None);
        assert_eq!(parse(r#"{"id": 1}"#).unwrap().days, None);
    }

    #[test]
    fn fractions_strings_and_out_of_range_values_are_refused() {
        for json in [
            r#"{"id": 3354.5}"#,
            r#"{"id": "3354"}"#,
            r#"{"id": 1e300}"#,
            r#"{"id": 9223372036854775808}"#,
            r#"{"id": 1, "days": -1}"#,
            r#"{"id": 1, "days": 4294967296.0}"#,
            r#"{"id": true}"#,
        ] {
            let error = parse(json).unwrap_err().to_string();
            assert!(error.contains("expected a whole number"), "{json}: {error}");
        }
    }
}
