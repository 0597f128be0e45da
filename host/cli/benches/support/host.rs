//! A `prism run` child with its API, for the benchmarks of whole processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `prism` binary of this build.
#[allow(dead_code)]
pub(crate) fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
}

/// A `prism run` and its API.
pub(crate) struct Host {
    child: Child,
    /// `host:port` of its API.
    pub(crate) base: String,
}

impl Host {
    #[allow(dead_code)]
    pub(crate) fn start(config: &Path) -> Host {
        Host::start_binary(Path::new(env!("CARGO_BIN_EXE_prism")), config)
    }

    /// `binary run` on `config` (another build's `prism`, for a baseline).
    pub(crate) fn start_binary(binary: &Path, config: &Path) -> Host {
        let mut child = Command::new(binary)
            .args(["run", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("PRISM_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the prism binary runs");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("prism: API listening on ") {
                    let _ = tx.send(url.trim_start_matches("http://").to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("prism printed its API address");
        Host { child, base }
    }

    #[allow(dead_code)]
    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        let mut stream = TcpStream::connect(&self.base).expect("the API answers");
        let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.base);
        let mut raw = String::new();
        let _ = stream.read_to_string(&mut raw);
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
    }

    /// CPU time the process has used so far (user and system, all its
    /// threads), from `/proc`; zero where that cannot be read.
    #[allow(dead_code)]
    pub(crate) fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and
        // stime are the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = after
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|v| v.parse::<u64>().ok())
            .sum();
        Duration::from_millis(ticks * 10)
    }

    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    #[allow(dead_code)]
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bench that panics does not leave its server running.
impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
