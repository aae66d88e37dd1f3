//! Security events: one `security` log target, so they can be routed and
//! alerted on separately. Never pass secrets (passwords, tokens) here.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    LoginSucceeded,
    LoginFailed,
    PasswordChanged,
    PasswordChangeFailed,
    UserCreated,
    StatusChanged,
    BookCreated,
    BookUpdated,
    BookDeleted,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordChangeFailed => "password_change_failed",
            Self::UserCreated => "user_created",
            Self::StatusChanged => "status_change",
            Self::BookCreated => "book_created",
            Self::BookUpdated => "book_updated",
            Self::BookDeleted => "book_deleted",
        }
    }
}

/// Logs one event. `details` is formatted with `{:?}` so that a value
/// chosen by a client cannot forge extra log lines.
pub fn log(event: Event, user_id: Option<i64>, details: &str) {
    let user = user_id.map_or_else(|| "-".to_owned(), |id| id.to_string());
    log::warn!(target: "security", "type={} user_id={} details={:?}", event.as_str(), user, details);
}
