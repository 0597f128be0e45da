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

mod cluster;
mod duration;
mod execution;
mod model;
mod nats;
mod notify;
mod validate;

pub use cluster::{ClusterConfig, MAX_PARTITIONS};
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

/// Checks a listen address, `host:port`: a port number and a host (an IP
/// address, `[v6]`, or a name, resolved when it is used).
///
/// # Errors
/// A message saying what is wrong.
pub fn listen_address(text: &str) -> Result<(), String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "`{text}` is not `host:port` (e.g. `127.0.0.1:8080`, `localhost:8080`)"
        ));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "`{port}` in `{text}` is not a port number (0 to 65535)"
        ));
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if host.is_empty() || !(host.parse::<std::net::IpAddr>().is_ok() || host.chars().all(name)) {
        return Err(format!(
            "`{host}` in `{text}` is neither an IP address nor a host name"
        ));
    }
    Ok(())
}

/// The default config, as shipped in `config/prism.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../../config/prism.toml");

#[cfg(test)]
mod tests {
    use super::listen_address;

    #[test]
    fn listen_addresses_take_ips_and_host_names() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::1]:8080",
            "localhost:8080",
            "prism-1.internal:80",
        ] {
            assert_eq!(listen_address(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("8080", "not `host:port`"),
            ("localhost:http", "not a port number"),
            ("localhost:70000", "not a port number"),
            (":8080", "neither an IP address nor a host name"),
            ("bad host:80", "neither an IP address nor a host name"),
        ] {
            assert!(listen_address(bad).unwrap_err().contains(says), "{bad}");
        }
    }
}
