//! Latency from an exchange frame to the output it causes at a WebSocket
//! client: a loopback Binance stream sends aggTrade frames at a fixed rate
//! (100,000 a second by default) into `prism run` (a live feed, default
//! pipeline settings), where the test probe logs every event; a client of
//! `/api/v1/ws` subscribed to `plugin:probe` takes each log, finds which
//! frame made it (the trade's price is the frame's number) and subtracts
//! the moment that frame was flushed to the socket. Percentiles after a
//! warm-up, and the CPU time Prism used per measured frame (what a shorter
//! wait for partial batches costs); the exchange, Prism and the client
//! share the machine's cores.
//!
//! Needs the probe built (`scripts/test.sh`). Run: `cargo bench -p
//! prism-host --bench ws_latency -- [--rate N] [--seconds S] [--batch B]
//! [--linger MS] [--idle MS] [--baseline BIN] [--runs N]` (`--batch`,
//! `--linger`, `--idle`: `pipeline.batch_size`, `batch_linger_ms`,
//! `batch_idle_ms`, default the config's; with
//! `--baseline`, that `prism` binary and this one are measured in turn, `N`
//! times each); `-- --smoke` runs 10,000 frames a second for a second (CI
//! does).

#[path = "support/args.rs"]
mod args;
#[path = "support/builds.rs"]
mod builds;
#[path = "support/host.rs"]
mod host;

use args::{Args, percentile};
use futures_util::{SinkExt, StreamExt};
use host::Host;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Frames sent: when each was flushed, in ns from `origin` (0: not yet).
struct Sent {
    origin: Instant,
    at: Vec<AtomicU64>,
}

impl Sent {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Serves one Binance-like connection: after the client's first message
/// (its subscription), `rate` aggTrade frames a second, in ticks of 1 ms,
/// each tick's frames flushed together; frame `n` trades at price `n + 1`.
async fn exchange(listener: tokio::net::TcpListener, sent: Arc<Sent>, rate: u64) {
    let Ok((stream, _)) = listener.accept().await else {
        return;
    };
    // A frame is stamped when flushed: Nagle's algorithm would hold it
    // back for the peer's delayed ACK (tens of ms at ~10 k frames/s) and
    // count the wait against Prism.
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    let _ = tokio::time::timeout(Duration::from_secs(5), rx.next()).await;
    // Answer nothing more, but keep reading (pings, pongs).
    tokio::spawn(async move { while rx.next().await.is_some() {} });
    let per_tick = (rate / 1000).max(1);
    let started = tokio::time::Instant::now();
    let total = sent.at.len() as u64;
    let mut n = 0u64;
    let mut tick = 0u64;
    while n < total {
        tick += 1;
        tokio::time::sleep_until(started + Duration::from_millis(tick)).await;
        let first = n;
        let ms = prism_model::wall_ms();
        for _ in 0..per_tick.min(total - n) {
            let frame = format!(
                r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ms},"s":"BTCUSDT","a":{n},"p":"{}","q":"1","T":{ms},"m":true}}}}"#,
                n + 1
            );
            if tx.feed(Message::text(frame)).await.is_err() {
                return;
            }
            n += 1;
        }
        if tx.flush().await.is_err() {
            return;
        }
        let at = sent.now();
        for i in first..n {
            sent.at[i as usize].store(at, Ordering::Relaxed);
        }
    }
    // Hold the connection while the last outputs travel.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// The frame a probe log came from: its trade's price mantissa, less one.
