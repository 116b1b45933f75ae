//! `livestars-admin`: open the console, or create a verifier identity (`keygen`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use livestars_admin::api::Api;
use livestars_admin::app::App;
use livestars_admin::{crypto, ui, viewer};
use ratatui::crossterm::event::{self, Event, KeyEventKind};

const REFRESH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "livestars-admin", version, about = "Live Stars admin console")]
struct Cli {
    /// Settings file (TOML: url, token_file, identity, ca_file) [default: ~/.config/livestars/admin.toml
    /// if it exists]; flags and environment variables win over it
    #[arg(long, env = "LIVESTARS_ADMIN_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The instance, e.g. https://stars.example [default: http://127.0.0.1:8080]
    #[arg(long, env = "LIVESTARS_ADMIN_URL", global = true)]
    url: Option<String>,
    /// File holding the admin API token (from `livestars admin create`)
    #[arg(long, env = "LIVESTARS_ADMIN_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    /// A PEM CA certificate to trust besides the system's (an instance behind a private CA)
    #[arg(long, env = "LIVESTARS_ADMIN_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// Your age identity file, to decrypt ID documents locally (may be passphrase-protected)
    #[arg(long, env = "LIVESTARS_ADMIN_IDENTITY", global = true)]
    identity: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an age identity in --identity (never sent anywhere) and register its recipient as
    /// your verifier key on the instance.
    Keygen,
}

/// The settings file's keys.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    url: Option<String>,
    token_file: Option<PathBuf>,
    identity: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

/// Fill what flags and environment left open from the settings file.
fn apply_config_file(cli: &mut Cli) -> Result<(), String> {
    let default = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".config/livestars/admin.toml"))
        .filter(|p| p.exists());
    let Some(path) = cli.config.clone().or(default) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: FileConfig = toml::from_str(&text)
        .map_err(|e| format!("invalid {}: {}", path.display(), e.message()))?;
    cli.url = cli.url.take().or(file.url);
    cli.token_file = cli.token_file.take().or(file.token_file);
    cli.identity = cli.identity.take().or(file.identity);
    cli.ca_file = cli.ca_file.take().or(file.ca_file);
    Ok(())
}

fn token(cli: &Cli) -> Result<String, String> {
    if let Some(path) = &cli.token_file {
        let t = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        return Ok(t.trim().to_string());
    }
    match std::env::var("LIVESTARS_ADMIN_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err("no admin token: pass --token-file FILE or set LIVESTARS_ADMIN_TOKEN".into()),
    }
}

