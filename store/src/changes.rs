//! The change feed: what every component that reacts to writes reads (the global's KDS streams,
//! the zone's KDS client, the DP server's dispatcher, MADS, the derived caches).
//!
//! A [`Change`](crate::Change) is sent after its write committed. A subscriber that fell behind,
//! or a store that cannot vouch for what it sent (later: a lost connection to the PostgreSQL
//! listener, writes of another instance), gets [`Event::Resync`]: recheck everything, as if every
//! kind had been written. Generations follow the same rule ([`crate::Store::generation`] grows
//! for every kind on a resync), so caches keyed on them rebuild too. This module decides nothing
//! about what a consumer does with an event.

use kuma_core::resources::ResourceType;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::Change;

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A committed write.
    Changed(Change),
    /// Something may have changed that the feed did not report: recheck everything.
    Resync,
}

/// A subscription to the feed, from the moment it was taken.
#[derive(Debug)]
pub struct Changes {
    rx: broadcast::Receiver<Event>,
}

impl Event {
    /// Whether a consumer that depends on the records of `kind` must look again: a change of
    /// that kind, or a resync.
    pub fn touches(&self, kind: ResourceType) -> bool {
        match self {
            Self::Changed(change) => change.resource_type() == Some(kind),
            Self::Resync => true,
        }
    }
}

impl Changes {
    pub(crate) fn new(rx: broadcast::Receiver<Event>) -> Self {
        Self { rx }
    }

    /// The next event; `None` once the store is gone. Falling behind the feed (more than its
    /// buffer of unread events) yields one [`Event::Resync`] instead of the events missed.
    pub async fn recv(&mut self) -> Option<Event> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "a change feed subscriber fell behind; resync");
                Some(Event::Resync)
            }
            Err(RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(event) => Some(event),
            Err(TryRecvError::Lagged(_)) => Some(Event::Resync),
            Err(TryRecvError::Empty | TryRecvError::Closed) => None,
        }
    }
}
