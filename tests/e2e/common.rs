//! Helpers: paths, a child `prism` process, a minimal HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
}

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// The probe with a custom section appended: another component (another
/// SHA-256), the same plugin.
pub(crate) fn probe_variant(n: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(wasm("prism_probe")).unwrap();
    let name = b"e2e-variant";
    bytes.extend([0, (name.len() + 2) as u8, name.len() as u8]);
    bytes.extend(name);
    bytes.push(n);
    bytes
}

/// The build's target directory (`CARGO_TARGET_DIR`, else the checkout's).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

pub(crate) fn wasm(name: &str) -> PathBuf {
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, which builds the plugins first",
        path.display()
    );
    path
}

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prism-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `child`'s exit status, once it has ended; `None` if it is still running
/// after `limit`.
fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `command` to its end, its output captured; a command still
/// running after `limit` is killed and the test fails with what it said
/// (a `prism run` expected to refuse a configuration, and which instead
/// runs, fails the test instead of holding it forever).
pub(crate) fn output_within(command: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let Some(status) = wait_within(&mut child, limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{command:?} was still running after {limit:?}; it said:\n{}",
            String::from_utf8_lossy(&stderr.join().unwrap_or_default())
        );
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A running `prism run`, killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `prism run --config CONFIG --listen 127.0.0.1:0` and waits for its address.
    pub(crate) fn start(config: &std::path::Path) -> Server {
        Self::start_with(config, &[])
    }

    /// As [`Self::start`], with extra environment variables.
    pub(crate) fn start_with(config: &std::path::Path, env: &[(&str, &str)]) -> Server {
        Self::spawn(config, env, Stdio::inherit())
    }

    /// As [`Self::start_with`], the server's log (stderr) going to `log`.
    pub(crate) fn start_logged(
        config: &std::path::Path,
        env: &[(&str, &str)],
        log: &std::path::Path,
    ) -> Server {
        Self::spawn(config, env, std::fs::File::create(log).unwrap().into())
    }

    /// As [`Self::start`], run from `cwd` (so `config` may be relative to it).
    pub(crate) fn start_in(cwd: &std::path::Path, config: &std::path::Path) -> Server {
        let mut command = prism();
        command.current_dir(cwd);
        Self::spawn_command(command, Some(config), &[], Stdio::inherit())
    }

    /// `prism run` with no `--config`, from `cwd`.
    pub(crate) fn start_without_config(cwd: &std::path::Path, env: &[(&str, &str)]) -> Server {
        let mut command = prism();
        command.current_dir(cwd);
        Self::spawn_command(command, None, env, Stdio::inherit())
    }

    fn spawn(config: &std::path::Path, env: &[(&str, &str)], stderr: Stdio) -> Server {
        Self::spawn_command(prism(), Some(config), env, stderr)
    }

    fn spawn_command(
        mut command: Command,
        config: Option<&std::path::Path>,
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Server {
        command.arg("run");
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .env("PRISM_LOG", "warn")
            .env_remove("PRISM_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("prism: API listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("prism printed its API address");
        Server { child, base }
    }

    /// Stops the server as an operator would (SIGTERM) and waits for it;
    /// panics if it takes more than 30 s.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait_within(&mut self.child, Duration::from_secs(30)).unwrap_or_else(|| {
            panic!(
                "the server at {} did not stop within 30 s of SIGTERM; its threads:\n{}",
                self.base,
                self.threads()
            )
        })
    }

    /// Every thread's stack, as gdb prints it (where shutdown waits), or
    /// why there is none.
    fn threads(&self) -> String {
        let pid = self.child.id().to_string();
        match Command::new("gdb")
            .args(["-batch", "-p", &pid, "-ex", "thread apply all bt"])
            .output()
        {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => format!("(no stacks: gdb: {e})"),
        }
    }

    /// Kills the server at once (SIGKILL: no shutdown of any kind).
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory of the server process, bytes.
    pub(crate) fn rss(&self) -> u64 {
        self.status_kb("VmRSS:") * 1024
    }

    /// GET a path: (status, body).
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        Self::client(&self.base).get(path)
    }

    /// Any request, with an optional bearer token: (status, body).
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        Self::client(&self.base).request(method, path, token, body)
    }

    /// A client of the server at `base`, to use from other threads.
    pub(crate) fn client(base: &str) -> Client {
        Client {
            base: base.to_owned(),
        }
    }

    /// Peak resident memory of the server process so far, bytes.
    pub(crate) fn peak_rss(&self) -> u64 {
        self.status_kb("VmHWM:") * 1024
    }

    /// Open file descriptors of the server process.
    pub(crate) fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// GET a path that answers JSON with 200.
    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Polls `path` until `done` holds for its JSON, or panics after `limit`.
    pub(crate) fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(path);
            if status == 200
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
                && done(&v)
            {
                return v;
            }
            assert!(
                started.elapsed() < limit,
                "GET {path} never satisfied the condition; last: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A minimal HTTP/1.0 client of a server.
pub(crate) struct Client {
    base: String,
}

impl Client {
    /// GET a path: (status, body).
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, None, b"")
    }

    /// Any request, with an optional bearer token: (status, body).
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
        self.send(method, path, "HTTP/1.0", &auth, body)
    }

    /// A JSON request (`Content-Type: application/json`; `null`: no body),
    /// as HTTP/1.1 for
    /// servers that take no other (chromedriver): (status, body). The
    /// answer must come with a length, not in chunks.
    pub(crate) fn json_request(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, String) {
        // A command without parameters has no body at all.
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        self.send(
            method,
            path,
            "HTTP/1.1",
            "Content-Type: application/json\r\nConnection: close\r\n",
            body.as_bytes(),
        )
    }

    /// A request with extra header lines (each ending in CRLF).
    fn send(
        &self,
        method: &str,
        path: &str,
        version: &str,
        headers: &str,
        body: &[u8],
    ) -> (u16, String) {
        let host = self.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        // A refused connection may be closed before the request is written.
        if write!(
            stream,
            "{method} {path} {version}\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .is_err()
        {
            return (0, String::new());
        }
        // A server may answer (e.g. 413) before reading the whole body.
        let _ = stream.write_all(body);
        let raw = read_response(&mut stream);
        let response = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, body.to_owned())
    }
}

