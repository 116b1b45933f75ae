//! WebFinger and NodeInfo 2.1 documents.

use serde_json::{json, Value};

/// The WebFinger answer for a model: her actor, as ActivityPub JSON, and her profile page.
pub fn webfinger(subject: &str, actor_id: &str, profile_page: &str) -> Value {
    json!({
        "subject": subject,
        "aliases": [actor_id, profile_page],
        "links": [
            { "rel": "self", "type": "application/activity+json", "href": actor_id },
            { "rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": profile_page }
        ]
    })
}

/// `/.well-known/nodeinfo`: where the 2.1 document is.
pub fn discovery(base: &str) -> Value {
    json!({
        "links": [
            { "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": format!("{base}/nodeinfo/2.1") },
            // FEP-2677: the instance actor.
            { "rel": "https://www.w3.org/ns/activitystreams#Application", "href": format!("{base}/actor") }
        ]
    })
}

/// Usage figures for NodeInfo.
pub struct Usage {
    pub users: i64,
    pub active_month: i64,
    pub live_rooms: i64,
}

pub fn nodeinfo(name: &str, version: &str, open_registrations: bool, usage: &Usage) -> Value {
    json!({
        "version": "2.1",
        "software": {
            "name": "livestars",
            "version": version,
            "repository": "https://github.com/livestars/livestars",
            "homepage": "https://github.com/livestars/livestars"
        },
        "protocols": ["activitypub"],
        "services": { "inbound": [], "outbound": [] },
        "openRegistrations": open_registrations,
        "usage": {
            "users": { "total": usage.users, "activeMonth": usage.active_month },
            "localPosts": usage.live_rooms
        },
        "metadata": { "nodeName": name, "liveRooms": usage.live_rooms }
    })
}
