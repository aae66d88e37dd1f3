//! Sessions: signing in for a token pair or a cookie session, refreshing,
//! revoking and signing out. The session store itself is
//! `auth::sessions`; the password check is `accounts::login`.

pub mod handlers;
