//! The glue to `activitypub_federation`: the server's storage trait ([`Store`]), the remote
//! actor as the crate's `Object`/`Actor`, and every inbound activity as one lenient
//! [`Incoming`] that the store dispatches on its `type`.

use std::sync::Arc;

use activitypub_federation::config::Data;
use activitypub_federation::protocol::public_key::PublicKey;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::{Activity, Actor, Object};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::objects::{first_url, ActorJson, Endpoints, PublicKeyJson};

/// Errors at the federation boundary, each with the HTTP status it answers with.
#[derive(Debug, thiserror::Error)]
pub enum FedError {
    #[error(transparent)]
    Protocol(#[from] activitypub_federation::error::Error),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Store(String),
}

impl FedError {
    /// (HTTP status, error code).
    pub fn status(&self) -> (u16, &'static str) {
        use activitypub_federation::error::Error as E;
        match self {
            FedError::Unauthorized(_) => (401, "signature_invalid"),
            FedError::Forbidden(_) => (403, "domain_blocked"),
            FedError::BadRequest(_) => (400, "invalid_activity"),
            FedError::NotFound(_) => (404, "not_found"),
            FedError::Store(_) => (500, "internal"),
            FedError::Protocol(e) => match e {
                // A sender that tried RFC 9421 falls back to draft-cavage only after 401/400:
                // anything we cannot verify is 401, never 2xx.
                E::ActivitySignatureInvalid | E::ActivityBodyDigestInvalid => {
                    (401, "signature_invalid")
                }
                E::ParseReceivedActivity { .. } => (400, "invalid_activity"),
                E::UrlVerificationError(_) | E::DomainResolveError(_) => (400, "invalid_url"),
                E::ResolveInternalIpError(..) => (400, "invalid_url"),
                E::NotFound | E::ObjectDeleted(_) => (404, "not_found"),
                E::WebfingerResolveFailed(_) => (404, "not_found"),
                _ => (502, "remote_failed"),
            },
        }
    }
}

/// What the federation needs from the server's database. Implemented by the server
/// (`federation_store.rs`); this crate knows nothing of diesel.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A cached remote actor, by its id.
    async fn cached_actor(&self, id: &Url) -> Result<Option<RemoteActor>, FedError>;
    /// Insert or refresh a remote actor; returns it as stored.
    async fn save_actor(&self, actor: RemoteActor) -> Result<RemoteActor, FedError>;
    /// Whether this instance talks to `domain` at all (domain blocks, allowlist mode).
    async fn allowed(&self, domain: &str) -> Result<bool, FedError>;
    /// Apply a verified activity from `actor`, exactly once per activity id.
    async fn apply(&self, actor: RemoteActor, activity: Incoming) -> Result<(), FedError>;
}

/// The federation crate's app data: the server's store.
#[derive(Clone)]
pub struct Ctx {
    pub store: Arc<dyn Store>,
}

pub type FedData = Data<Ctx>;

/// `host[:port]` of a URL: the unit of domain policy and of delivery state.
pub fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// A remote actor as cached by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteActor {
    pub id: i64,
    pub ap_id: Url,
    pub kind: String,
    pub username: String,
    pub domain: String,
    pub display_name: String,
    pub summary: String,
    pub icon_url: Option<String>,
    pub url: Option<String>,
    pub inbox: Url,
    pub shared_inbox: Option<Url>,
    pub followers_url: Option<Url>,
    pub room_url: Option<Url>,
    pub public_key_pem: String,
    pub fetched_at: DateTime<Utc>,
}

impl RemoteActor {
    /// From a fetched document (id 0: not stored yet).
    pub fn from_document(json: ActorJson) -> RemoteActor {
        let domain = authority(&json.id);
        let username = json
            .preferred_username
            .clone()
            .unwrap_or_else(|| json.id.path().rsplit('/').next().unwrap_or("").to_string());
        RemoteActor {
            id: 0,
            display_name: json.name.clone().unwrap_or_else(|| username.clone()),
            username,
            domain,
            kind: json.kind.clone(),
            summary: json.summary.clone().unwrap_or_default(),
            icon_url: first_url(&json.icon, Some("image/")),
            url: first_url(&json.url, Some("text/html")),
            inbox: json.inbox.clone(),
            shared_inbox: json.endpoints.as_ref().and_then(|e| e.shared_inbox.clone()),
            followers_url: json.followers.clone(),
            room_url: json.room.clone(),
            public_key_pem: json.public_key.public_key_pem.clone(),
            fetched_at: Utc::now(),
            ap_id: json.id,
        }
    }

    pub fn handle(&self) -> String {
        format!("{}@{}", self.username, self.domain)
    }
}

#[async_trait]
impl Object for RemoteActor {
    type DataType = Ctx;
    type Kind = ActorJson;
    type Error = FedError;

    fn id(&self) -> &Url {
        &self.ap_id
    }

    fn last_refreshed_at(&self) -> Option<DateTime<Utc>> {
        Some(self.fetched_at)
    }

    async fn read_from_id(id: Url, data: &FedData) -> Result<Option<Self>, FedError> {
        data.store.cached_actor(&id).await
    }

