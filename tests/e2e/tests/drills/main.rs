//! The drills: each brings up its own federation (see `lab`), acts on it, asserts an outcome, and
//! tears it down whatever happens. With Docker they drive `deploy/compose`; without, processes.

mod api;
mod compose;
mod federation;
mod lab;
mod local;
mod local_pg;
mod outage;
mod postgres;
mod process;
mod restarts;
