//! The zone's KDS client: connects to the global (verifying it with
//! `KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE`), authenticates with its zone token, applies what the
//! global sends and sends its own dataplanes up, and reconnects with backoff when anything fails.

mod client;

pub use client::KdsClient;
