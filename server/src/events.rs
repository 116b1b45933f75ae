//! Domain events: what a committed change sets off, in one place.
//!
//! A domain function records an [`Event`] with [`record`] inside the write transaction that
//! makes the change; [`crate::db::Db::write`] collects them and, only once the transaction has
//! committed, hands them to the subscribers registered on the database ([`Bus`]): the
//! directory's cache, the federation worker's wake-up, the removal of retired ciphertext files.
//! A transaction that rolls back sets nothing off. Events recorded outside a write transaction
//! (a test calling a domain function on a bare connection) go nowhere.
//!
//! Plain data: ids, file names and wire types, nothing of the modules that record them.

use std::cell::RefCell;
use std::sync::{Arc, RwLock};

/// Something that changed, as the rest of the instance needs to hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A model's show started (or changed between public and private).
    ShowStarted { user_id: i64 },
    /// A model's running show ended: her own stop, moderation, a lapsed verification, deletion.
    ShowEnded { user_id: i64 },
    /// A room's listing changed (title, tags, languages).
    RoomChanged { room_id: i64 },
    /// A model's public profile changed.
    ProfileChanged { user_id: i64 },
    /// An account's standing changed: role, suspension.
    AccountChanged { user_id: i64 },
    /// An account was deleted.
    AccountDeleted { user_id: i64 },
    /// What we know of other instances' models and rooms changed (an inbound activity, a
    /// follow or unfollow, a fetched Video).
    FederatedChanged,
    /// A tip was made (and split) in a room.
    Tipped {
        room_id: i64,
        tip_id: i64,
        tipper: String,
        units: i64,
        at: chrono::NaiveDateTime,
    },
    /// A room's audience counts changed.
    AudienceChanged { room_id: i64 },
    /// A line was said in a room's chat.
    Chatted(livestars_api::ChatLine),
    /// Activities were queued for delivery to other instances.
    DeliveryQueued,
    /// ID documents retired: their ciphertext files are to be removed, and, when keys were
    /// deleted, the database files purged of them.
    DocumentRetired {
        files: Vec<String>,
        keys_shredded: bool,
    },
}

impl Event {
    /// Whether the room directory shows something else after this.
    pub fn touches_directory(&self) -> bool {
        !matches!(
            self,
            Event::DocumentRetired { .. }
                | Event::DeliveryQueued
                | Event::Tipped { .. }
                | Event::Chatted(_)
        )
    }

    /// Whether the federation worker has work after this: something queued, or a local change
    /// its sweep turns into activities.
    pub fn touches_federation(&self) -> bool {
        matches!(
            self,
            Event::DeliveryQueued
                | Event::ShowStarted { .. }
                | Event::ShowEnded { .. }
                | Event::RoomChanged { .. }
                | Event::ProfileChanged { .. }
                | Event::AccountChanged { .. }
                | Event::AccountDeleted { .. }
        )
    }
}

thread_local! {
    /// The events of the write transaction running on this thread, if one runs.
    static PENDING: RefCell<Option<Vec<Event>>> = const { RefCell::new(None) };
}

/// Record `event` in the running write transaction (see the module docs).
pub fn record(event: Event) {
    PENDING.with(|p| {
        if let Some(list) = p.borrow_mut().as_mut() {
            list.push(event);
        }
    });
}

/// Collecting the events of one write transaction on this thread; dropped without
/// [`Collecting::finish`] (a panic in the transaction), it discards them and still restores
/// the enclosing collection.
pub struct Collecting {
    outer: Option<Option<Vec<Event>>>,
}

/// Start collecting for a write transaction on this thread (an enclosing collection, if any,
/// is set aside and restored at the end).
pub fn begin() -> Collecting {
    Collecting {
        outer: Some(PENDING.with(|p| p.borrow_mut().replace(Vec::new()))),
    }
}

impl Collecting {
    /// Stop collecting: what this transaction recorded.
    pub fn finish(mut self) -> Vec<Event> {
        let outer = self.outer.take().flatten();
        PENDING.with(|p| std::mem::replace(&mut *p.borrow_mut(), outer).unwrap_or_default())
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        if let Some(outer) = self.outer.take() {
            PENDING.with(|p| *p.borrow_mut() = outer);
        }
    }
}

/// A subscriber: called after each commit that recorded events, with all of them, in order.
pub type Subscriber<C> = Arc<dyn Fn(&C, &[Event]) + Send + Sync>;

/// The subscribers of one database. `C` is what they are handed besides the events (the
/// database itself, so that a subscriber need not hold it).
pub struct Bus<C> {
    subscribers: RwLock<Vec<Subscriber<C>>>,
}

impl<C> Default for Bus<C> {
    fn default() -> Self {
        Bus {
            subscribers: RwLock::new(Vec::new()),
        }
    }
}

impl<C> Bus<C> {
    pub fn subscribe(&self, s: Subscriber<C>) {
        self.subscribers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(s);
    }

    /// Hand committed events to every subscriber.
    pub fn dispatch(&self, ctx: &C, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let subs = self
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for s in subs {
            s(ctx, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn recorded_inside_only_and_nested_collections_are_kept_apart() {
        record(Event::FederatedChanged); // outside: nowhere
        let outer = begin();
        record(Event::ShowStarted { user_id: 1 });
        let inner = begin();
        record(Event::ShowEnded { user_id: 2 });
        assert_eq!(inner.finish(), vec![Event::ShowEnded { user_id: 2 }]);
        // A transaction that panicked: its collection is dropped, the outer one goes on.
        let panicked = begin();
        record(Event::DeliveryQueued);
        drop(panicked);
        record(Event::RoomChanged { room_id: 3 });
        assert_eq!(
            outer.finish(),
            vec![
                Event::ShowStarted { user_id: 1 },
                Event::RoomChanged { room_id: 3 }
            ]
        );
        // Outside again: nothing is collected.
        record(Event::FederatedChanged);
        assert!(begin().finish().is_empty());
    }

    #[test]
    fn every_subscriber_hears_each_batch_once() {
        let bus: Bus<()> = Bus::default();
        let heard = Arc::new(Mutex::new(vec![]));
        for n in 0..2 {
            let heard = heard.clone();
            bus.subscribe(Arc::new(move |_, ev: &[Event]| {
                heard.lock().unwrap().push((n, ev.len()));
            }));
        }
        bus.dispatch(&(), &[]);
        bus.dispatch(
            &(),
            &[Event::FederatedChanged, Event::ShowEnded { user_id: 1 }],
        );
        assert_eq!(*heard.lock().unwrap(), vec![(0, 2), (1, 2)]);
    }
}
