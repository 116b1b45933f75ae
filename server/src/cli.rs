//! The `livestars` command line: serve, migrate, config check, admin create.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use livestars_api::Role;

use crate::accounts::{self, Password, TokenKind, Username};
use crate::config::Config;
use crate::db::Db;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "livestars", version, about = "Live Stars instance server")]
pub struct Cli {
    /// TOML configuration file [default: ./livestars.toml if it exists]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database and files [env: LIVESTARS_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the instance (migrates the database first).
    Serve {
        /// ADDRESS:PORT to listen on [env: LIVESTARS_BIND] [default: 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<String>,
        /// The public URL of the instance [env: LIVESTARS_PUBLIC_URL]
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Allow http, ports, localhost and private addresses in federation: tests and local
        /// trials only [env: LIVESTARS_FEDERATION_DEBUG]
        #[arg(long)]
        federation_debug: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Ask a running instance whether it is up (`GET /api/health`): exit 0 if it answers 200,
    /// 1 otherwise. For container health checks; needs no other tool in the image.
    Health {
        /// The instance's base URL (plain http) [default: http://<bind>, 0.0.0.0 as 127.0.0.1]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Administration from the command line.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The LIVE ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Verify the ledger's invariants (balances sum to zero, no user below zero, every balance
    /// equals its transfers); print the findings; exit 1 on any violation.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted); exit 1 if it is invalid.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account and print its admin API token (shown only this once).
    Create {
        #[arg(long)]
        username: String,
    },
    /// Register an admin's age recipient (public key, `age1…`) as an ID-document verifier.
    AddVerifier {
        #[arg(long)]
        username: String,
        #[arg(long)]
        recipient: String,
    },
}

impl Cli {
    /// The configuration with command-line flags applied on top of file and environment.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Command::Serve {
            bind,
            public_url,
            federation_debug,
        } = &self.command
        {
            if let Some(bind) = bind {
                config.bind = bind.clone();
            }
            if let Some(url) = public_url {
                config.public_url = url.clone();
            }
            if *federation_debug {
                config.federation_debug = true;
            }
        }
        config.validate()?;
        Ok(config)
    }
}

/// `GET /api/health` over plain HTTP/1.0 with the standard library; the status code.
fn health(base: &str) -> anyhow::Result<u16> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("{base:?}: only http:// URLs (the local listener)"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host:?} resolves to nothing"))?;
    let timeout = std::time::Duration::from_secs(5);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /api/health HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let line = String::from_utf8_lossy(&head);
    line.get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP answer: {line:?}"))
}

fn open_db(config: &Config) -> anyhow::Result<Db> {
    Ok(Db::open(&config.database()?, 2)?)
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.load_config()?;
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            print!("{}", config.to_redacted_toml());
            eprintln!("configuration is valid");
            Ok(())
        }
        Command::Health { url } => {
            let base = url.unwrap_or_else(|| {
                format!("http://{}", config.bind.replacen("0.0.0.0", "127.0.0.1", 1))
            });
            let status = tokio::task::spawn_blocking(move || health(&base)).await??;
            if status == 200 {
                println!("ok");
                Ok(())
            } else {
                anyhow::bail!("the instance answered {status}")
            }
        }
        Command::Migrate => {
            let db = tokio::task::spawn_blocking(move || open_db(&config)).await??;
            println!("database is up to date ({})", db.backend().as_str());
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Create { username },
        } => {
            let token =
                tokio::task::spawn_blocking(move || create_admin(&config, &username)).await??;
            println!("{token}");
            eprintln!("admin created; the line above is its admin API token, shown only once");
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::AddVerifier {
                    username,
                    recipient,
                },
        } => {
            let v =
                tokio::task::spawn_blocking(move || add_verifier(&config, &username, &recipient))
                    .await??;
            println!("verifier {} registered for {}", v.recipient, v.username);
            eprintln!(
                "new uploads are encrypted to it; re-wrap existing documents from the console"
            );
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Check,
        } => {
            let cfg = config.clone();
            let report = tokio::task::spawn_blocking(move || {
                let db = open_db(&cfg)?;
                db.write_blocking(|conn| {
                    crate::ledger::check(conn).map_err(|e| anyhow::anyhow!("{e}"))
                })
            })
            .await??;
            println!("accounts: {}", report.accounts);
            println!("transfers: {}", report.transfers);
            println!(
                "sum of balances: {} LIVE ({} units)",
                crate::ledger::format_amount(
                    i64::try_from(report.sum_of_balances).unwrap_or(i64::MAX)
                ),
                report.sum_of_balances
            );
            for id in &report.negative_user_balances {
                println!("account {id}: a user balance below zero");
            }
            for (id, balance, sum) in &report.mismatched {
                println!("account {id}: balance {balance} units, transfers sum to {sum}");
            }
            if let Some((balance, expected)) = report.chain_mismatch {
                println!(
                    "chain account: balance {balance} units, deposits and payouts say {expected}"
                );
            }
            let mut ok = report.ok();
            if !config.chain_rpc_url.is_empty() {
                ok &= reconcile(&config).await?;
            }
            if ok {
                println!("ledger check passed");
                Ok(())
            } else {
                anyhow::bail!("ledger check failed")
            }
        }
        Command::Serve { .. } => serve(config).await,
    }
}

