//! The instance's admin API, over HTTP with an admin token.

use livestars_api::{
    AdminIdDocument, AdminUser, Decision, DomainPolicyUpdate, ErrorBody, FederationModeUpdate,
    FederationPolicy, InstanceDelivery, InstanceStats, LedgerOverview, Report, ReportAction,
    ReportResolution, Rewrap, Role, RoleChange, Verifier, WrappedKey,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the instance at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// The server refused, with its own message (shown to the admin as is).
    #[error("{message} ({code}, HTTP {status})")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the instance: {0}")]
    Decode(String),
}

impl ApiError {
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ApiError::Server {
                status: 401 | 403,
                ..
            }
        )
    }
}

#[derive(Clone)]
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// A client for the instance at `base` (http or https). `ca_pem` adds a trusted root
    /// certificate, for instances behind a private CA; the system's roots are always trusted.
    pub fn new(base: &str, token: &str, ca_pem: Option<&[u8]>) -> Result<Api, ApiError> {
        // rustls needs one process-wide crypto provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| ApiError::Decode(format!("invalid CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| ApiError::Unreachable {
            url: base.to_string(),
            cause: e.to_string(),
        })?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let r = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ApiError::Unreachable {
                url: self.base.clone(),
                cause: error_chain(&e),
            })?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status().as_u16();
        let body: Result<ErrorBody, _> = r.json().await;
        Err(match body {
            Ok(b) => ApiError::Server {
                status,
                code: b.error,
                message: b.message,
            },
            Err(_) => ApiError::Server {
                status,
                code: "http".into(),
                message: format!("HTTP {status}"),
            },
        })
    }

    async fn json<T: DeserializeOwned>(r: reqwest::Response) -> Result<T, ApiError> {
        r.json().await.map_err(|e| ApiError::Decode(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let r = self
            .send(self.http.get(format!("{}{path}", self.base)))
            .await?;
        Self::json(r).await
    }

    async fn with_body<T: DeserializeOwned, B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(body);
        Self::json(self.send(req).await?).await
    }

    async fn post_empty(&self, path: &str) -> Result<reqwest::Response, ApiError> {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }

    pub async fn stats(&self) -> Result<InstanceStats, ApiError> {
        self.get("/api/admin/stats").await
    }

    pub async fn pending(&self) -> Result<Vec<AdminIdDocument>, ApiError> {
        self.get("/api/admin/iddocs?status=pending").await
    }

    pub async fn documents(&self, status: &str) -> Result<Vec<AdminIdDocument>, ApiError> {
        self.get(&format!("/api/admin/iddocs?status={status}"))
            .await
    }

    /// The ciphertext and the hash the server states for it.
    pub async fn ciphertext(&self, id: i64) -> Result<(Vec<u8>, String), ApiError> {
        let r = self
            .send(
                self.http
                    .get(format!("{}/api/admin/iddocs/{id}/ciphertext", self.base)),
            )
            .await?;
        let sha = r
            .headers()
            .get("x-content-sha256")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = r
            .bytes()
            .await
            .map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok((bytes.to_vec(), sha))
    }

    pub async fn key(&self, id: i64) -> Result<WrappedKey, ApiError> {
        self.get(&format!("/api/admin/iddocs/{id}/key")).await
    }

    pub async fn put_key(&self, id: i64, body: &Rewrap) -> Result<WrappedKey, ApiError> {
        self.with_body(
            reqwest::Method::PUT,
            &format!("/api/admin/iddocs/{id}/key"),
            body,
        )
        .await
    }

    pub async fn decide(
        &self,
        id: i64,
        d: &Decision,
    ) -> Result<livestars_api::IdDocument, ApiError> {
        self.with_body(
            reqwest::Method::POST,
            &format!("/api/admin/iddocs/{id}/decision"),
            d,
        )
        .await
    }

    pub async fn add_verifier(&self, recipient: &str) -> Result<Verifier, ApiError> {
        self.with_body(
            reqwest::Method::POST,
            "/api/admin/verifiers",
            &livestars_api::NewVerifier {
                recipient: recipient.to_string(),
            },
        )
        .await
    }

    pub async fn users(&self, q: &str) -> Result<Vec<AdminUser>, ApiError> {
        let q: String = q
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        self.get(&format!("/api/admin/users?q={q}")).await
    }

    pub async fn suspend(&self, id: i64, on: bool) -> Result<AdminUser, ApiError> {
        let verb = if on { "suspend" } else { "unsuspend" };
        let r = self
            .post_empty(&format!("/api/admin/users/{id}/{verb}"))
            .await?;
        Self::json(r).await
    }

    pub async fn set_role(&self, id: i64, role: Role) -> Result<AdminUser, ApiError> {
        self.with_body(
            reqwest::Method::PUT,
            &format!("/api/admin/users/{id}/role"),
            &RoleChange { role },
        )
        .await
    }

    /// Every admin API token (ids and owners, never the tokens).
    pub async fn tokens(&self) -> Result<Vec<livestars_api::AdminToken>, ApiError> {
        self.get("/api/admin/tokens").await
    }

    pub async fn revoke_token(&self, id: &str) -> Result<(), ApiError> {
        let id: String = id.chars().filter(char::is_ascii_hexdigit).collect();
        self.send(
            self.http
                .delete(format!("{}/api/admin/tokens/{id}", self.base)),
        )
        .await
        .map(|_| ())
    }

    pub async fn end_show(&self, room: i64) -> Result<(), ApiError> {
        self.post_empty(&format!("/api/admin/rooms/{room}/end"))
            .await
            .map(|_| ())
    }

    pub async fn reports(&self) -> Result<Vec<Report>, ApiError> {
        self.get("/api/admin/reports?status=open").await
    }

    pub async fn resolve(&self, id: i64, action: ReportAction) -> Result<Report, ApiError> {
        self.with_body(
            reqwest::Method::POST,
            &format!("/api/admin/reports/{id}/resolve"),
            &ReportResolution { action },
        )
        .await
    }
}

/// An error with its causes ("error sending request: … : invalid peer certificate: …").
impl Api {
    pub async fn federation(&self) -> Result<FederationPolicy, ApiError> {
        self.get("/api/admin/federation").await
    }

    pub async fn ledger(&self) -> Result<LedgerOverview, ApiError> {
        self.get("/api/admin/ledger").await
    }

    pub async fn federation_instances(&self) -> Result<Vec<InstanceDelivery>, ApiError> {
        self.get("/api/admin/federation/instances").await
    }

    pub async fn set_federation_mode(&self, mode: &str) -> Result<FederationPolicy, ApiError> {
        self.with_body(
            reqwest::Method::PUT,
            "/api/admin/federation/mode",
            &FederationModeUpdate { mode: mode.into() },
        )
        .await
    }

    pub async fn set_domain_policy(
        &self,
        domain: &str,
        policy: &str,
    ) -> Result<FederationPolicy, ApiError> {
        self.with_body(
            reqwest::Method::PUT,
            "/api/admin/federation/domains",
            &DomainPolicyUpdate {
                domain: domain.into(),
                policy: policy.into(),
            },
        )
        .await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
