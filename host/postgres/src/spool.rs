//! The sink's spool: the sink stage's disk spool, of this sink's records.

pub(crate) use prism_sinks::spool::Cursor;
pub use prism_sinks::spool::SpoolError;

/// Records on their way to the database.
pub(crate) type Spool = prism_sinks::spool::Spool<crate::rows::Record>;
