//! The room directory: rooms of one status, ranked by the published formula, filtered by tag
//! and language, paged with an opaque keyset cursor.
//!
//! Reading the directory is the hottest path of an instance, so it is served from two small
//! caches that live at most [`TTL`]: a ranked snapshot per status, and the serialized bytes of
//! each distinct page. Any room change made through this process invalidates both at once;
//! changes made by another process on the same PostgreSQL show within [`TTL`].
//!
//! Cursor: the (score, room id) of the last room on the page. The order is score descending,
//! then id ascending; the next page starts strictly after that position. Scores move between
//! requests (audiences change, boosts decay), so a room may move across a page boundary while a
//! client pages; it is never duplicated within one page.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use livestars_api::{DirectoryPage, DirectoryQuery, DirectoryScope, RankedRoom, RoomStatus};

use super::ranking::{self, Inputs};
use super::{with_status, RoomError, RoomRecord};
use crate::db::Db;

/// How long a snapshot or a rendered page may be served.
pub const TTL: Duration = Duration::from_secs(1);
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
/// Longest name search, in characters.
pub const MAX_SEARCH: usize = 100;
/// Bound on rendered pages kept; the page cache is emptied when it fills.
const MAX_PAGES: usize = 1024;

struct Snapshot {
    generation: u64,
    built: Instant,
    rooms: Arc<Vec<RankedRoom>>,
}

struct Page {
    generation: u64,
    built: Instant,
    /// What a page was made into: JSON bytes, or the web page's rendered cards.
    value: Arc<dyn Any + Send + Sync>,
}

/// Rendered JSON, shared between requests without copying.
pub type Body = Arc<[u8]>;

/// Where the directory finds federated rooms of a status (`scope=all`): given by the layer
/// above (federation), so that rooms do not depend on it.
pub type RemoteRooms =
    fn(&mut crate::db::DbConnection, &str) -> Result<Vec<RoomRecord>, diesel::result::Error>;

/// The directory of one instance.
pub struct Directory {
    generation: AtomicU64,
    snapshots: Mutex<HashMap<(RoomStatus, DirectoryScope), Snapshot>>,
    pages: Mutex<HashMap<String, Page>>,
    remote: RemoteRooms,
}

impl Directory {
    /// A directory whose `scope=all` adds the rooms `remote` finds.
    pub fn new(remote: RemoteRooms) -> Directory {
        Directory {
            generation: AtomicU64::new(0),
            snapshots: Mutex::default(),
            pages: Mutex::default(),
            remote,
        }
    }

    /// Forget everything cached: a room changed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// One page of the directory as JSON bytes.
    pub async fn page(&self, db: &Db, q: &DirectoryQuery) -> Result<Body, RoomError> {
        self.rendered(db, q, "json", |page| {
            serde_json::to_vec(page)
                .map(Body::from)
                .map_err(|e| RoomError::Invalid {
                    field: "directory",
                    message: e.to_string(),
                })
        })
        .await
    }

