//! The two cookies of a cookie session: names and attributes.

/// Names and attributes of the two session cookies.
///
/// With `Secure` on, the names carry the `__Host-` prefix: browsers then
/// refuse them unless they are `Secure`, `Path=/` and without `Domain`, so a
/// sibling subdomain cannot plant or shadow them.
#[derive(Debug, Clone, Copy)]
pub struct SessionCookies {
    pub secure: bool,
}

impl SessionCookies {
    pub fn session_name(&self) -> &'static str {
        if self.secure { "__Host-shelf_session" } else { "shelf_session" }
    }

    pub fn csrf_name(&self) -> &'static str {
        if self.secure { "__Host-shelf_csrf" } else { "shelf_csrf" }
    }

    fn build<'c>(
        &self,
        name: &'static str,
        value: String,
        http_only: bool,
        max_age: i64,
    ) -> actix_web::cookie::Cookie<'c> {
        actix_web::cookie::Cookie::build(name, value)
            .path("/")
            .http_only(http_only)
            .secure(self.secure)
            .same_site(actix_web::cookie::SameSite::Strict)
            .max_age(time::Duration::seconds(max_age))
            .finish()
    }

    /// The `HttpOnly` session cookie and the readable CSRF cookie.
    pub fn issue<'c>(&self, secret: String, csrf: String, max_age: i64) -> [actix_web::cookie::Cookie<'c>; 2] {
        [self.build(self.session_name(), secret, true, max_age), self.build(self.csrf_name(), csrf, false, max_age)]
    }

    /// Cookies that make the browser drop both.
    pub fn clear<'c>(&self) -> [actix_web::cookie::Cookie<'c>; 2] {
        self.issue(String::new(), String::new(), 0)
    }
}
