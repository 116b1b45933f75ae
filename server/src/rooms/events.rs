//! Live events of a room (tips, chat lines), fanned out to the room's subscribers: its sockets
//! and its tip event streams.
//! In memory: a subscriber that connects later does not get earlier events (the ledger keeps
//! the tips); a subscriber too slow to keep up skips what it missed.

use std::collections::HashMap;
use std::sync::Mutex;

use livestars_api::{ChatLine, TipEvent};
use tokio::sync::broadcast;

const BUFFER: usize = 256;

/// What happens in a room, as its subscribers hear it.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    Tip(TipEvent),
    Chat(ChatLine),
}

impl RoomEvent {
    fn room_id(&self) -> i64 {
        match self {
            RoomEvent::Tip(t) => t.room_id,
            RoomEvent::Chat(c) => c.room_id,
        }
    }
}

#[derive(Default)]
pub struct RoomEvents {
    rooms: Mutex<HashMap<i64, broadcast::Sender<RoomEvent>>>,
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

    /// Send to the room's subscribers, if any.
    pub fn publish(&self, event: RoomEvent) {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = rooms.get(&event.room_id()) {
            let _ = tx.send(event);
        }
    }
}
