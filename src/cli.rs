//! The command line: `shelf` serves; subcommands manage the database.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use serde_json::json;
use validator::Validate;

use crate::audit::{self, Event};
use crate::auth::{Role, Scope};
use crate::books::import;
use crate::error::ApiError;
use crate::settings::Settings;
use crate::startup::{self, Application};
use crate::{accounts, api_keys, policy};

#[derive(Debug, Parser)]
#[command(name = "shelf", version, about = "A security-hardened REST API for book catalogs and reading lists")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys for integrators.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Load books from a CSV file (columns: title, author, published_year,
    /// isbn, rating, specifications_flat).
    Import { file: PathBuf },
    /// Print an OpenAPI document (regenerates api/openapi-VERSION.json).
    Openapi {
        /// `v1` or `v2`.
        #[arg(default_value = "v1", value_parser = clap::builder::PossibleValuesParser::new(crate::api::openapi::VERSIONS))]
        version: String,
    },
    /// Copy the SQLite database to PATH while the server runs (never
    /// overwrites PATH). PostgreSQL: use pg_dump, see the README.
    Backup { path: PathBuf },
    /// Put a backup made by `shelf backup` in place of the SQLite database.
    /// Refused while a server runs on it; the database it replaces is kept
    /// beside it as PATH.replaced-TIME.
    Restore {
        path: PathBuf,
        /// Replace an existing database (stop the server first).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password comes from SHELF_PASSWORD or a prompt.
    Create {
        name: String,
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a user and print it (shown only this once).
    Create {
        /// The user the key acts as.
        #[arg(long)]
        user: String,
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// Repeat or comma-separate: books:read, books:write (admins only),
        /// library:read, library:write.
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// Days until the key expires (1–3650); without it, never.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List a user's keys (never the keys themselves).
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke a key by id; it fails from the next request on.
    Revoke {
        #[arg(long)]
        user: String,
        id: i64,
    },
}

/// A failure to report in one line before exiting.
pub type CliError = Box<dyn std::error::Error>;

pub fn run(cli: Cli, settings: Settings) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => {
            startup::prepare_database(&settings)?;
            println!("database is up to date");
            Ok(())
        }
        Command::User { command: UserCommand::Create { name, admin } } => create_user(&settings, &name, admin),
        Command::ApiKey { command } => api_key(&settings, command),
        Command::Import { file } => import_file(&settings, &file),
        Command::Openapi { version } => {
            print!("{}", crate::api::openapi::json(&version).unwrap_or_default());
            Ok(())
        }
        Command::Backup { path } => {
            let contents = crate::backup::backup(&settings.database_url, &path)?;
            println!("wrote {}: {contents}; integrity ok", path.display());
            Ok(())
        }
        Command::Restore { path, force } => restore(&settings, &path, force),
    }
}

fn restore(settings: &Settings, path: &std::path::Path, force: bool) -> Result<(), CliError> {
    let restored = crate::backup::restore(&settings.database_url, path, force)?;
    for warning in &restored.warnings {
        eprintln!("shelf: warning: {warning}");
    }
    println!("restored {} into {}: {}", path.display(), restored.target.display(), restored.contents);
    if let Some(replaced) = &restored.replaced {
        println!("the database it replaced is kept as {}", replaced.display());
    }
    if restored.pending_migrations > 0 {
        println!("the next start applies {} migration(s) to it", restored.pending_migrations);
    }
    Ok(())
}

