//! `prism`: runs market-data plugins over a stream of normalized events.

mod allocator;
mod bus;
mod cluster;
mod commands;
mod database;
mod notify;
mod settings;
mod source;

use clap::{CommandFactory, Parser, Subcommand};
use prism_sources::SimulatorSettings;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc for small blocks, the system's allocator for large ones (see
/// `allocator.rs` for why). Only the binary chooses; the library crates use
/// whatever allocator their embedder sets.
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

/// Writes a line to standard output; a reader that went away (a closed
/// pipe, `prism … | head`) ends the process quietly instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::output_failed(&e);
        }
    }};
}
pub(crate) use out;

/// What a failed write to standard output means: a closed pipe ends the
/// process with success (the reader had what it wanted); anything else
/// is said once and ends it with failure.
pub(crate) fn output_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// `prism --version`: the build and the plugin contract it hosts.
fn version() -> &'static str {
    Box::leak(
        format!(
            "{} (hosts plugins of prism:plugin@{}; still runs @0.1.0)",
            env!("CARGO_PKG_VERSION"),
            prism_runtime::CONTRACT_VERSION
        )
        .into_boxed_str(),
    )
}

/// Streams normalized crypto market events into sandboxed WebAssembly plugins
/// and serves their outputs over HTTP and WebSocket.
///
/// Start with `prism run` (the simulator and the reference plugins on the
/// default config); `prism replay` runs a recorded file through plugins as
/// fast as possible; `prism test` checks a plugin's outputs over a file
/// against the expected ones; `prism check` tells whether a component or a
/// whole config would load.
#[derive(Debug, Parser)]
#[command(name = "prism", version = version(), about, long_about)]
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
        /// Listen on this address (`host:port`, an IP or a host name)
        /// instead of the config's `api.listen` (port 0 picks a free port;
        /// the address is printed).
        #[arg(long)]
        listen: Option<String>,
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
        /// Name each plugin function in Linux `perf`'s map of JIT code
        /// (`/tmp/perf-{pid}.map`), as `runtime.profiler = "perf_map"`
        /// does, so `perf record` of the replay shows the plugins' own
        /// functions.
        #[arg(long)]
        perf_map: bool,
    },
    /// Make a plugin project (anywhere on disk) that builds for
    /// `wasm32-wasip2` and passes its own tests as it is.
    New {
        /// The plugin's name: its folder, crate and id.
        name: String,
        /// The language: rust or python.
        #[arg(long, default_value = "rust", value_parser = ["rust", "python"])]
        lang: String,
        /// The strategy it starts from: signal, series, document or orders.
        #[arg(long, default_value = "signal", value_parser = clap::builder::PossibleValuesParser::new(commands::new::TEMPLATE_NAMES))]
        template: String,
        /// The folder to make it in (default: the current one).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The Prism SDK (the `sdk` folder of a Prism checkout); default
        /// `PRISM_SDK`, else the checkout this binary was built from.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run a plugin over an event file in the host and compare its outputs
    /// with the expected ones (exit 1, with the first differences, when
    /// they differ or the plugin failed); `--update` writes them instead.
    Test {
        /// The plugin component.
        wasm: PathBuf,
        /// The event file (`.jsonl`, or `.msgpack`).
        #[arg(long)]
        events: PathBuf,
        /// The plugin's config (passed to `init`): JSON, or a JSON file.
        #[arg(long)]
        config: Option<String>,
        /// The expected outputs, one JSON line each, as `prism replay --out`
        /// writes them.
        #[arg(long)]
        expect: PathBuf,
        /// Write the outputs made to the `--expect` file instead of
        /// comparing them.
        #[arg(long)]
        update: bool,
        /// Trade on paper: order intents are filled in event time (the
        /// `[execution]` defaults) and the fills come back to the plugin;
        /// orders, fills, positions and PnL are compared too.
        #[arg(long)]
        paper: bool,
    },
    /// Check that a component fits the plugin contract, or (`--config`)
    /// that a whole config is valid and every plugin it lists loads;
    /// nothing is started.
    Check {
        /// The component file.
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        wasm: Option<PathBuf>,
        /// Config passed to `init`, as JSON.
        #[arg(long, default_value = "{}")]
        plugin_config: String,
        /// A config file: validate it (every problem named by key) and
        /// load every plugin it lists under its settings.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
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
        /// Also write a ticker with every book snapshot.
        #[arg(long)]
        tickers: bool,
        /// Candle intervals the simulated venues stream, e.g. `1m,1h`.
        #[arg(long, value_delimiter = ',')]
        candles: Vec<prism_model::CandleInterval>,
    },
}

