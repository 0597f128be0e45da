//! End-to-end tests of the `prism` binary: its CLI and its HTTP API, with
//! the plugins built from this repository (`scripts/test.sh` builds them).

mod admin;
mod analytics;
mod attacks;
mod authors;
mod canary;
mod cli;
mod common;
mod dashboard;
mod execution;
mod frontend;
mod hardening;
mod market;
mod nats;
mod notify;
mod postgres;
mod replay;
mod run;
mod services;
mod tools;
mod venues;