fn serve(settings: Settings) -> Result<(), CliError> {
    // Held until the server has stopped, so `shelf restore` can tell.
    let _lock = crate::backup::lock_for_serving(&settings.database_url)?;
    actix_web::rt::System::new().block_on(async move {
        let (bind, metrics_bind) = (settings.bind, settings.metrics_bind);
        let app = Application::build(settings)?;
        log::info!("serving on http://{}:{} (stop with SIGTERM to drain requests)", bind.ip(), app.port());
        if let (Some(metrics), Some(port)) = (metrics_bind, app.metrics_port()) {
            log::info!("metrics on http://{}:{port}/metrics", metrics.ip());
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn create_user(settings: &Settings, name: &str, admin: bool) -> Result<(), CliError> {
    policy::check_username_rules(name).map_err(|m| format!("username {m}"))?;
    let password = match std::env::var("SHELF_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let first = rpassword::prompt_password(format!("Password for {name}: "))?;
            let again = rpassword::prompt_password("Again: ")?;
            if first != again {
                return Err("the passwords differ".into());
            }
            first
        }
    };
    policy::check_password_for(name, &password).map_err(|m| format!("password {m}"))?;
    let pool = startup::prepare_database(settings)?;
    let hash = crate::auth::password::hash_blocking(&password)?;
    let mut conn = pool.get()?;
    let role = if admin { Role::Admin } else { Role::User };
    let user = accounts::insert(&mut conn, name, &hash, role)?;
    audit::store::record_now(
        &mut conn,
        Event::UserCreated,
        None,
        json!({"created_user_id": user.id, "role": role.as_str(), "by": "command line"}),
    )?;
    println!("created user {} (id {}, role {})", user.username, user.id, role.as_str());
    Ok(())
}

fn api_key(settings: &Settings, command: ApiKeyCommand) -> Result<(), CliError> {
    let pool = startup::prepare_database(settings)?;
    let mut conn = pool.get()?;
    let mut owner = |name: &str| -> Result<accounts::UserRow, CliError> {
        accounts::find_by_username(&mut conn, name)?.ok_or_else(|| format!("no user named {name:?}").into())
    };
    match command {
        ApiKeyCommand::Create { user, name, scopes, expires_in_days } => {
            let owner = owner(&user)?;
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s.trim()).ok_or_else(|| format!("unknown scope {s:?}")))
                .collect::<Result<Vec<_>, _>>()?;
            let request = api_keys::KeySpec { name, scopes, expires_in_days };
            request.validate().map_err(|e| format!("invalid key request: {}", ApiError::from(e).describe_fields()))?;
            api_keys::check_grantable(&request.scopes, Role::parse(&owner.role).unwrap_or(Role::User))
                .map_err(|_| "books:write is only for keys of admins")?;
            let mut conn = pool.get()?;
            let created = api_keys::create(&mut conn, owner.id, &request, settings.api_keys_per_user)?;
            let details = json!({"key_id": created.view.id, "prefix": created.view.prefix, "by": "command line"});
            audit::store::record_now(&mut conn, Event::ApiKeyCreated, Some(owner.id), details)?;
            println!("{}", created.key);
            eprintln!(
                "API key {} (id {}) for {user}; it is shown only this once.",
                created.view.prefix, created.view.id
            );
        }
        ApiKeyCommand::List { user } => {
            let owner = owner(&user)?;
            let mut conn = pool.get()?;
            for key in api_keys::list(&mut conn, owner.id)?.into_iter().map(api_keys::ApiKeyView::from) {
                let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\tcreated {}\tlast used {}\texpires {}",
                    key.id,
                    key.prefix,
                    key.name,
                    scopes.join(","),
                    key.created_at,
                    key.last_used_at.as_deref().unwrap_or("never"),
                    key.expires_at.as_deref().unwrap_or("never"),
                );
            }
        }
        ApiKeyCommand::Revoke { user, id } => {
            let owner = owner(&user)?;
            let mut conn = pool.get()?;
            api_keys::revoke(&mut conn, owner.id, id).map_err(|_| format!("{user} has no API key {id}"))?;
            audit::store::record_now(
                &mut conn,
                Event::ApiKeyRevoked,
                Some(owner.id),
                json!({"key_id": id, "by": "command line"}),
            )?;
            println!("revoked API key {id}");
        }
    }
    Ok(())
}

fn import_file(settings: &Settings, file: &std::path::Path) -> Result<(), CliError> {
    let source = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let pool = startup::prepare_database(settings)?;
    let mut conn = pool.get()?;
    let started = std::time::Instant::now();
    let mut shown = started;
    let report = import::import_csv_with_progress(&mut conn, source, |so_far| {
        if shown.elapsed() >= std::time::Duration::from_secs(1) {
            shown = std::time::Instant::now();
            eprintln!(
                "{:.0} s: {} imported, {} already present, {} rejected so far",
                started.elapsed().as_secs_f64(),
                so_far.imported,
                so_far.already_present,
                so_far.rejected.len()
            );
        }
    })?;
    for (line, problem) in &report.rejected {
        eprintln!("{}:{line}: {problem}", file.display());
    }
    println!(
        "imported {} book(s); {} already present; {} row(s) rejected",
        report.imported,
        report.already_present,
        report.rejected.len()
    );
    Ok(())
}
