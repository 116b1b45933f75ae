//! The delivery worker: sends what the outbox holds, signed anew on every attempt, with
//! exponential backoff, bounded parallelism per destination instance, and dead instances
//! skipped (one probe per backoff cap) until they answer again.
//!
//! A delivery is claimed by pushing its `next_attempt_at` past the request timeout (a lease), so
//! a crash mid-send leaves it due again shortly; receivers are idempotent by activity id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use livestars_federation::apf::activity_sending::SendActivityTask;
use livestars_federation::delivery::backoff;
use livestars_federation::objects;
use livestars_federation::protocol::{FedData, LocalSigner, Stored};
use livestars_federation::Url;
use tokio::sync::{Notify, Semaphore};

use crate::db::schema::{deliveries, instances, outbox};
use crate::db::{now, Db, DbError};
use crate::federation::{
    changed_profiles, changed_rooms, ensure_instance, keys, mark_alive, profile_changed,
    sweep_rooms, INSTANCE_ACTOR,
};

/// Worker settings, from the configuration.
#[derive(Clone)]
pub struct DeliverySettings {
    pub base: String,
    /// The configured federation mode (admins may have changed it since; the database wins).
    pub default_mode: String,
    pub max_backoff: Duration,
    pub dead_after: Duration,
    pub per_instance: usize,
    /// How long a claimed delivery is leased before it is due again.
    pub lease: Duration,
}

/// How many deliveries are claimed at once.
const BATCH: i64 = 256;
/// Deliveries older than this are given up.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(7);

struct Due {
    id: i64,
    inbox: String,
    domain: String,
    attempts: i32,
    actor_name: String,
    activity_id: String,
    body: String,
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

/// Claim due deliveries: dead instances only get one probe per backoff cap.
/// Whether any delivery is due now.
fn any_due(c: &mut crate::db::DbConnection) -> Result<bool, diesel::result::Error> {
    diesel::select(diesel::dsl::exists(
        deliveries::table
            .filter(deliveries::state.eq(crate::states::DeliveryState::Pending.as_str()))
            .filter(deliveries::next_attempt_at.le(now())),
    ))
    .get_result(c)
}

fn claim(
    c: &mut crate::db::DbConnection,
    s: &DeliverySettings,
) -> Result<Vec<Due>, diesel::result::Error> {
    let t = now();
    type Row = (
        i64,
        String,
        String,
        i32,
        String,
        String,
        String,
        NaiveDateTime,
    );
    let rows: Vec<Row> = deliveries::table
        .inner_join(outbox::table)
        .filter(deliveries::state.eq(crate::states::DeliveryState::Pending.as_str()))
        .filter(deliveries::next_attempt_at.le(t))
        .order(deliveries::next_attempt_at)
        .limit(BATCH)
        .select((
            deliveries::id,
            deliveries::inbox,
            deliveries::domain,
            deliveries::attempts,
            outbox::actor_name,
            outbox::activity_id,
            outbox::body,
            outbox::created_at,
        ))
        .load(c)?;
    let dead: Vec<String> = instances::table
        .filter(instances::dead.eq(true))
        .select(instances::domain)
        .load(c)?;
    let mut probed: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (id, inbox, domain, attempts, actor_name, activity_id, body, created_at) in rows {
        if t - created_at > GIVE_UP_AFTER {
            diesel::update(deliveries::table.find(id))
                .set((
                    deliveries::state.eq(crate::states::DeliveryState::Dropped.as_str()),
                    deliveries::last_error.eq(Some("gave up after 7 days")),
                    deliveries::updated_at.eq(t),
                ))
                .execute(c)?;
            continue;
        }
        if dead.contains(&domain) {
            if probed.contains(&domain) {
                // Skipped: wait for the probe's outcome.
                diesel::update(deliveries::table.find(id))
                    .set(deliveries::next_attempt_at.eq(t + chrono_of(s.max_backoff)))
                    .execute(c)?;
                continue;
            }
            probed.push(domain.clone());
        }
        diesel::update(deliveries::table.find(id))
            .set(deliveries::next_attempt_at.eq(t + chrono_of(s.lease)))
            .execute(c)?;
        out.push(Due {
            id,
            inbox,
            domain,
            attempts,
            actor_name,
            activity_id,
            body,
        });
    }
    Ok(out)
}

/// How an attempt ended.
#[derive(Debug)]
enum Outcome {
    /// 2xx.
    Delivered,
    /// 4xx other than 408/429: final.
    Refused(u16),
    /// Anything else: try again later.
    Failed(String),
}

tokio::task_local! {
    /// The HTTP status of the last response seen by [`RecordStatus`] in this task.
    static ANSWER: std::cell::Cell<u16>;
}

/// Client middleware that notes each response's status for the delivery task that sent it (the
/// federation library reports a final refusal as success, like a delivery).
pub struct RecordStatus;

#[livestars_federation::async_trait]
impl reqwest_middleware::Middleware for RecordStatus {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let r = next.run(req, extensions).await?;
        let _ = ANSWER.try_with(|c| c.set(r.status().as_u16()));
        Ok(r)
    }
}

