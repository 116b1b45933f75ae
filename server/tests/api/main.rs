//! HTTP API tests: every test runs against a real server on both SQLite and PostgreSQL.

mod helpers;

mod accounts;
mod chat;
mod errors;
mod federation;
mod iddocs;
mod idle;
mod ledger;
mod migrations;
mod moderation;
mod openapi;
mod profiles;
mod rooms;
mod security;
mod wallets;
