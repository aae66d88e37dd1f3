//! Log set-up: `RUST_LOG` filters (default `info`); `SHELF_LOG_FORMAT=json`
//! writes one JSON object per line for log shippers, with a record's
//! structured fields (the access log's route, status, latency, request id,
//! principal kind and user id) as keys of their own.

use std::io::Write;

use log::kv::{self, VisitSource, VisitValue};
use serde_json::{Map, Value};

use crate::settings::LogFormat;

pub fn init(format: LogFormat) {
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| writeln!(buf, "{}", json_line(record)));
    }
    // A second init (tests) keeps the first logger.
    let _ = builder.try_init();
}

/// A record as the JSON format writes it: `ts`, `level`, `target`,
/// `message`, then its fields (which never replace those four).
pub fn json_line(record: &log::Record<'_>) -> Value {
    let mut line = Map::new();
    line.insert("ts".into(), crate::time::rfc3339(crate::db::now()).into());
    line.insert("level".into(), record.level().as_str().into());
    line.insert("target".into(), record.target().into());
    line.insert("message".into(), record.args().to_string().into());
    let _ = record.key_values().visit(&mut Fields(&mut line));
    Value::Object(line)
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let mut json = Value::Null;
        value.visit(Json(&mut json))?;
        self.0.entry(key.as_str()).or_insert(json);
        Ok(())
    }
}

/// One field's value as JSON: numbers, booleans and strings as themselves,
/// a missing value as `null`, anything else as its text.
struct Json<'a>(&'a mut Value);

impl<'v> VisitValue<'v> for Json<'_> {
    fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
        *self.0 = Value::String(value.to_string());
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        *self.0 = Value::Null;
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        *self.0 = value.into();
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        *self.0 = value.into();
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        *self.0 = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        *self.0 = value.into();
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        *self.0 = value.into();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_keys_and_cannot_replace_the_envelope() {
        let user_id: Option<i64> = Some(7);
        let missing: Option<u64> = None;
        let kvs: [(&str, kv::Value<'_>); 6] = [
            ("route", kv::Value::from("/api/v1/books/{id}")),
            ("status", kv::Value::from(200u16)),
            ("duration_ms", kv::Value::from(1.5f64)),
            ("user_id", kv::ToValue::to_value(&user_id)),
            ("bytes", kv::ToValue::to_value(&missing)),
            ("message", kv::Value::from("forged")),
        ];
        let line = json_line(
            &log::Record::builder()
                .level(log::Level::Info)
                .target("access")
                .args(format_args!("GET /api/v1/books/7 200"))
                .key_values(&kvs)
                .build(),
        );
        assert_eq!(line["target"], "access");
        assert_eq!(line["message"], "GET /api/v1/books/7 200");
        assert_eq!(line["route"], "/api/v1/books/{id}");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 1.5);
        assert_eq!(line["user_id"], 7);
        assert_eq!(line["bytes"], Value::Null);
    }
}
