//! `prism`: runs market-data plugins over a stream of normalized events.

mod bus;
mod commands;
mod database;
mod notify;
mod settings;
mod source;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Streams normalized crypto market events into sandboxed WebAssembly plugins
/// and serves their outputs over HTTP.
#[derive(Debug, Parser)]
#[command(name = "prism", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline and the API on a config file.
    Run {
        /// The config file (default `config/prism.toml`; the embedded
        /// default is used when that file does not exist).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen on this address instead of the config's `api.listen`
        /// (port 0 picks a free port; the address is printed).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Run an event file through plugins as fast as possible.
    Replay {
        /// The event file (`.jsonl`, or `.msgpack` for MessagePack), or with
        /// `--venue` a recording of that venue's raw messages.
        #[arg(long)]
        events: PathBuf,
        /// The events file is this venue's recording, normalized as it is read.
        #[arg(long)]
        venue: Option<String>,
        /// The recording's format: raw, prism (default), cryptofeed or tardis.
        #[arg(long, requires = "venue")]
        format: Option<String>,
        /// A plugin component; repeat for several. It runs under every
        /// `--config` entry with the same file, else under its own name with
        /// the default settings.
        #[arg(long = "plugin", required_unless_present = "config")]
        plugins: Vec<PathBuf>,
        /// A config: its limits and plugin entries; without `--plugin`,
        /// every plugin it lists runs, each under its own id and settings.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write every output as one JSON line here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check that a component fits the plugin contract.
    Check {
        /// The component file.
        wasm: PathBuf,
        /// Config passed to `init`, as JSON.
        #[arg(long, default_value = "{}")]
        plugin_config: String,
    },
    /// Record the raw frames of the config's live feeds (`[source] kind = "live"`).
    Record {
        /// The config file (default `config/prism.toml`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The file to write, one frame a line (read it back with
        /// `prism normalize --format prism`).
        #[arg(long)]
        out: PathBuf,
        /// Stop after this long (e.g. `10m`); default: until Ctrl-C.
        #[arg(long)]
        duration: Option<String>,
    },
    /// Turn a venue's recorded messages into Prism's replay format.
    Normalize {
        /// binance, okx, hyperliquid, deribit, bybit or lighter.
        #[arg(long)]
        venue: String,
        /// raw (one message a line), prism (`prism record`), cryptofeed or tardis.
        #[arg(long, default_value = "raw")]
        format: String,
        /// The recording.
        input: PathBuf,
        /// The replay file to write (`.jsonl`, or `.msgpack`).
        #[arg(long)]
        out: PathBuf,
        /// A contract value, VENUE:SYMBOL=VALUE (or VALUE/inverse for USD per contract); repeat.
        #[arg(long = "contract")]
        contracts: Vec<String>,
    },
    /// Write the simulator's stream to a file.
    Sim {
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Simulated time to cover, e.g. `1h`, `30m`.
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Output file: `.jsonl`, or `.msgpack` for MessagePack.
        #[arg(long)]
        out: PathBuf,
        /// Accounts per hyperliquid market.
        #[arg(long, default_value_t = 50)]
        accounts: usize,
        /// Event time of the first event, unix ms.
        #[arg(long, default_value_t = 1_700_000_000_000)]
        start_ms: i64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PRISM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, listen } => commands::run::run(config, listen),
        Command::Replay {
            events,
            venue,
            format,
            plugins,
            config,
            out,
        } => commands::replay::replay(
            &events,
            (venue.as_deref(), format.as_deref()),
            &plugins,
            config.as_deref(),
            out.as_deref(),
        ),
        Command::Check {
            wasm,
            plugin_config,
        } => commands::check::check(&wasm, &plugin_config),
        Command::Record {
            config,
            out,
            duration,
        } => commands::record::record(config, &out, duration.as_deref()),
        Command::Normalize {
            venue,
            format,
            input,
            out,
            contracts,
        } => commands::normalize::normalize(&venue, &format, &input, &out, &contracts),
        Command::Sim {
            seed,
            duration,
            out,
            accounts,
            start_ms,
        } => commands::sim::sim(seed, &duration, &out, accounts, start_ms),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
