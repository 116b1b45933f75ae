//! The Live Stars instance server: a library with a thin `livestars` binary.
//!
//! The concepts live in modules named after them: [`accounts`], [`profiles`], [`rooms`],
//! [`db`], [`config`]; [`http`] maps them to routes; [`startup`] builds a running instance.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod cli;
pub mod config;
pub mod db;
pub mod delivery;
pub mod federation_store;
pub mod http;
pub mod iddocs;
pub mod ledger;
pub mod moderation;
pub mod profiles;
pub mod rooms;
pub mod settlement;
pub mod startup;
pub mod text;

pub use config::Config;
pub use startup::Application;
