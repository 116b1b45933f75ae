//! `livestars-admin`: the terminal console over an instance's admin API. It links neither
//! diesel nor ethers; it decrypts ID documents locally with the admin's own age identity.
//!
//! Layout: [`api`] talks HTTP, [`crypto`] decrypts and re-wraps locally, [`app`] holds state
//! and turns keys into actions, [`ui`] draws, [`viewer`] shows decrypted documents.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod crypto;
pub mod ui;
pub mod viewer;
