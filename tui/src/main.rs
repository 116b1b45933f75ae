//! `livestars-admin`: the terminal console over an instance's admin API. It links neither diesel
//! nor ethers; it decrypts ID documents locally with the admin's own age identity.
//!
//! The screens arrive with the console issue; until then the binary says so and exits non-zero,
//! so nobody mistakes it for a working console.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    if std::env::args().any(|a| a == "--version" || a == "-V") {
        println!("livestars-admin {version}");
        return std::process::ExitCode::SUCCESS;
    }
    eprintln!(
        "livestars-admin {version}: the console screens are not built yet; \
         use `livestars admin create` and the instance's HTTP API meanwhile"
    );
    std::process::ExitCode::from(2)
}
