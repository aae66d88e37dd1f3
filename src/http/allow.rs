//! The methods each route answers, for the `Allow` header a 405 must carry
//! (RFC 9110 §15.5.6). Built once from the route tables' document.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::Method;

#[derive(Debug, Default)]
pub struct AllowedMethods(HashMap<String, String>);

impl AllowedMethods {
    /// From (route pattern, method) pairs; every `GET` route also answers
    /// `HEAD`.
    pub fn new(routes: impl IntoIterator<Item = (String, Method)>) -> Self {
        let mut by_pattern: HashMap<String, BTreeSet<&'static str>> = HashMap::new();
        for (pattern, method) in routes {
            let methods = by_pattern.entry(pattern).or_default();
            if method == Method::GET {
                methods.insert("HEAD");
            }
            let known = [
                ("GET", Method::GET),
                ("POST", Method::POST),
                ("PUT", Method::PUT),
                ("PATCH", Method::PATCH),
                ("DELETE", Method::DELETE),
            ];
            if let Some((name, _)) = known.into_iter().find(|(_, m)| *m == method) {
                methods.insert(name);
            }
        }
        Self(
            by_pattern
                .into_iter()
                .map(|(pattern, methods)| (pattern, methods.into_iter().collect::<Vec<_>>().join(", ")))
                .collect(),
        )
    }

    /// The `Allow` value for a route pattern the router knows.
    pub fn of(&self, pattern: &str) -> Option<&str> {
        self.0.get(pattern).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_routes_also_allow_head() {
        let allowed = AllowedMethods::new([
            ("/books".to_owned(), Method::GET),
            ("/books".to_owned(), Method::POST),
            ("/token".to_owned(), Method::POST),
        ]);
        assert_eq!(allowed.of("/books"), Some("GET, HEAD, POST"));
        assert_eq!(allowed.of("/token"), Some("POST"));
        assert_eq!(allowed.of("/nowhere"), None);
    }
}
