//! Live events of a room (tips, chat lines), fanned out to the room's subscribers: its sockets
//! and its tip event streams.
//! In memory: a subscriber that connects later does not get earlier events (the ledger keeps
//! the tips); a subscriber too slow to keep up skips what it missed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use livestars_api::{ChatLine, TipEvent};
use tokio::sync::broadcast;

const BUFFER: usize = 256;

/// What happens in a room, as its subscribers hear it.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    Tip(TipEvent),
    Chat(ChatLine),
    /// Who is in the room now: signed-in accounts (each counted once, however many tabs) and
    /// anonymous guests (each connection).
    Presence {
        room_id: i64,
        viewers: i32,
        guests: i32,
    },
}

impl RoomEvent {
    fn room_id(&self) -> i64 {
        match self {
            RoomEvent::Tip(t) => t.room_id,
            RoomEvent::Chat(c) => c.room_id,
            RoomEvent::Presence { room_id, .. } => *room_id,
        }
    }
}

/// The connections in one room: connection id → its account, if signed in.
#[derive(Default)]
struct Present {
    conns: HashMap<u64, Option<i64>>,
}

impl Present {
    fn counts(&self) -> (i32, i32) {
        let accounts: HashSet<i64> = self.conns.values().flatten().copied().collect();
        let guests = self.conns.values().filter(|u| u.is_none()).count();
        (
            i32::try_from(accounts.len()).unwrap_or(i32::MAX),
            i32::try_from(guests).unwrap_or(i32::MAX),
        )
    }
}

#[derive(Default)]
pub struct RoomEvents {
    rooms: Mutex<HashMap<i64, broadcast::Sender<RoomEvent>>>,
    present: Mutex<HashMap<i64, Present>>,
    /// Rooms whose counts changed since [`RoomEvents::take_changed_counts`] last ran.
    changed: Mutex<HashSet<i64>>,
    next_conn: AtomicU64,
}

/// A connection's place in a room; leaving (dropping it) updates the counts.
pub struct Presence {
    events: Arc<RoomEvents>,
    room_id: i64,
    conn: u64,
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.events.leave(self.room_id, self.conn);
    }
}

impl RoomEvents {
    pub fn subscribe(&self, room_id: i64) -> broadcast::Receiver<RoomEvent> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        // Drop channels nobody listens to any more.
        rooms.retain(|_, tx| tx.receiver_count() > 0);
        rooms
            .entry(room_id)
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// `user` (or a guest) enters room `room_id` until the returned guard is dropped; everyone
    /// in the room hears the new counts.
    pub fn join(self: &Arc<Self>, room_id: i64, user: Option<i64>) -> Presence {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let counts = {
            let mut present = self.present.lock().unwrap_or_else(|p| p.into_inner());
            let room = present.entry(room_id).or_default();
            room.conns.insert(conn, user);
            room.counts()
        };
        self.counts_changed(room_id, counts);
        Presence {
            events: self.clone(),
            room_id,
            conn,
        }
    }

    fn leave(&self, room_id: i64, conn: u64) {
        let counts = {
            let mut present = self.present.lock().unwrap_or_else(|p| p.into_inner());
            let Some(room) = present.get_mut(&room_id) else {
                return;
            };
            room.conns.remove(&conn);
            let counts = room.counts();
            if room.conns.is_empty() {
                present.remove(&room_id);
            }
            counts
        };
        self.counts_changed(room_id, counts);
    }

    fn counts_changed(&self, room_id: i64, (viewers, guests): (i32, i32)) {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room_id);
        self.publish(RoomEvent::Presence {
            room_id,
            viewers,
            guests,
        });
    }

    /// The counts of a room now: (signed-in viewers, guests).
    pub fn counts(&self, room_id: i64) -> (i32, i32) {
        let present = self.present.lock().unwrap_or_else(|p| p.into_inner());
        present.get(&room_id).map_or((0, 0), Present::counts)
    }

    /// The rooms whose counts changed since the last call, with their counts now (for the
    /// writer that stores them at a bounded rate).
    pub fn take_changed_counts(&self) -> Vec<(i64, i32, i32)> {
        let changed: Vec<i64> = self
            .changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        changed
            .into_iter()
            .map(|id| {
                let (v, g) = self.counts(id);
                (id, v, g)
            })
            .collect()
    }

    /// Send to the room's subscribers, if any.
    pub fn publish(&self, event: RoomEvent) {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = rooms.get(&event.room_id()) {
            let _ = tx.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_count_once_and_guests_per_connection() {
        let hub = Arc::new(RoomEvents::default());
        let mut rx = hub.subscribe(7);
        let a1 = hub.join(7, Some(1));
        let a2 = hub.join(7, Some(1));
        let g = hub.join(7, None);
        let b = hub.join(7, Some(2));
        assert_eq!(hub.counts(7), (2, 1));
        drop(a1);
        assert_eq!(hub.counts(7), (2, 1), "her second tab keeps her here");
        drop((a2, g));
        assert_eq!(hub.counts(7), (1, 0));
        assert_eq!(hub.take_changed_counts(), vec![(7, 1, 0)]);
        assert!(hub.take_changed_counts().is_empty());
        drop(b);
        assert_eq!(hub.take_changed_counts(), vec![(7, 0, 0)]);
        let mut last = None;
        while let Ok(e) = rx.try_recv() {
            last = Some(e);
        }
        assert!(matches!(
            last,
            Some(RoomEvent::Presence {
                room_id: 7,
                viewers: 0,
                guests: 0
            })
        ));
    }
}
