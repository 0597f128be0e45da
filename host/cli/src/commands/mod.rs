//! One module per subcommand.

pub(crate) mod check;
pub(crate) mod expect;
pub(crate) mod new;
pub(crate) mod normalize;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod sim;
