//! Tests of the API through its router, without a server.

mod analytics;
mod app;
mod frontend;
