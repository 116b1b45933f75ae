//! The Live Stars instance server: a library with a thin `livestars` binary.
//!
//! The concepts live in modules named after them: [`accounts`], [`profiles`], [`iddocs`],
//! [`rooms`], [`ledger`], [`settlement`], …; [`http`] maps them to routes; [`startup`] builds a
//! running instance. Modules are ordered ([`layers::LAYERS`], docs/architecture.md): each uses
//! only lower ones, and a test keeps it so.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod cli;
pub mod config;
pub mod db;
pub mod events;
pub mod federation;
pub mod files;
pub mod http;
pub mod iddocs;
pub mod layers;
pub mod ledger;
pub mod lifecycle;
pub mod moderation;
pub mod money;
pub mod profiles;
pub mod rooms;
pub mod settlement;
pub mod shows;
pub mod startup;
pub mod states;
pub mod text;

pub use config::Config;
pub use startup::Application;
