//! `cyclades`: a compute-and-image gateway in the style of Synnefo's Cyclades.
//!
//! One binary serves the Cyclades compute API, the Image API v2, the identity endpoints
//! real clients need, and VNC consoles. See `../shared/ARCHITECTURE.md` for the
//! request flow and layout.

pub mod api;
pub mod backend;
pub mod config;
pub mod console;
pub mod domain;
pub mod graphs;
pub mod http;
pub mod imagestore;
pub mod metadefs_files;
pub mod server;
pub mod store;
