//! Typed, validated settings, read once from the environment at start.
//!
//! Every variable of the contract's Configuration section is parsed here, so a
//! bad value stops the start with a one-line message naming the variable
//! instead of surfacing later as a panic or a silent default.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

/// A value that must never be printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Which database the URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (or `:memory:`) for the embedded SQLite.
    Sqlite(String),
    Postgres(Secret),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://shelf.db".into());
            }
            Ok(Self::Sqlite(path.to_owned()))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Self::Postgres(Secret::new(raw)))
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }
}

/// One rate-limit quota, `COUNT/PERIOD` in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub count: u32,
    pub period: Duration,
}

/// The one forwarded header the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …`
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1;proto=https, …`
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(Self::XForwardedFor),
            "forwarded" => Some(Self::Forwarded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub anonymous: Vec<Quota>,
    pub authenticated: Vec<Quota>,
    pub search_anonymous: Vec<Quota>,
    pub status_change: Vec<Quota>,
    pub login_ip: Vec<Quota>,
    pub login_failures: Vec<Quota>,
    pub login_client_failures: Vec<Quota>,
    /// Failed credentials (bearer tokens, API keys, session cookies) per
    /// client IP.
    pub credential_failures: Vec<Quota>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where `GET /metrics` is served, apart from the API; `None`: nowhere,
    /// and nothing is measured.
    pub metrics_bind: Option<SocketAddr>,
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    pub database_pool_timeout: Duration,
    /// How long a request body may take to arrive, whole.
    pub request_body_timeout: Duration,
    /// Bytes of request bodies buffered at once, across all connections.
    pub request_body_budget: usize,
    /// Threads that hash passwords (argon2), each ~19 MiB while it hashes.
    pub password_threads: usize,
    pub jwt_secret: Option<Secret>,
    /// Retired signing secrets that still verify tokens until removed.
    pub jwt_previous_secrets: Vec<Secret>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub session_ttl: Duration,
    pub security_event_retention: Duration,
    pub admin_password: Option<Secret>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// The one header the trusted proxies write.
    pub forwarded_header: ForwardedHeader,
    /// Absolute lifetime of a refresh-token family or cookie session.
    pub session_max_age: Duration,
    /// Active API keys one user may hold.
    pub api_keys_per_user: u32,
    pub cookie_secure: bool,
    pub hsts: bool,
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key, so instances of one deployment share
    /// limits and other deployments (or tests) do not.
    pub redis_prefix: String,
    /// IPv6 clients are limited by this prefix length.
    pub ipv6_prefix: u8,
    /// Off only where a gateway in front limits instead (and to measure
    /// what the limiter costs).
    pub rate_limits_enabled: bool,
    pub limits: Limits,
    pub log_format: LogFormat,
}

/// A setting that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Settings {
    /// Reads the process environment (after `.env`, if present).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads settings from a map, so tests can build their own without
    /// touching the process environment.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let fail = |variable: &'static str, problem: String| SettingsError { variable, problem };

        let bind_raw = get("SHELF_BIND").unwrap_or("127.0.0.1:8080");
        let bind = bind_raw
            .parse()
            .map_err(|_| fail("SHELF_BIND", format!("{bind_raw:?} is not an address like 127.0.0.1:8080")))?;

        let metrics_bind = match get("SHELF_METRICS_BIND") {
            None => None,
            Some(raw) => {
                let address: SocketAddr = raw.parse().map_err(|_| {
                    fail("SHELF_METRICS_BIND", format!("{raw:?} is not an address like 127.0.0.1:9090"))
                })?;
                // Port 0 picks a free port for each listener, so only a
                // fixed port can collide.
                if address == bind && address.port() != 0 {
                    return Err(fail(
                        "SHELF_METRICS_BIND",
                        "must differ from SHELF_BIND: metrics are never served on the API port".into(),
                    ));
                }
                Some(address)
            }
        };

        let database_url = DatabaseUrl::parse(get("SHELF_DATABASE_URL").unwrap_or("sqlite://shelf.db"))
            .map_err(|problem| fail("SHELF_DATABASE_URL", problem))?;

        let pool_raw = get("SHELF_DATABASE_POOL_SIZE").unwrap_or("8");
        let database_pool_size = pool_raw.parse::<u32>().ok().filter(|n| (1..=256).contains(n)).ok_or_else(|| {
            fail("SHELF_DATABASE_POOL_SIZE", format!("{pool_raw:?} is not a whole number from 1 to 256"))
        })?;

        let database_pool_timeout = parse_duration(get("SHELF_DATABASE_POOL_TIMEOUT").unwrap_or("3s"))
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(60))
            .ok_or_else(|| fail("SHELF_DATABASE_POOL_TIMEOUT", "must be a duration from 1s to 60s, e.g. 3s".into()))?;

        let request_body_timeout = parse_duration(get("SHELF_REQUEST_BODY_TIMEOUT").unwrap_or("30s"))
            .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(300))
            .ok_or_else(|| fail("SHELF_REQUEST_BODY_TIMEOUT", "must be a duration from 1s to 300s, e.g. 30s".into()))?;

        let budget_raw = get("SHELF_REQUEST_BODY_BUDGET").unwrap_or("16");
        let request_body_budget = budget_raw
            .parse::<usize>()
            .ok()
            .filter(|mib| (1..=4096).contains(mib))
            .map(|mib| mib * 1024 * 1024)
            .ok_or_else(|| {
                fail("SHELF_REQUEST_BODY_BUDGET", format!("{budget_raw:?} is not a number of MiB from 1 to 4096"))
            })?;

        // One hashing thread per core but one, and at least one: argon2 keeps
        // a core busy for the whole hash, and reads need a core of their own
        // whatever the sign-in traffic.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let default_threads = cores.saturating_sub(1).max(1).to_string();
        let threads_raw = get("SHELF_PASSWORD_THREADS").unwrap_or(&default_threads);
        let password_threads = threads_raw.parse::<usize>().ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| {
            fail("SHELF_PASSWORD_THREADS", format!("{threads_raw:?} is not a whole number from 1 to 64"))
        })?;

        let access_token_ttl = parse_duration(get("SHELF_ACCESS_TOKEN_TTL").unwrap_or("15m"))
            .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(24 * 3600))
            .ok_or_else(|| fail("SHELF_ACCESS_TOKEN_TTL", "must be a duration from 1m to 24h, e.g. 15m".into()))?;

        let jwt_secret = match get("SHELF_JWT_SECRET") {
            Some(s) if s.len() < MIN_JWT_SECRET_BYTES => {
                return Err(fail("SHELF_JWT_SECRET", format!("must be at least {MIN_JWT_SECRET_BYTES} bytes")));
            }
            other => other.map(Secret::new),
        };

        let jwt_previous_secrets = split_list(get("SHELF_JWT_PREVIOUS_SECRETS"))
            .map(|s| {
                if s.len() < MIN_JWT_SECRET_BYTES {
                    Err(fail(
                        "SHELF_JWT_PREVIOUS_SECRETS",
                        format!("each must be at least {MIN_JWT_SECRET_BYTES} bytes"),
                    ))
                } else {
                    Ok(Secret::new(s))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        let refresh_token_ttl = parse_duration(get("SHELF_REFRESH_TOKEN_TTL").unwrap_or("30d"))
            .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(365 * 86_400))
            .ok_or_else(|| fail("SHELF_REFRESH_TOKEN_TTL", "must be a duration from 1m to 365d, e.g. 30d".into()))?;

        let session_ttl = parse_duration(get("SHELF_SESSION_TTL").unwrap_or("12h"))
            .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(30 * 86_400))
            .ok_or_else(|| fail("SHELF_SESSION_TTL", "must be a duration from 1m to 30d, e.g. 12h".into()))?;

        let security_event_retention = parse_duration(get("SHELF_SECURITY_EVENT_RETENTION").unwrap_or("90d"))
            .filter(|d| *d >= Duration::from_secs(3600))
            .ok_or_else(|| {
                fail("SHELF_SECURITY_EVENT_RETENTION", "must be a duration of at least 1h, e.g. 90d".into())
            })?;

        let admin_password = match get("SHELF_ADMIN_PASSWORD") {
            Some(p) => {
                crate::policy::check_password_for("admin", p).map_err(|m| fail("SHELF_ADMIN_PASSWORD", m))?;
                Some(Secret::new(p))
            }
            None => None,
        };

        let cors_origins = split_list(get("SHELF_CORS_ORIGINS"))
            .map(|origin| check_origin(origin).map(|_| origin.trim_end_matches('/').to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| fail("SHELF_CORS_ORIGINS", problem))?;

        let trusted_proxies = split_list(get("SHELF_TRUSTED_PROXIES"))
            .map(parse_ip_or_cidr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| fail("SHELF_TRUSTED_PROXIES", problem))?;

        let forwarded_raw = get("SHELF_FORWARDED_HEADER").unwrap_or("x-forwarded-for");
        let forwarded_header = ForwardedHeader::parse(forwarded_raw).ok_or_else(|| {
            fail("SHELF_FORWARDED_HEADER", format!("{forwarded_raw:?} must be x-forwarded-for or forwarded"))
        })?;

        let session_max_age = parse_duration(get("SHELF_SESSION_MAX_AGE").unwrap_or("90d"))
            .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(3650 * 86_400))
            .ok_or_else(|| fail("SHELF_SESSION_MAX_AGE", "must be a duration from 1m to 3650d, e.g. 90d".into()))?;

        let keys_raw = get("SHELF_API_KEYS_PER_USER").unwrap_or("25");
        let api_keys_per_user = keys_raw.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
            fail("SHELF_API_KEYS_PER_USER", format!("{keys_raw:?} is not a whole number from 1 to 10000"))
        })?;

        let cookie_secure = parse_bool(get("SHELF_COOKIE_SECURE").unwrap_or("true"))
            .ok_or_else(|| fail("SHELF_COOKIE_SECURE", "must be true or false".into()))?;
        let hsts = parse_bool(get("SHELF_HSTS").unwrap_or("false"))
            .ok_or_else(|| fail("SHELF_HSTS", "must be true or false".into()))?;

        let redis_url = match get("SHELF_REDIS_URL") {
            Some(url) if !(url.starts_with("redis://") || url.starts_with("rediss://")) => {
                return Err(fail("SHELF_REDIS_URL", "must start with redis:// or rediss://".into()));
            }
            other => other.map(Secret::new),
        };

        let redis_prefix = get("SHELF_REDIS_PREFIX").unwrap_or("shelf:ratelimit:").to_owned();
        if redis_prefix.len() > 100 || redis_prefix.contains(char::is_whitespace) {
            return Err(fail("SHELF_REDIS_PREFIX", "must be up to 100 characters without spaces".into()));
        }
        let ipv6_raw = get("SHELF_IPV6_PREFIX").unwrap_or("64");
        let ipv6_prefix =
            ipv6_raw.parse::<u8>().ok().filter(|n| (32..=128).contains(n)).ok_or_else(|| {
                fail("SHELF_IPV6_PREFIX", format!("{ipv6_raw:?} is not a prefix length from 32 to 128"))
            })?;

        let rate_limits_enabled = parse_bool(get("SHELF_RATE_LIMITS").unwrap_or("true"))
            .ok_or_else(|| fail("SHELF_RATE_LIMITS", "must be true or false".into()))?;

        let quotas = |variable: &'static str, default: &str| {
            parse_quotas(get(variable).unwrap_or(default)).map_err(|problem| fail(variable, problem))
        };
        let limits = Limits {
            anonymous: quotas("SHELF_LIMIT_ANONYMOUS", "50/1h,200/1d")?,
            authenticated: quotas("SHELF_LIMIT_AUTHENTICATED", "1000/1h,10000/1d")?,
            search_anonymous: quotas("SHELF_LIMIT_SEARCH_ANONYMOUS", "300/1h")?,
            status_change: quotas("SHELF_LIMIT_STATUS_CHANGE", "30/1m")?,
            login_ip: quotas("SHELF_LIMIT_LOGIN_IP", "10/1m")?,
            login_failures: quotas("SHELF_LIMIT_LOGIN_FAILURES", "5/15m")?,
            login_client_failures: quotas("SHELF_LIMIT_LOGIN_CLIENT_FAILURES", "20/15m")?,
            credential_failures: quotas("SHELF_LIMIT_CREDENTIAL_FAILURES", "20/1m")?,
        };

        let log_format = match get("SHELF_LOG_FORMAT").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(fail("SHELF_LOG_FORMAT", "must be text or json".into())),
        };

        Ok(Self {
            bind,
            metrics_bind,
            database_url,
            database_pool_size,
            database_pool_timeout,
            request_body_timeout,
            request_body_budget,
            password_threads,
            jwt_secret,
            jwt_previous_secrets,
            access_token_ttl,
            refresh_token_ttl,
            session_ttl,
            security_event_retention,
            admin_password,
            cors_origins,
            trusted_proxies,
            forwarded_header,
            session_max_age,
            api_keys_per_user,
            cookie_secure,
            hsts,
            redis_url,
            redis_prefix,
            ipv6_prefix,
            rate_limits_enabled,
            limits,
            log_format,
        })
    }
}

fn split_list(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `30s`, `15m`, `1h`, `1d`: a whole number and one unit.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let unit_at = raw.len().checked_sub(1)?;
    let (number, unit) = raw.split_at(unit_at);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// `50/1h,200/1d`: one or more positive quotas.
pub fn parse_quotas(raw: &str) -> Result<Vec<Quota>, String> {
    let quotas = split_list(Some(raw))
        .map(|item| {
            let (count, period) =
                item.split_once('/').ok_or_else(|| format!("{item:?} is not COUNT/PERIOD, e.g. 50/1h"))?;
            let count = count
                .parse::<u32>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| format!("{item:?}: the count must be a positive whole number"))?;
            let period = parse_duration(period)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("{item:?}: the period must be like 30s, 15m, 1h or 1d"))?;
            // One request per millisecond at most: both stores then count
            // in whole microseconds without rounding anything away.
            if period < Duration::from_millis(u64::from(count)) {
                return Err(format!("{item:?}: at most 1000 requests per second"));
            }
            Ok(Quota { count, period })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if quotas.is_empty() {
        return Err("needs at least one COUNT/PERIOD quota".into());
    }
    Ok(quotas)
}

fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{origin:?} is not an origin like https://app.example.com"))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '*', '?', '#', ' ']) {
        return Err(format!("{origin:?} is not an origin like https://app.example.com (no paths or wildcards)"));
    }
    Ok(())
}

fn parse_ip_or_cidr(raw: &str) -> Result<IpNet, String> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = Settings::from_vars(&HashMap::new()).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.metrics_bind, None);
        assert_eq!(s.database_url, DatabaseUrl::Sqlite("shelf.db".into()));
        assert_eq!(s.database_pool_size, 8);
        assert_eq!(s.database_pool_timeout, Duration::from_secs(3));
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert!(s.cookie_secure);
        assert!(!s.hsts);
        assert_eq!(s.forwarded_header, ForwardedHeader::XForwardedFor);
        assert_eq!(s.session_max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(s.api_keys_per_user, 25);
        assert_eq!(
            s.limits.anonymous,
            vec![
                Quota { count: 50, period: Duration::from_secs(3600) },
                Quota { count: 200, period: Duration::from_secs(86_400) }
            ]
        );
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("SHELF_BIND", "nowhere"),
            ("SHELF_DATABASE_URL", "mysql://x"),
            ("SHELF_DATABASE_POOL_SIZE", "0"),
            ("SHELF_DATABASE_POOL_TIMEOUT", "3 seconds"),
            ("SHELF_JWT_SECRET", "short"),
            ("SHELF_JWT_PREVIOUS_SECRETS", "short"),
            ("SHELF_REFRESH_TOKEN_TTL", "0s"),
            ("SHELF_SESSION_TTL", "40d"),
            ("SHELF_SECURITY_EVENT_RETENTION", "1m"),
            ("SHELF_LIMIT_LOGIN_CLIENT_FAILURES", "x"),
            ("SHELF_ADMIN_PASSWORD", "short"),
            ("SHELF_CORS_ORIGINS", "*"),
            ("SHELF_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("SHELF_COOKIE_SECURE", "maybe"),
            ("SHELF_HSTS", "2"),
            ("SHELF_REDIS_URL", "http://x"),
            ("SHELF_LIMIT_ANONYMOUS", "50/1w"),
            ("SHELF_LIMIT_LOGIN_FAILURES", "0/15m"),
            ("SHELF_LIMIT_AUTHENTICATED", "5000/1s"),
            ("SHELF_LOG_FORMAT", "xml"),
            ("SHELF_IPV6_PREFIX", "16"),
            ("SHELF_RATE_LIMITS", "maybe"),
            ("SHELF_REQUEST_BODY_TIMEOUT", "0s"),
            ("SHELF_REDIS_PREFIX", "has space"),
            ("SHELF_FORWARDED_HEADER", "x-real-ip"),
            ("SHELF_SESSION_MAX_AGE", "0s"),
            ("SHELF_API_KEYS_PER_USER", "0"),
            ("SHELF_LIMIT_CREDENTIAL_FAILURES", "20"),
            ("SHELF_REQUEST_BODY_BUDGET", "0"),
            ("SHELF_PASSWORD_THREADS", "0"),
            ("SHELF_METRICS_BIND", "localhost"),
        ];
        for (variable, value) in cases {
            let err = Settings::from_vars(&vars(&[(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            assert!(err.to_string().starts_with(variable));
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn metrics_need_a_listener_of_their_own() {
        let same = vars(&[("SHELF_BIND", "127.0.0.1:8080"), ("SHELF_METRICS_BIND", "127.0.0.1:8080")]);
        assert_eq!(Settings::from_vars(&same).unwrap_err().variable, "SHELF_METRICS_BIND");
        let apart = vars(&[("SHELF_METRICS_BIND", "127.0.0.1:9090")]);
        assert_eq!(Settings::from_vars(&apart).unwrap().metrics_bind, Some("127.0.0.1:9090".parse().unwrap()));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings::from_vars(&vars(&[
            ("SHELF_JWT_SECRET", "0123456789abcdef0123456789abcdef-top-secret"),
            ("SHELF_DATABASE_URL", "postgres://u:hunter2@db/shelf"),
        ]))
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("top-secret"));
        assert!(!printed.contains("hunter2"));
    }

    #[test]
    fn lists_and_cidrs_parse() {
        let s = Settings::from_vars(&vars(&[
            ("SHELF_CORS_ORIGINS", "https://a.example, http://localhost:3000/"),
            ("SHELF_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1, ::1"),
        ]))
        .unwrap();
        assert_eq!(s.cors_origins, vec!["https://a.example", "http://localhost:3000"]);
        assert_eq!(s.trusted_proxies.len(), 3);
    }
}
