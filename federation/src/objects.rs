//! The JSON shapes Live Stars sends and accepts. Outgoing documents are built here from plain
//! values ([`LocalModel`], [`LocalRoom`]); incoming ones are parsed leniently: unknown fields are
//! ignored, single values and arrays are both accepted where the wild uses both.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

/// ActivityStreams, security, and the vocabularies our extensions use: PeerTube's `pt` and
/// schema.org's `sc` (live video), Mastodon's `toot` (discoverable), and `ls` (ours).
pub fn context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "pt": "https://joinpeertube.org/ns#",
            "sc": "http://schema.org/",
            "toot": "http://joinmastodon.org/ns#",
            "ls": "https://livestars.dev/ns#",
            "schema": "http://schema.org#",
            "PropertyValue": "schema:PropertyValue",
            "value": "schema:value",
            "sensitive": "as:sensitive",
            "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
            "discoverable": "toot:discoverable",
            "isLiveBroadcast": "sc:isLiveBroadcast",
            "state": { "@type": "sc:Number", "@id": "pt:state" },
            "Hashtag": "as:Hashtag",
            "room": { "@id": "ls:room", "@type": "@id" },
            "viewers": { "@type": "sc:Number", "@id": "ls:viewers" },
            "startedAt": "ls:startedAt"
        }
    ])
}

/// PeerTube's video states that a live room uses.
pub mod state {
    pub const LIVE: i64 = 1;
    pub const WAITING: i64 = 4;
    pub const ENDED: i64 = 5;
}

/// What the server knows of one of its models, enough to render her actor.
#[derive(Debug, Clone)]
pub struct LocalModel {
    pub base: String,
    pub username: String,
    pub display_name: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub has_avatar: bool,
    pub public_key_pem: String,
    pub room_id: Option<i64>,
    pub links: Vec<(String, String)>,
}

impl LocalModel {
    pub fn actor_id(&self) -> String {
        actor_url(&self.base, &self.username)
    }
}

pub fn actor_url(base: &str, username: &str) -> String {
    format!("{base}/users/{username}")
}

/// A model's channel: the `Group` PeerTube needs a video to be attributed to.
pub fn channel_url(base: &str, username: &str) -> String {
    format!("{base}/users/{username}/channel")
}

pub fn room_url(base: &str, room_id: i64) -> String {
    format!("{base}/rooms/{room_id}")
}

