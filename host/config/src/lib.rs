//! Prism's configuration, in three steps: parse (serde, unknown keys
//! refused), validate (one pass that collects every problem and names its
//! key), build (done by the stages that own the running objects).
//!
//! ```
//! let config = prism_config::Config::from_toml_str(
//!     r#"
//!     [source]
//!     kind = "simulator"
//!     seed = 7
//!     "#,
//!     std::path::Path::new("."),
//! ).unwrap();
//! assert_eq!(config.pipeline.batch_size, 256);
//! ```

mod duration;
mod execution;
mod model;
mod nats;
mod notify;
mod validate;

pub use duration::{DurationError, parse_duration};
pub use execution::{
    ExecutionConfig, FeesConfig, RiskConfig, StopLevel, StopsConfig, amount, stop_level,
};
pub use model::*;
pub use nats::{BusFormat, DeliverFrom, NatsConfig, NatsSourceConfig, valid_name, valid_subject};
pub use notify::{
    ChannelConfig, ChannelKind, HeartbeatConfig, NotifyConfig, SecretRef, SignalRule, SmtpSecurity,
    TELEGRAM_API, UrlRef,
};
pub use validate::{ConfigError, Problem};

/// The default config, as shipped in `config/prism.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../../config/prism.toml");
