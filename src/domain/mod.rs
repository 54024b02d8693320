//! Pure types and rules of the gateway: no I/O, no HTTP. Handlers and the store speak
//! these types; rules live here so they can be tested without a server.

pub mod address;
pub mod flavor;
pub mod identity;
pub mod image;
pub mod metadefs;
pub mod network;
pub mod server;
pub mod time;