/// Reconcile the treasury's LIVE on chain with what the ledger says it must hold: everything
/// that came in minus confirmed payouts, minus (or not yet) the payouts on their way.
async fn reconcile(config: &Config) -> anyhow::Result<bool> {
    use crate::settlement::Chain;
    let settle = crate::settlement::Service::start(config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let connected = settle
        .connected()
        .ok_or_else(|| anyhow::anyhow!("the chain node does not answer"))?;
    let chain = connected.chain.clone();
    let on_chain = chain
        .token_balance(chain.treasury())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let head = chain.head().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let config2 = config.clone();
    let db = tokio::task::spawn_blocking(move || open_db(&config2)).await??;
    let mut ok = true;
    // The node must be on the chain this database settles (recorded on first contact).
    if let Some(reason) = crate::settlement::watcher::check_identity(chain.as_ref(), &db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        println!("settlement is halted: {reason}");
        ok = false;
    }
    let (e, scanned, orphaned) = db
        .read(|conn| {
            use crate::db::schema::chain_deposits as d;
            use diesel::prelude::*;
            let e = crate::settlement::payouts::expected(conn)?;
            let scanned = crate::settlement::watcher::scanned_to(conn)?;
            let orphaned: Vec<(String, i64, String, Option<i64>)> = d::table
                .filter(d::orphaned_at.is_not_null())
                .select((d::tx_hash, d::units, d::status, d::user_id))
                .load(conn)?;
            Ok::<_, crate::settlement::SettlementError>((e, scanned, orphaned))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (tx, units, status, user) in &orphaned {
        let who = user.map_or(String::new(), |u| format!(" to account {u}"));
        println!(
            "deposit {tx} ({} LIVE, {status}{who}) was removed from the chain by a reorganisation deeper than the confirmations: the treasury lacks it until the transfer is mined again; an operator must resolve it",
            crate::ledger::format_amount(*units)
        );
        ok = false;
    }
    let high = (e.deposits_in + e.pending_deposits).saturating_sub(e.paid_out);
    let low = high.saturating_sub(e.in_flight);
    let d = connected.decimals;
    println!(
        "treasury {} on chain {}: {} base units (decimals {d})",
        chain.treasury(),
        chain.chain_id(),
        on_chain
    );
    println!(
        "ledger: deposits {} + pending {} - paid out {} - on their way {} (base units)",
        e.deposits_in, e.pending_deposits, e.paid_out, e.in_flight
    );
    match scanned {
        Some(n) if n < head => println!(
            "the watcher has scanned to block {n} of {head}: later deposits are not counted yet"
        ),
        Some(n) => println!("the watcher has scanned to block {n} (head {head})"),
        None => println!("the watcher has not scanned any block yet"),
    }
    if (low..=high).contains(&on_chain) {
        println!("treasury reconciles with the ledger");
        Ok(ok)
    } else if on_chain > high {
        println!(
            "treasury holds {} base units MORE than the ledger accounts for",
            on_chain - high
        );
        Ok(false)
    } else {
        println!(
            "treasury holds {} base units LESS than the ledger accounts for",
            low - on_chain
        );
        Ok(false)
    }
}

fn create_admin(config: &Config, username: &str) -> anyhow::Result<String> {
    let username = Username::parse(username).map_err(anyhow::Error::msg)?;
    let db = open_db(config)?;
    // Admins sign in with their API token; the password is random and never shown.
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let password = Password::parse(&hex::encode(secret)).map_err(anyhow::Error::msg)?;
    let hash = accounts::hash_password(&password)?;
    let token = db.write_blocking(|conn| {
        let user = accounts::create_user(conn, &username, &hash, Role::Admin)?;
        let (token, _) = accounts::issue_token(conn, user.id, TokenKind::AdminApi, None)?;
        Ok::<_, accounts::AccountError>(token)
    })?;
    Ok(token)
}

fn add_verifier(
    config: &Config,
    username: &str,
    recipient: &str,
) -> anyhow::Result<livestars_api::Verifier> {
    use diesel::prelude::*;
    let db = open_db(config)?;
    let v = db.write_blocking(|conn| {
        let admin: Option<accounts::User> = crate::db::schema::users::table
            .filter(crate::db::schema::users::username.eq(username))
            .select(accounts::User::as_select())
            .first(conn)
            .optional()?;
        let admin = match admin {
            Some(u) if u.role() == Role::Admin => u,
            Some(_) => {
                return Err(crate::iddocs::IdDocError::Forbidden(
                    "only admin accounts can be verifiers",
                ))
            }
            None => return Err(crate::iddocs::IdDocError::NotFound),
        };
        crate::iddocs::add_verifier(conn, &admin, recipient)
    });
    v.map_err(|e| match e {
        crate::iddocs::IdDocError::NotFound => anyhow::anyhow!("no account named {username}"),
        other => anyhow::anyhow!(other),
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let backend = config.database()?;
    let app = Application::build(config.clone()).await?;
    let host = config
        .bind_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    println!("Live Stars listening on http://{host}:{}", app.port());
    tracing::info!(
        port = app.port(),
        database = match backend {
            crate::config::DatabaseTarget::Sqlite(_) => "sqlite",
            crate::config::DatabaseTarget::Postgres(_) => "postgres",
        },
        "started"
    );
    app.run_until_stopped().await?;
    Ok(())
}
