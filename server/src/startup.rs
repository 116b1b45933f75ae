//! Building and running an instance. `main` and the tests start it the same way:
//! [`Application::build`] opens the database (migrating it), binds the listener and reports the
//! port it got, so tests can bind port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};

use std::time::Duration;

use livestars_federation::apf::config::FederationConfig;
use livestars_federation::apf::resolver::ValidatingDnsResolver;
use livestars_federation::objects;
use livestars_federation::protocol::LocalSigner;
use livestars_federation::Url;

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::federation::worker::DeliverySettings;
use crate::federation::{DbStore, INSTANCE_ACTOR};
use crate::http::federation::Fed;
use crate::http::{self, AppState};
use crate::rooms::directory::Directory;

/// Every outgoing federation request (delivery, fetch) ends within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("federation: {0}")]
    Federation(String),
    #[error("settlement: {0}")]
    Settlement(String),
    #[error("cannot start password hashing: {0}")]
    Hashing(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    db: Db,
    server: Server,
    data_dir: std::path::PathBuf,
    chat_retention: chrono::Duration,
    events: Arc<crate::rooms::events::RoomEvents>,
    fed: Arc<Fed>,
    delivery: DeliverySettings,
    settle: Arc<crate::settlement::Service>,
}

/// How often changed audience counts are stored.
const COUNTS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// How often housekeeping runs (retention shredding, expired verifications, orphaned files).
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Application {
    /// Open (and migrate) the database, bind, and prepare the server; nothing is served until
    /// [`Application::run_until_stopped`]. Blocking work happens here, before serving starts.
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let target = config.database()?;
        let pool_size = config.db_pool_size;
        let db = tokio::task::spawn_blocking(move || Db::open(&target, pool_size))
            .await
            .map_err(|e| DbError::Join(e.to_string()))??;
        Self::with_db(config, db).await
    }

    /// Build on an already open database (tests and benches share one with their fixtures).
    pub async fn with_db(mut config: Config, db: Db) -> Result<Application, StartError> {
        let addr = config.bind_addr()?;
        let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.bind.clone(),
                source,
            })?
            .port();
        if config.public_url.is_empty() {
            // No public URL configured: the address actually bound (port 0 becomes the real
            // port), so that actor ids and WebFinger name this instance correctly.
            if let Ok(local) = listener.local_addr() {
                config.public_url = format!("http://{local}");
            }
        }
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            config.workers
        };
        let directory = Arc::new(Directory::new(crate::federation::followed_remote_rooms));
        let data_dir = config.data_dir.clone();
        // ID-document ciphertexts (and on SQLite the database) live here: the server's alone.
        crate::files::create_private_dir(&data_dir).map_err(|e| {
            StartError::Db(DbError::Connection(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            )))
        })?;
        let fed = Arc::new(federation(&config, &db).await?);
        // What committed changes set off (crate::events): the directory's cache refreshed,
        // the federation worker woken, retired ID-document files removed.
        {
            let (directory, notify) = (directory.clone(), fed.notify.clone());
            db.subscribe(Arc::new(move |_, events| {
                if events.iter().any(crate::events::Event::touches_directory) {
                    directory.invalidate();
                }
                if events.iter().any(crate::events::Event::touches_federation) {
                    notify.notify_one();
                }
            }));
            db.subscribe(crate::iddocs::on_retired(data_dir.clone()));
        }
        let delivery = DeliverySettings {
            base: fed.base.clone(),
            default_mode: fed.default_mode.clone(),
            max_backoff: Duration::from_secs(config.federation_max_backoff_secs.max(1)),
            dead_after: Duration::from_secs(config.federation_dead_after_secs),
            per_instance: config.federation_per_instance,
            // A claimed delivery is due again once its request surely ended (a process killed
            // mid-send leaves it waiting no longer than this).
            lease: REQUEST_TIMEOUT + Duration::from_secs(5),
        };
        let settle = Arc::new(
            crate::settlement::Service::start(&config)
                .await
                .map_err(|e| StartError::Settlement(e.to_string()))?,
        );
        let tips = Arc::new(crate::ledger::batch::TipBatcher::start(
            db.clone(),
            crate::ledger::Split {
                model_bps: config.tip_model_share_bps,
                referral_bps: config.referral_bps.clone(),
            },
        ));
        // The room hub hears every committed tip and chat line, whichever way it was made.
        use crate::rooms::events::RoomEvent;
        let room_events = Arc::new(crate::rooms::events::RoomEvents::default());
        {
            let (hub, settle) = (room_events.clone(), settle.clone());
            db.subscribe(Arc::new(move |_, events| {
                for e in events {
                    if let crate::events::Event::Chatted(line) = e {
                        hub.publish(RoomEvent::Chat(line.clone()));
                    }
                    if let crate::events::Event::Tipped {
                        room_id,
                        tip_id,
                        tipper,
                        units,
                        at,
                    } = e
                    {
                        hub.publish(RoomEvent::Tip(livestars_api::TipEvent {
                            room_id: *room_id,
                            tip_id: *tip_id,
                            tipper: tipper.clone(),
                            amount: crate::money::format_amount(*units),
                            units: *units,
                            amount_usd: settle.prices.known_rate().map(|r| r.usd(*units)),
                            at: at.and_utc(),
                        }));
                    }
                }
            }));
        }
        let limits = Arc::new(http::limits::Limits::new(&config)?);
        if config.public_url.starts_with("https://") && config.client_ip_header.is_empty() {
            // Behind a TLS proxy every request comes from the proxy: one address for everyone.
            tracing::warn!(
                "public_url is https but client_ip_header is empty: behind a reverse proxy all \
                 clients share the proxy's rate-limit buckets; set client_ip_header"
            );
        }
        let hash_threads = match config.password_hash_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| (usize::from(n) / 2).max(1)),
            n => n,
        };
        let hasher = crate::accounts::Hasher::start(hash_threads, config.password_hash_queue)
            .map_err(StartError::Hashing)?;
        let chat_retention = chrono::Duration::hours(i64::from(config.chat_retention_hours));
        let state = AppState {
            hasher,
            limits,
            db: db.clone(),
            config: Arc::new(config),
            directory: directory.clone(),
            fed: fed.clone(),
            openapi_json: http::openapi::render().into(),
            settle: settle.clone(),
            events: room_events.clone(),
            tips,
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::csrf::guard))
                .wrap(http::error_handlers())
                .wrap(http::default_headers())
                .configure(http::configure(state.clone()))
                .default_service(actix_web::web::to(http::not_found))
        })
        .workers(workers)
        // Longer than the pool idle time of HTTP clients (ours: 4 s), so that a client never
        // reuses a connection this side is closing; 75 s is nginx's default too.
        .keep_alive(std::time::Duration::from_secs(75))
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })?
        .run();
        Ok(Application {
            port,
            db,
            server,
            data_dir,
            chat_retention,
            events: room_events,
            fed,
            delivery,
            settle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped, with housekeeping running beside the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (db, dir) = (self.db.clone(), self.data_dir.clone());
        let chat_retention = self.chat_retention;
        // Audience counts: the sockets of this process count them; stored at most every few
        // seconds, only when they changed (an idle instance writes nothing).
        let (counts_db, hub) = (self.db.clone(), self.events.clone());
        let counts = tokio::spawn(async move {
            let stale = counts_db.read(crate::rooms::with_audience).await;
            if let Ok(ids) = stale {
                let zero: Vec<(i64, i32, i32)> = ids.into_iter().map(|id| (id, 0, 0)).collect();
                if !zero.is_empty() {
                    let _ = counts_db
                        .write(move |c| crate::rooms::set_counts(c, &zero))
                        .await;
                }
            }
            let mut every = tokio::time::interval(COUNTS_EVERY);
            loop {
                every.tick().await;
                let changed = hub.take_changed_counts();
                if changed.is_empty() {
                    continue;
                }
                if let Err(e) = counts_db
                    .write(move |c| crate::rooms::set_counts(c, &changed))
                    .await
                {
                    tracing::warn!(error = %e, "storing audience counts failed");
                }
            }
        });
        let housekeeping = tokio::spawn(async move {
            let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
            loop {
                every.tick().await;
                // What it ends or shreds reaches the directory and the files through events.
                if let Err(e) = crate::iddocs::housekeeping(&db, &dir, crate::db::now()).await {
                    tracing::error!(error = %e, "housekeeping failed");
                }
                let before = crate::db::now() - chat_retention;
                if let Err(e) = db
                    .write(move |c| crate::rooms::chat::expire(c, before))
                    .await
                {
                    tracing::error!(error = %e, "deleting old chat lines failed");
                }
            }
        });
        let worker = tokio::spawn(crate::federation::worker::run(
            self.db.clone(),
            self.fed.config.to_request_data(),
            self.delivery.clone(),
            self.fed.notify.clone(),
        ));
        let settlement = self.settle.spawn(&self.db);
        let result = self.server.await;
        housekeeping.abort();
        counts.abort();
        worker.abort();
        for task in settlement {
            task.abort();
        }
        result
    }
}

