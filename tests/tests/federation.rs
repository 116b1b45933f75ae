//! Three real instances federating over HTTP on localhost (debug federation): a viewer on A and
//! one on C follow Anna on B; her show, title, profile and end of show reach A and C; C blocks
//! B; A switches to allowlist mode; a delivery survives the kill of both ends. Runs on SQLite
//! and on PostgreSQL.

use std::future::Future;
use std::time::{Duration, Instant};

use livestars_e2e::{http_client, Backend, Instance, PASSWORD};
use serde_json::{json, Value};

struct Net {
    http: reqwest::Client,
}

impl Net {
    async fn post(&self, url: String, body: Value, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.post(url).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn sign_up(&self, i: &Instance, name: &str) -> String {
        livestars_e2e::sign_up(&self.http, &i.url, name).await
    }

    async fn verified_model(&self, i: &Instance, admin: &str, name: &str) -> (String, i64) {
        livestars_e2e::verified_model(&self.http, &i.url, admin, name).await
    }

    /// Start the show of `room` on `i` as its model.
    async fn go_live(&self, i: &Instance, token: &str, room: i64) {
        let r = self
            .post(
                format!("{}/api/rooms/{room}/start", i.url),
                json!({"status": "live"}),
                Some(token),
            )
            .await;
        assert_eq!(r.status(), 200, "start of room {room}");
    }

    /// Change the title of `room` on `i` as its model.
    async fn retitle(&self, i: &Instance, token: &str, room: i64, title: &str) {
        let r = self
            .http
            .patch(format!("{}/api/rooms/{room}", i.url))
            .bearer_auth(token)
            .json(&json!({ "title": title }))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "title of room {room}");
    }

    async fn rooms_all(&self, i: &Instance) -> Vec<Value> {
        let (s, v) = self
            .send(self.http.get(format!("{}/api/rooms?scope=all", i.url)))
            .await;
        assert_eq!(s, 200, "{v}");
        v["rooms"].as_array().cloned().unwrap_or_default()
    }

    /// The federated room of `handle` in `i`'s directory, if listed.
    async fn listed(&self, i: &Instance, handle: &str) -> Option<Value> {
        let all = self.rooms_all(i).await;
        if std::env::var_os("DEBUG_ROOMS").is_some() {
            eprintln!("{} {all:?}", i.url);
        }
        all.into_iter().find(|r| r["room"]["model"] == handle)
    }

    async fn lookup(&self, i: &Instance, token: &str, handle: &str) -> (u16, Value) {
        self.send(
            self.http
                .get(format!(
                    "{}/api/federation/lookup?handle={}",
                    i.url,
                    handle
                        .replace('%', "%25")
                        .replace('@', "%40")
                        .replace(':', "%3A")
                        .replace('/', "%2F")
                ))
                .bearer_auth(token),
        )
        .await
    }

    async fn follow(&self, i: &Instance, token: &str, handle: &str) -> (u16, Value) {
        self.send(
            self.http
                .post(format!("{}/api/federation/follows", i.url))
                .bearer_auth(token)
                .json(&json!({ "handle": handle })),
        )
        .await
    }

    async fn admin_put(&self, i: &Instance, admin: &str, path: &str, body: Value) -> Value {
        let (s, v) = self
            .send(
                self.http
                    .put(format!("{}/api/admin/federation/{path}", i.url))
                    .bearer_auth(admin)
                    .json(&body),
            )
            .await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }
}

