//! `livestars`: the instance server's command line. All behaviour lives in the library.
#![forbid(unsafe_code)]

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = livestars_server::cli::Cli::parse();
    match livestars_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