/// Read from the message's text as it arrived, without decoding its JSON:
/// the client takes each message as soon as the one before is read, so its
/// own decoding would count against Prism (the log's body is the event's
/// debug text, which JSON leaves as it is).
fn frame_of(message: &str) -> Option<u64> {
    let rest = &message[message.find("Event::Trade(")? + "Event::Trade(".len()..];
    let at = rest.find("mantissa: ")? + "mantissa: ".len();
    let digits: String = rest[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().ok()?.checked_sub(1)
}

fn main() {
    let args = Args::get();
    let smoke = args.smoke();
    let rate = args
        .number("--rate")
        .unwrap_or(if smoke { 10_000 } else { 100_000 });
    let seconds = args
        .number("--seconds")
        .unwrap_or(if smoke { 1 } else { 5 });
    let mut pipeline = String::from("[pipeline]\n");
    if let Some(b) = args.number("--batch") {
        pipeline += &format!("batch_size = {b}\n");
    }
    if let Some(ms) = args.number("--linger") {
        pipeline += &format!("batch_linger_ms = {ms}\n");
    }
    if let Some(ms) = args.number("--idle") {
        pipeline += &format!("batch_idle_ms = {ms}\n");
    }
    let builds = builds::Builds::from_args(&args);
    let runs = args
        .number("--runs")
        .map_or(1, |n| usize::try_from(n).unwrap_or(1));
    let frames = rate * (seconds + 1);
    println!(
        "frame sent → probe log at a WebSocket client, {rate} frames/s, {seconds} s after 1 s of warm-up, {}",
        if pipeline == "[pipeline]\n" {
            "default pipeline".to_owned()
        } else {
            pipeline.replace('\n', " ")
        }
    );
    println!();
    println!(
        "| build | frames | outputs seen | p50 ms | p90 ms | p99 ms | max ms | host CPU µs/frame |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    builds.in_turn(runs, |build, binary| {
        let (mut sorted, cpu) = measure(binary, rate, seconds, &pipeline);
        sorted.sort_unstable();
        assert!(!sorted.is_empty(), "no output reached the client");
        let ms = |ns: u64| ns as f64 / 1e6;
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
            build.name(),
            frames - rate,
            sorted.len(),
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.9)),
            ms(percentile(&sorted, 0.99)),
            ms(*sorted.last().unwrap_or(&0)),
            cpu.as_secs_f64() * 1e6 / sorted.len().max(1) as f64,
        );
    });
}

/// Runs `binary` against a loopback exchange sending `rate` frames a
/// second for a second of warm-up and `seconds` more; the latency of each
/// measured frame's output, ns, and the CPU time Prism used from the first
/// measured output to the last (10 ms resolution).
fn measure(
    binary: &std::path::Path,
    rate: u64,
    seconds: u64,
    pipeline: &str,
) -> (Vec<u64>, Duration) {
    // A second of warm-up before the measured seconds.
    let frames = rate * (seconds + 1);
    let warm_up = rate;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let port = listener.local_addr().expect("an address").port();
    let sent = Arc::new(Sent {
        origin: Instant::now(),
        at: (0..frames).map(|_| AtomicU64::new(0)).collect(),
    });
    runtime.spawn(exchange(listener, sent.clone(), rate));

    let dir = std::env::temp_dir().join(format!("prism-ws-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"[runtime]
data_dir = "{data}"
{pipeline}[source]
kind = "live"
[[source.venues]]
venue = "binance"
symbols = ["BTCUSDT"]
channels = ["trades"]
url = "ws://127.0.0.1:{port}/ws"
rest_url = "http://127.0.0.1:9"
[[plugins]]
id = "probe"
path = "{probe}"
config = {{ mode = "echo" }}
"#,
            data = dir.join("data").display(),
            probe = args::wasm_dir().join("prism_probe.wasm").display(),
        ),
    )
    .expect("a config");
    let host = Host::start_binary(binary, &config);
    let url = format!("ws://{}/api/v1/ws", host.base);

    let measured = runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("the API's WebSocket");
        let subscribe = r#"{"type":"subscribe","channels":["plugin:probe"]}"#;
        ws.send(Message::text(subscribe)).await.expect("subscribed");
        let mut latencies = Vec::with_capacity(usize::try_from(frames).unwrap_or(0));
        let mut cpu_from = None;
        let deadline = Instant::now() + Duration::from_secs(seconds + 30);
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline.into(), ws.next()).await
        {
            let Message::Text(text) = message else {
                continue;
            };
            let received = sent.now();
            let Some(n) = frame_of(&text) else {
                continue;
            };
            let at = sent
                .at
                .get(n as usize)
                .map_or(0, |a| a.load(Ordering::Relaxed));
            if n >= warm_up && at > 0 {
                cpu_from.get_or_insert_with(|| host.cpu());
                latencies.push(received.saturating_sub(at));
            }
            if n + 1 == frames {
                break;
            }
        }
        let cpu = cpu_from.map_or(Duration::ZERO, |from| host.cpu().saturating_sub(from));
        (latencies, cpu)
    });
    host.stop();
    let _ = std::fs::remove_dir_all(&dir);
    measured
}
