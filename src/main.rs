//! Entry point: settings, logging, then the command line.

use std::process::ExitCode;

use clap::Parser;
use shelf::cli::{self, Cli};
use shelf::settings::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("shelf: .env: {e}");
        return ExitCode::from(2);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("shelf: {e}");
            return ExitCode::from(2);
        }
    };
    shelf::logging::init(settings.log_format);
    match cli::run(cli, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shelf: {e}");
            ExitCode::FAILURE
        }
    }
}