/// Record an attempt's outcome.
fn record(
    c: &mut crate::db::DbConnection,
    s: &DeliverySettings,
    due: &Due,
    outcome: Outcome,
) -> Result<(), diesel::result::Error> {
    let t = now();
    match outcome {
        Outcome::Refused(status) => {
            diesel::update(deliveries::table.find(due.id))
                .set((
                    deliveries::state.eq(crate::states::DeliveryState::Rejected.as_str()),
                    deliveries::attempts.eq(due.attempts + 1),
                    deliveries::last_error.eq(Some(format!("refused with HTTP {status}"))),
                    deliveries::updated_at.eq(t),
                ))
                .execute(c)?;
            // It answered: not failing, even if it does not want this activity.
            mark_alive(c, &due.domain, false)?;
        }
        Outcome::Delivered => {
            diesel::update(deliveries::table.find(due.id))
                .set((
                    deliveries::state.eq(crate::states::DeliveryState::Delivered.as_str()),
                    deliveries::attempts.eq(due.attempts + 1),
                    deliveries::last_error.eq(None::<String>),
                    deliveries::updated_at.eq(t),
                ))
                .execute(c)?;
            mark_alive(c, &due.domain, true)?;
        }
        Outcome::Failed(e) => {
            let attempts = due.attempts + 1;
            let wait = backoff(attempts.max(1) as u32, s.max_backoff);
            let e: String = e.chars().take(500).collect();
            diesel::update(deliveries::table.find(due.id))
                .set((
                    deliveries::attempts.eq(attempts),
                    deliveries::next_attempt_at.eq(t + chrono_of(wait)),
                    deliveries::last_error.eq(Some(&e)),
                    deliveries::updated_at.eq(t),
                ))
                .execute(c)?;
            ensure_instance(c, &due.domain)?;
            let since: Option<NaiveDateTime> = instances::table
                .find(&due.domain)
                .select(instances::failing_since)
                .first(c)?;
            let since = since.unwrap_or(t);
            let dead = t - since >= chrono_of(s.dead_after);
            diesel::update(instances::table.find(&due.domain))
                .set((
                    instances::failing_since.eq(Some(since)),
                    instances::dead.eq(dead),
                    instances::last_error.eq(Some(&e)),
                ))
                .execute(c)?;
        }
    }
    Ok(())
}

/// Sign and send one delivery.
async fn send(data: &FedData, s: &DeliverySettings, db: &Db, due: &Due) -> Outcome {
    match attempt(data, s, db, due).await {
        Ok(status) if (200..300).contains(&status) => Outcome::Delivered,
        Ok(status) if status != 0 => Outcome::Refused(status),
        Ok(_) => Outcome::Failed("no HTTP status recorded".into()),
        Err(e) => Outcome::Failed(e),
    }
}

