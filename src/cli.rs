//! The command line: `shelf` serves; subcommands manage the database.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::accounts;
use crate::auth::Role;
use crate::books::import;
use crate::settings::Settings;
use crate::startup::{self, Application};

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
    /// Load books from a CSV file (columns: title, author, published_year,
    /// isbn, rating, specifications_flat).
    Import { file: PathBuf },
    /// Print the v1 OpenAPI document (regenerates api/openapi-v1.json).
    Openapi,
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
        Command::Import { file } => import_file(&settings, &file),
        Command::Openapi => {
            print!("{}", crate::openapi::v1_json());
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> Result<(), CliError> {
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.bind;
        let app = Application::build(settings)?;
        log::info!("serving on http://{}:{} (stop with SIGTERM to drain requests)", bind.ip(), app.port());
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn create_user(settings: &Settings, name: &str, admin: bool) -> Result<(), CliError> {
    accounts::check_username_rules(name).map_err(|m| format!("username {m}"))?;
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
    accounts::check_password_rules(&password).map_err(|m| format!("password {m}"))?;
    let pool = startup::prepare_database(settings)?;
    let hash = crate::auth::password::hash_blocking(&password)?;
    let mut conn = pool.get()?;
    let role = if admin { Role::Admin } else { Role::User };
    let user = accounts::insert(&mut conn, name, &hash, role)?;
    println!("created user {} (id {}, role {})", user.username, user.id, role.as_str());
    Ok(())
}

fn import_file(settings: &Settings, file: &std::path::Path) -> Result<(), CliError> {
    let source = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let pool = startup::prepare_database(settings)?;
    let mut conn = pool.get()?;
    let report = import::import_csv(&mut conn, source)?;
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