/// A response's bytes: up to its `Content-Length` when it gives one (a
/// server may keep the connection open after it), else to the end.
fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(length) = length {
                while raw.len() < end + 4 + length {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => raw.extend_from_slice(&chunk[..n]),
                    }
                }
                return raw;
            }
            let _ = stream.read_to_end(&mut raw);
            return raw;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The ratios the fixture `ratios.jsonl` must produce, computed by hand from
/// the definition (window 300 s, step 60 s): (series, exchange, symbol, ts, value).
pub(crate) fn expected_ratios() -> Vec<(&'static str, &'static str, &'static str, i64, f64)> {
    // Buy notional: 37000×2 = 74000 at 0 s; 37000×1 = 37000 at 40 s.
    // Sell notional: 37100×1 = 37100 at 10 s; 37050.5×0.5 = 18525.25 at 20 s; 36000×1 at 100 s.
    let b1 = 1_700_000_040_000;
    let b2 = 1_700_000_100_000;
    let b3 = 1_700_000_160_000;
    vec![
        (
            "taker_long_short_ratio",
            "binance",
            "BTCUSDT",
            b1,
            74_000.0 / 55_625.25,
        ),
        ("account_long_short_ratio", "hyperliquid", "BTC", b1, 2.0),
        (
            "taker_long_short_ratio",
            "binance",
            "BTCUSDT",
            b2,
            111_000.0 / 55_625.25,
        ),
        ("account_long_short_ratio", "hyperliquid", "BTC", b2, 2.0),
        (
            "taker_long_short_ratio",
            "binance",
            "BTCUSDT",
            b3,
            111_000.0 / 91_625.25,
        ),
        ("account_long_short_ratio", "hyperliquid", "BTC", b3, 2.0),
    ]
}

pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}