    async fn into_json(self, _data: &FedData) -> Result<ActorJson, FedError> {
        Ok(ActorJson {
            id: self.ap_id.clone(),
            kind: self.kind,
            preferred_username: Some(self.username),
            name: Some(self.display_name),
            summary: Some(self.summary),
            icon: self.icon_url.map(Value::String).unwrap_or_default(),
            url: self.url.map(Value::String).unwrap_or_default(),
            inbox: self.inbox,
            outbox: None,
            followers: self.followers_url,
            endpoints: Some(Endpoints {
                shared_inbox: self.shared_inbox,
            }),
            public_key: PublicKeyJson {
                id: format!("{}#main-key", self.ap_id),
                owner: self.ap_id,
                public_key_pem: self.public_key_pem,
            },
            room: self.room_url,
        })
    }

    async fn verify(json: &ActorJson, expected: &Url, data: &FedData) -> Result<(), FedError> {
        verify_domains_match(&json.id, expected)?;
        if json.public_key.owner != json.id {
            return Err(FedError::BadRequest(
                "the actor's publicKey belongs to someone else".into(),
            ));
        }
        for u in [
            Some(&json.inbox),
            json.endpoints
                .as_ref()
                .and_then(|e| e.shared_inbox.as_ref()),
        ]
        .into_iter()
        .flatten()
        {
            verify_domains_match(u, &json.id)?;
        }
        if !data.store.allowed(&authority(&json.id)).await? {
            return Err(FedError::Forbidden(format!(
                "{} is not federated with",
                authority(&json.id)
            )));
        }
        Ok(())
    }

    async fn from_json(json: ActorJson, data: &FedData) -> Result<Self, FedError> {
        data.store
            .save_actor(RemoteActor::from_document(json))
            .await
    }
}

impl Actor for RemoteActor {
    fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }
    fn private_key_pem(&self) -> Option<String> {
        None
    }
    fn inbox(&self) -> Url {
        self.inbox.clone()
    }
    fn shared_inbox(&self) -> Option<Url> {
        self.shared_inbox.clone()
    }
}

/// A local actor that signs what it sends (a model, or the instance actor).
#[derive(Debug, Clone)]
pub struct LocalSigner {
    pub id: Url,
    pub inbox: Url,
    pub public_key_pem: String,
    pub private_key_pem: String,
}

#[async_trait]
impl Object for LocalSigner {
    type DataType = Ctx;
    type Kind = Value;
    type Error = FedError;
    fn id(&self) -> &Url {
        &self.id
    }
    async fn read_from_id(_id: Url, _data: &FedData) -> Result<Option<Self>, FedError> {
        Ok(None)
    }
    async fn into_json(self, _data: &FedData) -> Result<Value, FedError> {
        Ok(Value::Null)
    }
    async fn verify(_json: &Value, _expected: &Url, _data: &FedData) -> Result<(), FedError> {
        Err(FedError::BadRequest("local signers are not fetched".into()))
    }
    async fn from_json(_json: Value, _data: &FedData) -> Result<Self, FedError> {
        Err(FedError::BadRequest("local signers are not fetched".into()))
    }
}

impl Actor for LocalSigner {
    fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }
    fn private_key_pem(&self) -> Option<String> {
        Some(self.private_key_pem.clone())
    }
    fn inbox(&self) -> Url {
        self.inbox.clone()
    }
    fn public_key(&self) -> PublicKey {
        PublicKey {
            id: format!("{}#main-key", self.id),
            owner: self.id.clone(),
            public_key_pem: self.public_key_pem.clone(),
        }
    }
}

/// Any inbound activity. Unknown fields (large `@context`s, embedded signatures and proofs)
/// are ignored; the store dispatches on `kind`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Incoming {
    pub id: Url,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: Url,
    #[serde(default)]
    pub object: Value,
}

impl Incoming {
    /// The id of the embedded or referenced object.
    pub fn object_id(&self) -> Option<Url> {
        match &self.object {
            Value::String(s) => Url::parse(s).ok(),
            Value::Object(o) => o
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| Url::parse(s).ok()),
            _ => None,
        }
    }

    pub fn object_type(&self) -> Option<&str> {
        self.object.get("type").and_then(Value::as_str)
    }
}

#[async_trait]
impl Activity for Incoming {
    type DataType = Ctx;
    type Error = FedError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, _data: &FedData) -> Result<(), FedError> {
        // Objects an actor creates, updates or deletes live on the actor's own host.
        if matches!(self.kind.as_str(), "Create" | "Update" | "Delete") {
            let object = self
                .object_id()
                .ok_or_else(|| FedError::BadRequest("the activity names no object".into()))?;
            if authority(&object) != authority(&self.actor) {
                return Err(FedError::BadRequest(format!(
                    "object {object} is not on the host of its actor {}",
                    self.actor
                )));
            }
        }
        Ok(())
    }

    async fn receive(self, data: &FedData) -> Result<(), FedError> {
        let actor = data
            .store
            .cached_actor(&self.actor)
            .await?
            .ok_or_else(|| FedError::Unauthorized("the signing actor is unknown".into()))?;
        data.store.apply(actor, self).await
    }
}

/// An outgoing activity as stored in the outbox: its JSON, signed and sent as is.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: Url,
    pub actor: Url,
    pub body: Value,
}

impl Serialize for Stored {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body.serialize(s)
    }
}

#[async_trait]
impl Activity for Stored {
    type DataType = Ctx;
    type Error = FedError;
    fn id(&self) -> &Url {
        &self.id
    }
    fn actor(&self) -> &Url {
        &self.actor
    }
    async fn verify(&self, _data: &FedData) -> Result<(), FedError> {
        Ok(())
    }
    async fn receive(self, _data: &FedData) -> Result<(), FedError> {
        Err(FedError::BadRequest(
            "outgoing activities are not received".into(),
        ))
    }
}