/// One signed POST; the receiver's status when the library counts it as final.
async fn attempt(data: &FedData, s: &DeliverySettings, db: &Db, due: &Due) -> Result<u16, String> {
    let (public, private) = keys(db, &due.actor_name)
        .await
        .map_err(|e| format!("keys: {e}"))?;
    let actor_id = if due.actor_name == INSTANCE_ACTOR {
        objects::instance_actor_url(&s.base)
    } else {
        objects::actor_url(&s.base, &due.actor_name)
    };
    let actor = Url::parse(&actor_id).map_err(|e| e.to_string())?;
    let signer = LocalSigner {
        inbox: actor.join("inbox").map_err(|e| e.to_string())?,
        id: actor.clone(),
        public_key_pem: public,
        private_key_pem: private,
    };
    let body: serde_json::Value = serde_json::from_str(&due.body).map_err(|e| e.to_string())?;
    let stored = Stored {
        id: Url::parse(&due.activity_id).map_err(|e| e.to_string())?,
        actor,
        body,
    };
    let inbox = Url::parse(&due.inbox).map_err(|e| e.to_string())?;
    let tasks = SendActivityTask::prepare(&stored, &signer, vec![inbox], data)
        .await
        .map_err(|e| e.to_string())?;
    let Some(task) = tasks.first() else {
        return Err("the inbox URL is refused (scheme, private address or local)".into());
    };
    ANSWER
        .scope(std::cell::Cell::new(0), async {
            task.sign_and_send(data).await.map_err(|e| e.to_string())?;
            Ok(ANSWER.with(|c| c.get()))
        })
        .await
}

/// Queue what changed in rooms and profiles since they were last federated.
async fn sweep(db: &Db, s: &DeliverySettings) -> Result<usize, DbError> {
    // Reads first: the write lock is taken only when something changed.
    let rooms = db.read(|c| changed_rooms(c).map_err(DbError::from)).await?;
    let mut n = 0;
    if !rooms.is_empty() {
        let (base, mode) = (s.base.clone(), s.default_mode.clone());
        n += db
            .write(move |c| sweep_rooms(c, &base, &mode, &rooms).map_err(DbError::from))
            .await?;
    }
    let profiles = db
        .read(|c| changed_profiles(c).map_err(DbError::from))
        .await?;
    for (user_id, username) in profiles {
        let (public, _) = keys(db, &username).await?;
        let (base, mode) = (s.base.clone(), s.default_mode.clone());
        n += db
            .write(move |c| {
                profile_changed(c, &base, &mode, user_id, &public).map_err(DbError::from)
            })
            .await?;
    }
    Ok(n)
}

/// Run the worker until the task is aborted.
pub async fn run(db: Db, data: FedData, s: DeliverySettings, notify: Arc<Notify>) {
    let mut gates: HashMap<String, Arc<Semaphore>> = HashMap::new();
    loop {
        if let Err(e) = sweep(&db, &s).await {
            tracing::error!(error = %e, "federation sweep failed");
        }
        let settings = s.clone();
        let due = match db
            .read(|c| any_due(c).map_err(DbError::from))
            .await
            .map(|due| due.then_some(()))
        {
            // Nothing due: no write transaction (an idle instance writes nothing).
            Ok(None) => Ok(vec![]),
            Ok(Some(())) => {
                db.write(move |c| claim(c, &settings).map_err(DbError::from))
                    .await
            }
            Err(e) => Err(e),
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "claiming deliveries failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for d in due {
            let gate = gates
                .entry(d.domain.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(s.per_instance)))
                .clone();
            let (db, data, s) = (db.clone(), data.reset_request_count(), s.clone());
            tasks.spawn(async move {
                let Ok(_permit) = gate.acquire_owned().await else {
                    return;
                };
                let outcome = send(&data, &s, &db, &d).await;
                if !matches!(outcome, Outcome::Delivered) {
                    tracing::debug!(activity = %d.activity_id, inbox = %d.inbox, ?outcome, "not delivered");
                }
                let s2 = s.clone();
                if let Err(e) = db
                    .write(move |c| record(c, &s2, &d, outcome).map_err(DbError::from))
                    .await
                {
                    tracing::error!(error = %e, "recording a delivery failed");
                }
            });
        }
        // Claim the next batch once this one is done; new work wakes us through `notify`.
        while tasks.join_next().await.is_some() {}
    }
}
