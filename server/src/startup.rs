//! Building and running an instance. `main` and the tests start it the same way:
//! [`Application::build`] opens the database (migrating it), binds the listener and reports the
//! port it got, so tests can bind port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::http::{self, AppState};
use crate::rooms::directory::Directory;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
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
    directory: Arc<Directory>,
    data_dir: std::path::PathBuf,
}

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
        Self::with_db(config, db)
    }

    /// Build on an already open database (tests and benches share one with their fixtures).
    pub fn with_db(config: Config, db: Db) -> Result<Application, StartError> {
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
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            config.workers
        };
        let directory = Arc::new(Directory::default());
        let data_dir = config.data_dir.clone();
        let state = AppState {
            db: db.clone(),
            config: Arc::new(config),
            directory: directory.clone(),
            openapi_json: http::openapi::render().into(),
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(http::error_handlers())
                .wrap(http::default_headers())
                .configure(http::configure(state.clone()))
                .default_service(actix_web::web::to(not_found))
        })
        .workers(workers)
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
            directory,
            data_dir,
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
        let (db, dir, directory) = (self.db.clone(), self.data_dir.clone(), self.directory);
        let housekeeping = tokio::spawn(async move {
            let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
            loop {
                every.tick().await;
                match crate::iddocs::housekeeping(&db, &dir, crate::db::now()).await {
                    Ok(true) => directory.invalidate(),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "housekeeping failed"),
                }
            }
        });
        let result = self.server.await;
        housekeeping.abort();
        result
    }
}

async fn not_found() -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    http::error::ApiError::from_status(actix_web::http::StatusCode::NOT_FOUND).error_response()
}
