//! The server's side of federation, one concern per file:
//!
//! - [`actors`]: signing keys, local models as actors, the remote actors we know;
//! - [`follows`]: our follows of remote models, our models' followers;
//! - [`listings`]: other instances' rooms (Videos) and those in our directory;
//! - [`outbox`]: what to send to which inboxes, written in the transaction of the change that
//!   caused it, and the sweep that turns changed rooms and profiles into activities;
//! - [`policy`]: open or allowlist mode, domain blocks and allows, instance health;
//! - [`store`]: the federation crate's storage trait over diesel (inbound activities);
//! - [`worker`]: the delivery worker that signs and sends the outbox.
//!
//! The protocol itself (objects, signatures, WebFinger, NodeInfo) is the `livestars-federation`
//! crate; this module is its storage and its schedule.

pub mod actors;
pub mod follows;
#[macro_use]
pub mod listings;
pub mod outbox;
pub mod policy;
pub mod store;
pub mod worker;

pub use actors::*;
pub use follows::*;
pub use listings::*;
pub use outbox::*;
pub use policy::*;
pub use store::*;
