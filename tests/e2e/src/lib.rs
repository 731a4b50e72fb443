//! End-to-end drills of a federation: one global, two zones and their proxies, each in its own
//! process (a container of `deploy/compose` when a Docker engine answers, a `kuma-cp` process on
//! loopback otherwise). The drills are in `tests/drills`; this library is empty on purpose, so
//! nothing here is linked into a binary.