/// Read a passphrase from the terminal without echoing it.
fn ask_passphrase() -> String {
    use ratatui::crossterm::event::KeyCode;
    use ratatui::crossterm::terminal;
    eprint!("passphrase for the identity file: ");
    let mut s = String::new();
    if terminal::enable_raw_mode().is_err() {
        let _ = std::io::stdin().read_line(&mut s);
        return s.trim_end().to_string();
    }
    while let Ok(Event::Key(k)) = event::read() {
        if k.kind != KeyEventKind::Press {
            continue;
        }
        match k.code {
            KeyCode::Enter => break,
            KeyCode::Backspace => {
                s.pop();
            }
            KeyCode::Char('c')
                if k.modifiers
                    .contains(ratatui::crossterm::event::KeyModifiers::CONTROL) =>
            {
                s.clear();
                break;
            }
            KeyCode::Char(c) => s.push(c),
            _ => {}
        }
    }
    let _ = terminal::disable_raw_mode();
    eprintln!();
    s
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    match run(cli, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livestars-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut cli: Cli, started: Instant) -> Result<(), String> {
    apply_config_file(&mut cli)?;
    let token = token(&cli)?;
    let url = cli
        .url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let ca = match &cli.ca_file {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| format!("cannot read CA file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let api = Api::new(&url, &token, ca.as_deref()).map_err(|e| e.to_string())?;

    if let Some(Command::Keygen) = cli.command {
        let path = cli
            .identity
            .ok_or("keygen needs --identity FILE: where to write the new identity")?;
        return keygen(&rt, &api, &path);
    }

    let identity = match &cli.identity {
        Some(p) => Some(crypto::load_identity(p, ask_passphrase).map_err(|e| e.to_string())?),
        None => None,
    };
    // Check the instance and the token before touching the terminal.
    let stats = rt.block_on(api.stats()).map_err(|e| {
        if e.is_auth() {
            format!("the instance refused the admin token: {e}")
        } else {
            e.to_string()
        }
    })?;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _guard = rt.enter();
    let mut app = App::new(api, identity, tx);
    app.stats = Some(stats);
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot open the terminal: {e}"))?;
    let mut first_frame = None;
    let mut last_refresh = Instant::now();
    // The document image drawn with a terminal graphics protocol, if any: (document, place).
    let mut drawn: Option<(i64, ratatui::layout::Rect, viewer::InlineProtocol)> = None;
    let result = (|| -> std::io::Result<()> {
        while !app.quit {
            // Figures and lists refresh in the background; input never waits for them.
            if last_refresh.elapsed() >= REFRESH_EVERY && app.busy == 0 {
                app.refresh();
                last_refresh = Instant::now();
            }
            let frame = terminal.draw(|f| ui::draw(f, &app))?.area;
            first_frame.get_or_insert_with(|| started.elapsed());
            let wanted = ui::image_area(frame, &app).and_then(|r| {
                let v = app.viewed.as_ref()?;
                let (p, bytes) = v.inline.as_ref()?;
                Some((v.document_id, r, *p, bytes))
            });
            let key = wanted.map(|(id, r, p, _)| (id, r, p));
            if key != drawn {
                use std::io::Write;
                if let Some((_, _, p)) = drawn.take() {
                    terminal
                        .backend_mut()
                        .write_all(viewer::inline_clear(p).as_bytes())?;
                    terminal.clear()?;
                    terminal.draw(|f| ui::draw(f, &app))?;
                }
                if let Some((_, r, p, bytes)) = wanted {
                    if let Some(seq) = viewer::inline_image(p, bytes, r.width, r.height) {
                        let out = terminal.backend_mut();
                        write!(out, "\x1b[{};{}H{seq}", r.y + 1, r.x + 1)?;
                        drawn = key;
                    }
                }
                terminal.backend_mut().flush()?;
            }
            while let Ok(msg) = rx.try_recv() {
                app.on_msg(msg);
            }
            if event::poll(Duration::from_millis(100))? {
                if let Event::Key(k) = event::read()? {
                    if k.kind == KeyEventKind::Press {
                        app.on_key(k);
                    }
                }
            }
        }
        Ok(())
    })();
    ratatui::restore();
    if let (Some(t), Some(_)) = (first_frame, std::env::var_os("LIVESTARS_ADMIN_TIMING")) {
        eprintln!("first frame drawn {} ms after start", t.as_millis());
    }
    result.map_err(|e| format!("terminal error: {e}"))
}

fn keygen(rt: &tokio::runtime::Runtime, api: &Api, path: &std::path::Path) -> Result<(), String> {
    let (text, recipient) = crypto::keygen();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    {
        use std::io::Write;
        let mut f = options.open(path).map_err(|e| {
            format!(
                "cannot create {} (it must not exist yet): {e}",
                path.display()
            )
        })?;
        f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    match rt.block_on(api.add_verifier(&recipient)) {
        Ok(v) => {
            println!(
                "identity written to {} (keep it safe; it never leaves this machine)",
                path.display()
            );
            println!("verifier recipient registered: {}", v.recipient);
            Ok(())
        }
        Err(e) => Err(format!(
            "identity written to {}, but registering {recipient} failed: {e}",
            path.display()
        )),
    }
}