/// The log filter of `PRISM_LOG` (default `info`, `warn` when `quiet`); an
/// invalid one is an error naming it, not a silent default.
fn log_filter(quiet: bool) -> Result<tracing_subscriber::EnvFilter, String> {
    match std::env::var("PRISM_LOG") {
        Err(std::env::VarError::NotPresent) if quiet => Ok("warn".into()),
        Err(std::env::VarError::NotPresent) => Ok("info".into()),
        Err(std::env::VarError::NotUnicode(_)) => Err("PRISM_LOG is not valid UTF-8".into()),
        Ok(text) => tracing_subscriber::EnvFilter::try_new(&text).map_err(|e| {
            format!(
                "PRISM_LOG=`{text}` is not a log filter ({e}): use a level (error, warn, info, debug, trace) or targets like `info,prism_worker=debug`"
            )
        }),
    }
}

fn main() -> ExitCode {
    allocator::without_huge_pages();
    let cli = Cli::parse();
    // `prism test` speaks on stdout; only warnings and errors on stderr.
    let quiet = matches!(cli.command, Command::Test { .. });
    let filter = match log_filter(quiet) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a file.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Run { config, listen } => commands::run::run(config, listen),
        Command::Replay {
            events,
            venue,
            format,
            plugins,
            config,
            out,
            perf_map,
        } => commands::replay::replay(
            &events,
            (venue.as_deref(), format.as_deref()),
            &plugins,
            (config.as_deref(), perf_map),
            out.as_deref(),
        ),
        Command::New {
            name,
            lang,
            template,
            dir,
            sdk,
        } => commands::new::new(&commands::new::NewPlugin {
            name: &name,
            lang: &lang,
            template: &template,
            parent: dir.as_deref().unwrap_or(std::path::Path::new(".")),
            sdk: sdk.as_deref(),
        }),
        Command::Test {
            wasm,
            events,
            config,
            expect,
            update,
            paper,
        } => commands::expect::test(&commands::expect::TestRun {
            wasm: &wasm,
            events: &events,
            plugin_config: config.as_deref(),
            expect: &expect,
            update,
            paper,
        }),
        Command::Check {
            wasm,
            plugin_config,
            config,
        } => match (wasm, config) {
            (_, Some(config)) => commands::check::check_config(&config),
            (Some(wasm), None) => commands::check::check(&wasm, &plugin_config),
            (None, None) => unreachable!("clap requires a component or --config"),
        },
        Command::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "prism", &mut buffer);
            use std::io::Write as _;
            if let Err(e) = std::io::stdout().write_all(&buffer) {
                output_failed(&e);
            }
            Ok(ExitCode::SUCCESS)
        }
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
            tickers,
            candles,
        } => commands::sim::sim(
            &duration,
            &out,
            SimulatorSettings {
                seed,
                start_ms,
                duration_ms: None,
                accounts,
                tickers,
                candles,
            },
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", said_once(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: a cause whose text the message
/// already carries (an OS error quoted by the error that wraps it) is not
/// repeated.
fn said_once(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::said_once;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let os = std::io::Error::from(std::io::ErrorKind::NotFound);
        let quoted = anyhow::Error::new(os).context(format!(
            "cannot read x: {}",
            std::io::Error::from(std::io::ErrorKind::NotFound)
        ));
        assert_eq!(said_once(&quoted), "cannot read x: entity not found");
        let other = anyhow::anyhow!("inner").context("outer");
        assert_eq!(said_once(&other), "outer: inner");
    }
}