    /// One page of the directory made into a `T` by `make` (`kind` names the making: JSON
    /// bytes, a web page's rendered cards), cached per query like the snapshots: the same
    /// request within [`TTL`] and without a room change is served without ranking or
    /// rendering again.
    pub async fn rendered<T: Clone + Send + Sync + 'static>(
        &self,
        db: &Db,
        q: &DirectoryQuery,
        kind: &'static str,
        make: impl FnOnce(&DirectoryPage) -> Result<T, RoomError>,
    ) -> Result<T, RoomError> {
        let key = format!(
            "{kind}\u{0}{}\u{0}{:?}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}",
            q.status.unwrap_or(RoomStatus::Live).as_str(),
            q.scope.unwrap_or_default(),
            q.tag.as_deref().unwrap_or(""),
            q.language.as_deref().unwrap_or(""),
            q.q.as_deref().unwrap_or(""),
            q.cursor.as_deref().unwrap_or(""),
            q.limit,
        );
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(value) = self.cached_page::<T>(&key, generation) {
            return Ok(value);
        }
        let page = self.ranked_page(db, q).await?;
        let value = make(&page)?;
        let mut pages = lock(&self.pages);
        if pages.len() >= MAX_PAGES {
            pages.clear();
        }
        pages.insert(
            key,
            Page {
                generation,
                built: Instant::now(),
                value: Arc::new(value.clone()),
            },
        );
        Ok(value)
    }

    /// One page of the directory, typed (the web pages render it themselves).
    pub async fn ranked_page(
        &self,
        db: &Db,
        q: &DirectoryQuery,
    ) -> Result<DirectoryPage, RoomError> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(RoomError::Invalid {
                field: "limit",
                message: format!("between 1 and {MAX_LIMIT}"),
            });
        }
        if q.q.as_ref().is_some_and(|s| s.chars().count() > MAX_SEARCH) {
            return Err(RoomError::Invalid {
                field: "q",
                message: format!("at most {MAX_SEARCH} characters"),
            });
        }
        let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
        let status = q.status.unwrap_or(RoomStatus::Live);
        let scope = q.scope.unwrap_or_default();
        let generation = self.generation.load(Ordering::SeqCst);
        let ranked = self.snapshot(db, status, scope, generation).await?;
        Ok(paginate(&ranked, q, after, limit as usize))
    }

    fn cached_page<T: Clone + 'static>(&self, key: &str, generation: u64) -> Option<T> {
        let pages = lock(&self.pages);
        let p = pages.get(key)?;
        if p.generation != generation || p.built.elapsed() >= TTL {
            return None;
        }
        p.value.downcast_ref::<T>().cloned()
    }

    async fn snapshot(
        &self,
        db: &Db,
        status: RoomStatus,
        scope: DirectoryScope,
        generation: u64,
    ) -> Result<Arc<Vec<RankedRoom>>, RoomError> {
        {
            let snaps = lock(&self.snapshots);
            if let Some(s) = snaps.get(&(status, scope)) {
                if s.generation == generation && s.built.elapsed() < TTL {
                    return Ok(s.rooms.clone());
                }
            }
        }
        let remote = self.remote;
        let records = db
            .read(move |conn| {
                let mut all = with_status(conn, status)?;
                if scope == DirectoryScope::All {
                    all.extend(remote(conn, status.as_str())?);
                }
                Ok::<_, RoomError>(all)
            })
            .await?;
        let ranked = Arc::new(rank(records, Utc::now().naive_utc()));
        lock(&self.snapshots).insert(
            (status, scope),
            Snapshot {
                generation,
                built: Instant::now(),
                rooms: ranked.clone(),
            },
        );
        Ok(ranked)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves at worst a stale cache entry.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Score and order rooms at time `now`.
pub fn rank(records: Vec<RoomRecord>, now: NaiveDateTime) -> Vec<RankedRoom> {
    let mut ranked: Vec<RankedRoom> = records
        .into_iter()
        .map(|r| {
            let age_days = r.account_created_at.map_or(ranking::NEWCOMER_DAYS, |c| {
                (now - c).num_seconds() as f64 / 86_400.0
            });
            let minutes_live = r
                .room
                .started_at
                .map(|s| (now - s.naive_utc()).num_milliseconds() as f64 / 60_000.0);
            // Tips do not exist yet: U and T are zero until the ledger provides them.
            let (score, components) = ranking::score(&Inputs {
                viewers: r.room.viewer_count,
                guests: r.room.guest_count,
                distinct_tippers_30m: 0,
                tipped_live_30m: 0.0,
                account_age_days: age_days,
                minutes_live,
            });
            RankedRoom {
                room: r.room,
                score,
                components,
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.room.id.cmp(&b.room.id))
    });
    ranked
}

fn is_after(r: &RankedRoom, (score, id): (f64, i64)) -> bool {
    r.score < score || (r.score == score && r.room.id > id)
}

fn paginate(
    ranked: &[RankedRoom],
    q: &DirectoryQuery,
    after: Option<(f64, i64)>,
    limit: usize,
) -> DirectoryPage {
    let mut rooms: Vec<RankedRoom> = ranked
        .iter()
        .filter(|r| after.is_none_or(|c| is_after(r, c)))
        .filter(|r| q.tag.as_ref().is_none_or(|t| r.room.tags.contains(t)))
        .filter(|r| {
            q.language
                .as_ref()
                .is_none_or(|l| r.room.languages.contains(l))
        })
        .filter(|r| {
            q.q.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .is_none_or(|s| matches_name(r, s))
        })
        .take(limit + 1)
        .cloned()
        .collect();
    let next_cursor = if rooms.len() > limit {
        rooms.truncate(limit);
        rooms.last().map(|r| make_cursor(r.score, r.room.id))
    } else {
        None
    };
    DirectoryPage {
        rooms,
        next_cursor,
        formula: ranking::FORMULA.to_string(),
    }
}

/// Whether a room's model name or display name contains `needle`, ignoring case.
fn matches_name(r: &RankedRoom, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    r.room.model.to_lowercase().contains(&needle)
        || r.room.display_name.to_lowercase().contains(&needle)
}

fn make_cursor(score: f64, id: i64) -> String {
    format!("{:016x}.{id}", score.to_bits())
}

fn parse_cursor(s: &str) -> Result<(f64, i64), RoomError> {
    let (bits, id) = s.split_once('.').ok_or(RoomError::InvalidCursor)?;
    if bits.len() != 16 {
        return Err(RoomError::InvalidCursor);
    }
    let bits = u64::from_str_radix(bits, 16).map_err(|_| RoomError::InvalidCursor)?;
    let id: i64 = id.parse().map_err(|_| RoomError::InvalidCursor)?;
    let score = f64::from_bits(bits);
    if !score.is_finite() {
        return Err(RoomError::InvalidCursor);
    }
    Ok((score, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_exactly() {
        let s = 2.718_281_9_f64 / 3.0;
        assert_eq!(parse_cursor(&make_cursor(s, 42)).unwrap(), (s, 42));
        for bad in [
            "",
            "x",
            "zzzzzzzzzzzzzzzz.1",
            "7ff8000000000000.1",
            "0000000000000000.x",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