/// The federation's configuration: the instance actor's keys (created on first start), an HTTP
/// client that refuses private addresses unless `federation_debug` is set, and the store.
async fn federation(config: &Config, db: &Db) -> Result<Fed, StartError> {
    // One process-wide rustls provider (ring) for every HTTPS client; a second install is a
    // harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = config.public_base();
    let domain = config.federation_domain();
    let debug = config.federation_debug;
    let (public, private) = crate::federation::keys(db, INSTANCE_ACTOR).await?;
    let notify = Arc::new(tokio::sync::Notify::new());
    let store = DbStore {
        db: db.clone(),
        base: base.clone(),
        domain: domain.clone(),
        default_mode: config.federation_mode.clone(),
        notify: notify.clone(),
    };
    let timeout = REQUEST_TIMEOUT;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        // Below the usual keep-alive of servers (actix: 5 s), so that a pooled connection the
        // other side is closing is not reused ("error sending request").
        .pool_idle_timeout(Duration::from_secs(4))
        .user_agent(format!("livestars/{} (+{base})", env!("CARGO_PKG_VERSION")))
        .dns_resolver(ValidatingDnsResolver::new(vec![], !debug))
        .build()
        .map_err(|e| StartError::Federation(e.to_string()))?;
    let actor = objects::instance_actor_url(&base);
    let bad = |e: livestars_federation::UrlError| {
        StartError::Federation(format!("public URL {base}: {e}"))
    };
    let signer = LocalSigner {
        id: Url::parse(&actor).map_err(bad)?,
        inbox: Url::parse(&format!("{actor}/inbox")).map_err(bad)?,
        public_key_pem: public,
        private_key_pem: private,
    };
    let fed_config = FederationConfig::builder()
        .domain(domain.clone())
        .app_data(crate::federation::ctx(store))
        .debug(debug)
        .client(
            reqwest_middleware::ClientBuilder::new(client.clone())
                .with(crate::federation::worker::RecordStatus)
                .build(),
        )
        .http_fetch_limit(50)
        // rsa-sha256 over (request-target), host, date and digest: what Mastodon, Pleroma and
        // Misskey verify; the newer hs2019 form with (created) is not accepted everywhere.
        .http_signature_compat(true)
        .signed_fetch_actor(&signer)
        .build()
        .await
        .map_err(|e| StartError::Federation(e.to_string()))?;
    Ok(Fed {
        config: fed_config,
        http: client,
        debug,
        base,
        domain,
        default_mode: config.federation_mode.clone(),
        notify,
    })
}
