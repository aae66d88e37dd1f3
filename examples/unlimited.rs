//! The benchmark's "limiter off" server: shelf as `shelf` serves it, from
//! the same environment, but with every request limit emptied. The
//! rate-limit middleware then finds no quota to check for any request and
//! passes it straight on, as it does for the exempt `/health`: no store is
//! consulted and no rate-limit header is written. (The login failure
//! throttle is kept: it is not the request limiter.)
//!
//! `cargo run --release --example unlimited` (with `SHELF_*` set as for shelf)

use shelf::settings::Settings;
use shelf::startup::Application;

fn main() -> std::io::Result<()> {
    let mut settings = Settings::from_env().map_err(std::io::Error::other)?;
    shelf::logging::init(settings.log_format);
    let limits = &mut settings.limits;
    for quotas in [
        &mut limits.anonymous,
        &mut limits.authenticated,
        &mut limits.search_anonymous,
        &mut limits.status_change,
        &mut limits.login_ip,
    ] {
        quotas.clear();
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).map_err(std::io::Error::other)?;
        app.run_until_stopped().await
    })
}