pub fn instance_actor_url(base: &str) -> String {
    format!("{base}/actor")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A model as an ActivityPub `Person` (a `Service` would show as a bot on Mastodon).
pub fn person(m: &LocalModel) -> Value {
    let id = m.actor_id();
    let profile = format!("{}/@{}", m.base, m.username);
    // Mastodon shows a field's value as HTML: the link as an anchor, text escaped.
    let mut attachment: Vec<Value> = m
        .links
        .iter()
        .map(|(name, url)| {
            let shown = url
                .split_once("://")
                .map_or(url.as_str(), |(_, rest)| rest)
                .trim_end_matches('/');
            let value = format!(
                "<a href=\"{}\" rel=\"nofollow noopener noreferrer me\" target=\"_blank\">{}</a>",
                escape_html(url),
                escape_html(shown)
            );
            json!({"type": "PropertyValue", "name": name, "value": value})
        })
        .collect();
    // FEP-0ea0: the tip link, where a viewer pays her.
    attachment.push(json!({
        "type": "Link",
        "name": "Tip",
        "href": format!("{profile}#tip"),
        "rel": "payment",
        "mediaType": "text/html"
    }));
    let mut doc = json!({
        "@context": context(),
        "id": id,
        "type": "Person",
        "preferredUsername": m.username,
        "name": m.display_name,
        "summary": format!("<p>{}</p>", escape_html(&m.summary)),
        "url": profile,
        "inbox": format!("{id}/inbox"),
        "outbox": format!("{id}/outbox"),
        "followers": format!("{id}/followers"),
        "following": format!("{id}/following"),
        "endpoints": { "sharedInbox": format!("{}/inbox", m.base) },
        "discoverable": true,
        "manuallyApprovesFollowers": false,
        "publicKey": {
            "id": format!("{id}#main-key"),
            "owner": id,
            "publicKeyPem": m.public_key_pem,
        },
        "tag": m.tags.iter().map(|t| hashtag(&m.base, t)).collect::<Vec<_>>(),
        "attachment": attachment,
    });
    if m.has_avatar {
        let icon = json!({
            "type": "Image",
            "mediaType": "image/png",
            "url": format!("{}/api/profiles/{}/avatar", m.base, m.username),
        });
        doc["icon"] = icon.clone();
        doc["image"] = icon;
    }
    if let Some(room) = m.room_id {
        doc["room"] = json!(room_url(&m.base, room));
    }
    doc
}

fn hashtag(base: &str, tag: &str) -> Value {
    json!({"type": "Hashtag", "name": format!("#{tag}"), "href": format!("{base}/tags/{tag}")})
}

/// A model's channel as a PeerTube-style `Group`, owned by her `Person`; it shares her inbox.
pub fn channel(m: &LocalModel, channel_public_key_pem: &str) -> Value {
    let actor = m.actor_id();
    let id = channel_url(&m.base, &m.username);
    let mut doc = json!({
        "@context": context(),
        "id": id,
        "type": "Group",
        "preferredUsername": format!("{}_channel", m.username),
        "name": format!("{} live", m.display_name),
        "summary": format!("<p>{}</p>", escape_html(&m.summary)),
        "url": format!("{}/@{}/live", m.base, m.username),
        "inbox": format!("{actor}/inbox"),
        "outbox": format!("{id}/outbox"),
        "followers": format!("{actor}/followers"),
        "endpoints": { "sharedInbox": format!("{}/inbox", m.base) },
        "attributedTo": [{ "type": "Person", "id": actor }],
        "publicKey": {
            "id": format!("{id}#main-key"),
            "owner": id,
            "publicKeyPem": channel_public_key_pem,
        },
    });
    if m.has_avatar {
        doc["icon"] = json!({
            "type": "Image",
            "mediaType": "image/png",
            "url": format!("{}/api/profiles/{}/avatar", m.base, m.username),
        });
    }
    doc
}

/// The instance's own actor (FEP-2677): signs fetches, and later names the treasury.
pub fn application(base: &str, domain: &str, name: &str, public_key_pem: &str) -> Value {
    let id = instance_actor_url(base);
    json!({
        "@context": context(),
        "id": id,
        "type": "Application",
        "preferredUsername": domain,
        "name": name,
        "url": base,
        "inbox": format!("{id}/inbox"),
        "outbox": format!("{id}/outbox"),
        "endpoints": { "sharedInbox": format!("{base}/inbox") },
        "manuallyApprovesFollowers": true,
        "publicKey": {
            "id": format!("{id}#main-key"),
            "owner": id,
            "publicKeyPem": public_key_pem,
        },
    })
}

/// A model's room as the federation sees it.
#[derive(Debug, Clone)]
pub struct LocalRoom {
    pub base: String,
    pub id: i64,
    pub username: String,
    pub title: String,
    pub tags: Vec<String>,
    pub languages: Vec<String>,
    /// `live`, `private` or `offline`.
    pub status: String,
    pub viewers: i32,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub has_avatar: bool,
}

impl LocalRoom {
    /// PeerTube's state: a public show is live (1); a private show or an offline room is
    /// waiting (4) — the listing stays, only public shows are watchable.
    pub fn state(&self) -> i64 {
        match self.status.as_str() {
            "live" => state::LIVE,
            _ => state::WAITING,
        }
    }
}

/// The room listing as a PeerTube-compatible live `Video`.
pub fn video(r: &LocalRoom, state_override: Option<i64>) -> Value {
    let id = room_url(&r.base, r.id);
    let actor = actor_url(&r.base, &r.username);
    let page = format!("{}/@{}/live", r.base, r.username);
    let name = if r.title.is_empty() {
        format!("{} live", r.username)
    } else {
        r.title.clone()
    };
    let mut doc = json!({
        "@context": context(),
        "id": id,
        "type": "Video",
        "name": name,
        // PeerTube accepts a video only when a channel (Group) is among its authors.
        "attributedTo": [
            { "type": "Person", "id": actor },
            { "type": "Group", "id": channel_url(&r.base, &r.username) }
        ],
        "isLiveBroadcast": true,
        "state": state_override.unwrap_or_else(|| r.state()),
        "sensitive": true,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [format!("{actor}/followers")],
        "url": [{ "type": "Link", "mediaType": "text/html", "href": page }],
        "tag": r.tags.iter().map(|t| hashtag(&r.base, t)).collect::<Vec<_>>(),
        "viewers": r.viewers,
        "updated": r.updated_at.to_rfc3339(),
    });
    if let Some(l) = r.languages.first() {
        doc["language"] = json!({ "identifier": l, "name": l });
    }
    if let Some(s) = r.started_at {
        doc["startedAt"] = json!(s.to_rfc3339());
        doc["published"] = json!(s.to_rfc3339());
    }
    if r.has_avatar {
        doc["icon"] = json!([{
            "type": "Image",
            "mediaType": "image/png",
            "url": format!("{}/api/profiles/{}/avatar", r.base, r.username),
        }]);
    }
    doc
}

/// The "now live" post for Mastodon and friends.
pub fn now_live_note(r: &LocalRoom, note_id: &str) -> Value {
    let actor = actor_url(&r.base, &r.username);
    let page = format!("{}/@{}/live", r.base, r.username);
    let tags: String = r
        .tags
        .iter()
        .map(|t| {
            format!(
                " <a href=\"{}/tags/{t}\" class=\"mention hashtag\" rel=\"tag\">#<span>{t}</span></a>",
                r.base
            )
        })
        .collect();
    let title = escape_html(&r.title);
    json!({
        "@context": context(),
        "id": note_id,
        "type": "Note",
        "attributedTo": actor,
        "content": format!(
            "<p>{} is live now: {title} <a href=\"{page}\">{page}</a>{tags}</p>",
            escape_html(&r.username)
        ),
        "url": page,
        "sensitive": true,
        "summary": "Live show (adult content)",
        "published": r.updated_at.to_rfc3339(),
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [format!("{actor}/followers")],
        "tag": r.tags.iter().map(|t| hashtag(&r.base, t)).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------------
// Incoming

/// Any actor: Person, Service, Application, Group, Organization.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorJson {
    pub id: Url,
    #[serde(rename = "type")]
    pub kind: String,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub summary: Option<String>,
    #[serde(default)]
    pub icon: Value,
    #[serde(default)]
    pub url: Value,
    pub inbox: Url,
    pub outbox: Option<Url>,
    pub followers: Option<Url>,
    pub endpoints: Option<Endpoints>,
    pub public_key: PublicKeyJson,
    /// Live Stars: the model's room listing.
    pub room: Option<Url>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    pub shared_inbox: Option<Url>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyJson {
    pub id: String,
    pub owner: Url,
    pub public_key_pem: String,
}

/// The first URL in a value that may be a string, a Link/Image object, or an array of them.
pub fn first_url(v: &Value, media_prefix: Option<&str>) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let preferred = media_prefix.and_then(|p| {
                items.iter().find(|i| {
                    i.get("mediaType")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.starts_with(p))
                })
            });
            preferred
                .and_then(|i| first_url(i, None))
                .or_else(|| items.iter().find_map(|i| first_url(i, media_prefix)))
        }
        Value::Object(o) => o
            .get("href")
            .or_else(|| o.get("url"))
            .and_then(|u| first_url(u, media_prefix)),
        _ => None,
    }
}