/// Poll `check` until it returns `Some`, for at most `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn three_instances_federate(backend: Backend) {
    let net = Net {
        http: http_client(),
    };
    let fast = [("LIVESTARS_FEDERATION_MAX_BACKOFF_SECS", "2")];
    let a = Instance::federating(backend, &fast);
    let mut b = Instance::federating(backend, &fast);
    let c = Instance::federating(backend, &fast);
    let admin_a = a.create_admin("root");
    let admin_b = b.create_admin("root");
    let admin_c = c.create_admin("root");
    let (anna, room) = net.verified_model(&b, &admin_b, "anna").await;
    let anna_handle = format!("anna@{}", b.domain());

    // WebFinger and NodeInfo on B.
    let (s, wf) = net
        .send(net.http.get(format!(
            "{}/.well-known/webfinger?resource=acct:{anna_handle}",
            b.url
        )))
        .await;
    assert_eq!(s, 200, "{wf}");
    assert_eq!(wf["links"][0]["href"], format!("{}/users/anna", b.url));
    let (s, ni) = net
        .send(net.http.get(format!("{}/nodeinfo/2.1", b.url)))
        .await;
    assert_eq!(s, 200);
    assert_eq!(ni["software"]["name"], "livestars");
    assert_eq!(ni["usage"]["users"]["total"], 2);

    // A viewer on A and one on C find Anna by handle and follow her; B accepts.
    let vic = net.sign_up(&a, "vic").await;
    let (s, p) = net.lookup(&a, &vic, &format!("@{anna_handle}")).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["display_name"], "anna");
    assert_eq!(p["follow"], Value::Null);
    assert_eq!(p["room"]["status"], "offline", "her room listing: {p}");
    let (s, p) = net.follow(&a, &vic, &anna_handle).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["follow"], "pending");
    let cleo = net.sign_up(&c, "cleo").await;
    // C pastes her actor URL instead of the handle.
    let (s, p) = net
        .follow(&c, &cleo, &format!("{}/users/anna", b.url))
        .await;
    assert_eq!(s, 200, "{p}");
    for (inst, tok) in [(&a, &vic), (&c, &cleo)] {
        eventually("B accepts the follow", 15, || async {
            let (_, p) = net.lookup(inst, tok, &anna_handle).await;
            (p["follow"] == "accepted").then_some(())
        })
        .await;
    }
    let (_, followers) = net
        .send(net.http.get(format!("{}/users/anna/followers", b.url)))
        .await;
    assert_eq!(followers["totalItems"], 2);

    // She goes live on B: A and C list her room, marked with its home instance.
    net.go_live(&b, &anna, room).await;
    for inst in [&a, &c] {
        let listed = eventually("her live room on A and C", 15, || async {
            net.listed(inst, &anna_handle).await
        })
        .await;
        assert_eq!(listed["room"]["home"], b.domain());
        assert_eq!(listed["room"]["status"], "live");
        assert!(
            listed["room"]["id"].as_i64().unwrap() < 0,
            "federated ids are negative"
        );
        assert!(listed["score"].as_f64().unwrap() > 0.0, "ranked: {listed}");
    }
    // A's own live room sits in the same ranked list.
    let (ada, ada_room) = net.verified_model(&a, &admin_a, "ada").await;
    net.go_live(&a, &ada, ada_room).await;
    let rooms = net.rooms_all(&a).await;
    let homes: Vec<&Value> = rooms.iter().map(|r| &r["room"]["home"]).collect();
    assert!(
        homes.contains(&&Value::Null) && homes.contains(&&json!(b.domain())),
        "{rooms:?}"
    );
    let (_, local_only) = net.send(net.http.get(format!("{}/api/rooms", a.url))).await;
    assert_eq!(
        local_only["rooms"].as_array().unwrap().len(),
        1,
        "scope=local is the default"
    );

    // Title change.
    net.retitle(&b, &anna, room, "Late night jazz").await;
    for inst in [&a, &c] {
        eventually("the new title on A and C", 15, || async {
            let r = net.listed(inst, &anna_handle).await?;
            (r["room"]["title"] == "Late night jazz").then_some(())
        })
        .await;
    }

    // Profile edit propagates as Update(Person).
    let r = net
        .http
        .patch(format!("{}/api/profiles/anna", b.url))
        .bearer_auth(&anna)
        .json(&json!({"display_name": "Anna Bee"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("her new name on A", 15, || async {
        let (_, p) = net.lookup(&a, &vic, &anna_handle).await;
        (p["display_name"] == "Anna Bee").then_some(())
    })
    .await;

    // End of show: gone from the live lists.
    let r = net
        .post(
            format!("{}/api/rooms/{room}/stop", b.url),
            json!({}),
            Some(&anna),
        )
        .await;
    assert_eq!(r.status(), 200);
    for inst in [&a, &c] {
        eventually("her room leaves the live list", 15, || async {
            net.listed(inst, &anna_handle).await.is_none().then_some(())
        })
        .await;
    }

    // C blocks B: B's activities are refused with 403 and C sends nothing to B.
    let v = net
        .admin_put(
            &c,
            &admin_c,
            "domains",
            json!({"domain": b.domain(), "policy": "block"}),
        )
        .await;
    assert_eq!(v["blocked"], json!([b.domain()]));
    let (s, e) = net.lookup(&c, &cleo, &anna_handle).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (403, Some("domain_blocked")),
        "{e}"
    );
    let r = net
        .http
        .post(format!("{}/inbox", c.url))
        .header("content-type", "application/activity+json")
        .body(
            json!({"id": format!("{}/activities/x", b.url), "type": "Update",
                   "actor": format!("{}/users/anna", b.url), "object": {}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    net.go_live(&b, &anna, room).await;
    eventually("A sees her live again", 15, || async {
        net.listed(&a, &anna_handle).await
    })
    .await;
    // B's deliveries to C end as refused; C never lists her.
    eventually("B's deliveries to C end", 15, || async {
        let (_, list) = net
            .send(
                net.http
                    .get(format!("{}/api/admin/federation/instances", b.url))
                    .bearer_auth(&admin_b),
            )
            .await;
        let c_state = list
            .as_array()?
            .iter()
            .find(|i| i["domain"] == c.domain())?
            .clone();
        (c_state["pending"] == 0 && c_state["refused"].as_i64()? >= 1).then_some(())
    })
    .await;
    assert!(net.listed(&c, &anna_handle).await.is_none(), "C blocked B");

    // A switches to allowlist mode without B: B's updates are refused, lookups too.
    net.admin_put(&a, &admin_a, "mode", json!({"mode": "allowlist"}))
        .await;
    let (s, _) = net.lookup(&a, &vic, &anna_handle).await;
    assert_eq!(s, 403);
    // Allowing B lets her through again, at once.
    net.admin_put(
        &a,
        &admin_a,
        "domains",
        json!({"domain": b.domain(), "policy": "allow"}),
    )
    .await;
    let (s, _) = net.lookup(&a, &vic, &anna_handle).await;
    assert_eq!(s, 200);

    // A delivery survives: A is down when Anna retitles, B is killed with it queued; both
    // restart, and it arrives (a delivery claimed when B died waits out its lease: 15 s).
    let mut a = a;
    a.kill();
    net.retitle(&b, &anna, room, "After the storm").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.restart();
    a.restart();
    eventually(
        "the queued title reaches A after both restarts",
        45,
        || async {
            let r = net.listed(&a, &anna_handle).await?;
            (r["room"]["title"] == "After the storm").then_some(())
        },
    )
    .await;

    // Unfollow: Undo(Follow) reaches B; her room leaves A's directory at once.
    let r = net
        .http
        .delete(format!("{}/api/federation/follows/{anna_handle}", a.url))
        .bearer_auth(&vic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(net.listed(&a, &anna_handle).await.is_none());
    eventually("B forgets A's follower", 15, || async {
        let (_, f) = net
            .send(net.http.get(format!("{}/users/anna/followers", b.url)))
            .await;
        (f["totalItems"] == 1).then_some(())
    })
    .await;

    // C lifts its block: Anna's next change reaches C again (Cleo still follows her).
    net.admin_put(
        &c,
        &admin_c,
        "domains",
        json!({"domain": b.domain(), "policy": "none"}),
    )
    .await;
    net.retitle(&b, &anna, room, "Last song").await;
    eventually("C lists her again once unblocked", 15, || async {
        let r = net.listed(&c, &anna_handle).await?;
        (r["room"]["title"] == "Last song").then_some(())
    })
    .await;

    // Anna deletes her account on B: her actor is a Tombstone there, and C forgets her.
    let r = net
        .http
        .delete(format!("{}/api/me", b.url))
        .bearer_auth(&anna)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = net
        .http
        .get(format!("{}/users/anna", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    eventually("C drops her room after the Delete", 15, || async {
        net.listed(&c, &anna_handle).await.is_none().then_some(())
    })
    .await;
    let (s, e) = net.lookup(&c, &cleo, &anna_handle).await;
    assert_eq!(s, 404, "she is gone: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_federate_on_sqlite() {
    three_instances_federate(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_federate_on_postgres() {
    three_instances_federate(Backend::Postgres).await;
}

/// An instance that keeps failing is marked dead after the configured time and probed once per
/// backoff cap; when it answers again it is alive and the queued updates arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_instances_are_skipped_until_they_answer() {
    let net = Net {
        http: http_client(),
    };
    let mut a = Instance::federating(Backend::Sqlite, &[]);
    let b = Instance::federating(
        Backend::Sqlite,
        &[
            ("LIVESTARS_FEDERATION_DEAD_AFTER_SECS", "2"),
            ("LIVESTARS_FEDERATION_MAX_BACKOFF_SECS", "1"),
        ],
    );
    let admin_b = b.create_admin("root");
    let (anna, room) = net.verified_model(&b, &admin_b, "anna").await;
    let handle = format!("anna@{}", b.domain());
    let vic = net.sign_up(&a, "vic").await;
    assert_eq!(net.follow(&a, &vic, &handle).await.0, 200);
    net.go_live(&b, &anna, room).await;
    eventually("A lists her", 15, || async {
        net.listed(&a, &handle).await
    })
    .await;
    let a_domain = a.domain();
    let instance_state = || async {
        let (_, list) = net
            .send(
                net.http
                    .get(format!("{}/api/admin/federation/instances", b.url))
                    .bearer_auth(&admin_b),
            )
            .await;
        list.as_array()?
            .iter()
            .find(|i| i["domain"] == a_domain)
            .cloned()
    };

    a.kill();
    for title in ["One", "Two"] {
        net.retitle(&b, &anna, room, title).await;
    }
    let dead = eventually("B marks A dead", 20, || async {
        let s = instance_state().await?;
        (s["dead"] == true).then_some(s)
    })
    .await;
    assert!(dead["pending"].as_i64().unwrap() >= 1, "{dead}");
    assert!(dead["last_error"].is_string(), "{dead}");

    a.restart();
    let a = a;
    eventually("A is alive again and has the last title", 20, || async {
        let s = instance_state().await?;
        let r = net.listed(&a, &handle).await?;
        (s["dead"] == false && s["pending"] == 0 && r["room"]["title"] == "Two").then_some(())
    })
    .await;
}