/// A room listing: a live `Video` (ours, PeerTube's or Owncast-like).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoJson {
    pub id: Url,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    #[serde(default)]
    pub attributed_to: Value,
    pub is_live_broadcast: Option<bool>,
    pub state: Option<i64>,
    #[serde(default)]
    pub tag: Value,
    #[serde(default)]
    pub url: Value,
    #[serde(default)]
    pub icon: Value,
    #[serde(default)]
    pub language: Value,
    pub viewers: Option<i64>,
    pub started_at: Option<String>,
    pub published: Option<String>,
    /// When the sender last changed it; an older copy than the one stored is stale.
    pub updated: Option<String>,
}

impl VideoJson {
    /// The actors a Video is attributed to (PeerTube names the account and the channel).
    pub fn attributed(&self) -> Vec<String> {
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|i| collect(i, out)),
                Value::Object(o) => {
                    if let Some(Value::String(s)) = o.get("id") {
                        out.push(s.clone());
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        collect(&self.attributed_to, &mut out);
        out
    }

    /// Hashtag names without `#`, lower case.
    pub fn hashtags(&self) -> Vec<String> {
        let items: Vec<&Value> = match &self.tag {
            Value::Array(a) => a.iter().collect(),
            Value::Null => vec![],
            v => vec![v],
        };
        items
            .into_iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(|n| n.trim_start_matches('#').to_lowercase())
            .filter(|n| !n.is_empty())
            .collect()
    }

    pub fn language(&self) -> Option<String> {
        match &self.language {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("identifier")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        }
    }
}
