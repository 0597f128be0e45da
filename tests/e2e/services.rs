//! The machine's services, for the tests that need them: PostgreSQL (a
//! schema of its own per test, dropped after), and a TCP proxy the test
//! controls to cut and restore the connection.
//!
//! A test calls [`Postgres::connect`]: when the server is absent it skips
//! (returns `None`) with a message — unless `PRISM_REQUIRE_SERVICES=1`,
//! where absence fails the test.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn required() -> bool {
    std::env::var("PRISM_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A schema of the test database, dropped when the test ends.
pub(crate) struct Postgres {
    pub(crate) url: String,
    pub(crate) schema: String,
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Postgres {
    /// Connects to `PRISM_TEST_POSTGRES_URL` (default the machine's server)
    /// and names a fresh schema `e2e_<tag>_<pid>` (dropped first if a
    /// previous run left it). `None` when the server is absent (skipped).
    pub(crate) fn connect(tag: &str) -> Option<Postgres> {
        let url = std::env::var("PRISM_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.into());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connected = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                tokio_postgres::connect(&url, tokio_postgres::NoTls),
            )
            .await
        });
        let client = match connected {
            Ok(Ok((client, connection))) => {
                runtime.spawn(async move {
                    let _ = connection.await;
                });
                client
            }
            Ok(Err(e)) => return absent(&url, &e.to_string()),
            Err(_) => return absent(&url, "no answer in 5 s"),
        };
        let schema = format!("e2e_{tag}_{}", std::process::id());
        let pg = Postgres {
            url,
            schema,
            runtime,
            client,
        };
        pg.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", pg.schema));
        Some(pg)
    }

    /// Runs statements.
    pub(crate) fn execute(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Rows of a query in the test's schema.
    pub(crate) fn rows(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let sql = format!("SET search_path TO {}; {sql}", self.schema);
        let (set, query) = sql.split_once("; ").unwrap();
        self.runtime.block_on(async {
            self.client.batch_execute(set).await.unwrap();
            self.client
                .query(query, &[])
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"))
        })
    }

    /// The single integer a query answers (`count(*)`, …); 0 when the
    /// schema's tables do not exist yet.
    pub(crate) fn number(&self, sql: &str) -> i64 {
        let sql_in = format!("SET search_path TO {}", self.schema);
        self.runtime.block_on(async {
            self.client.batch_execute(&sql_in).await.unwrap();
            match self.client.query_one(sql, &[]).await {
                Ok(row) => row.try_get::<_, i64>(0).unwrap_or(0),
                Err(_) => 0,
            }
        })
    }

    /// Waits until `sql` answers `want` (panics after `limit`).
    pub(crate) fn wait_for(&self, sql: &str, want: i64, limit: Duration) {
        let started = std::time::Instant::now();
        loop {
            let got = self.number(sql);
            if got == want {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "`{sql}` answered {got}, never {want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL with the host and port replaced (to go through a proxy).
    pub(crate) fn url_via(&self, address: std::net::SocketAddr) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let (auth, rest) = rest.rsplit_once('@').map_or(("", rest), |(a, r)| (a, r));
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("{auth}@")
        };
        format!("{scheme}://{auth}{address}{path}")
    }

    /// The server's address, from the URL.
    pub(crate) fn address(&self) -> std::net::SocketAddr {
        let rest = self.url.split_once("://").unwrap().1;
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let host_port = rest.split('/').next().unwrap();
        let host_port = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        };
        host_port.to_socket_addrs().unwrap().next().unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let _ = self.runtime.block_on(self.client.batch_execute(&sql));
    }
}

fn absent(url: &str, why: &str) -> Option<Postgres> {
    assert!(
        !required(),
        "PostgreSQL at {url} is required (PRISM_REQUIRE_SERVICES=1) but unreachable: {why}"
    );
    eprintln!("skipped: PostgreSQL at {url} is unreachable ({why}); set PRISM_TEST_POSTGRES_URL");
    None
}

/// A TCP proxy between Prism and a server that the test can cut (every
/// connection closed, new ones refused) and restore.
pub(crate) struct Proxy {
    pub(crate) address: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub(crate) fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    // Down: the connection is closed at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                {
                    let mut open = o.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { address, cut, open }
    }

    /// Closes every connection and refuses new ones until [`Self::restore`].
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Stream names and subject prefixes of one test on the machine's NATS
/// server (`PRISM_TEST_NATS_URL`): `E2E_<TAG>_<pid>` streams and
/// `e2e<tag><pid>` subjects, deleted (with the instrument ids) when the
/// test ends.
pub(crate) struct Nats {
    pub(crate) url: String,
    /// The market stream and its prefix; the output stream and its prefix.
    pub(crate) stream: String,
    pub(crate) prefix: String,
    pub(crate) output_stream: String,
    pub(crate) output_prefix: String,
    /// A cluster name of this test's own (its streams are deleted too).
    pub(crate) cluster: String,
    runtime: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
}

/// One message of a stream: its subject, id and payload.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) subject: String,
    pub(crate) id: String,
    pub(crate) payload: Vec<u8>,
}

impl Nats {
    /// Connects; `None` when the server is absent (skipped).
    pub(crate) fn connect(tag: &str) -> Option<Nats> {
        let url = std::env::var("PRISM_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.into());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let connected = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url.as_str())).await
        });
        let client = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return nats_absent(&url, &e.to_string()),
            Err(_) => return nats_absent(&url, "no answer in 5 s"),
        };
        let id = std::process::id();
        let js = {
            let _inside = runtime.enter();
            async_nats::jetstream::new(client)
        };
        let nats = Nats {
            stream: format!("E2E_{}_{id}", tag.to_uppercase()),
            prefix: format!("e2e{tag}{id}.market"),
            output_stream: format!("E2E_{}_OUT_{id}", tag.to_uppercase()),
            output_prefix: format!("e2e{tag}{id}.out"),
            cluster: format!("e2e{tag}{id}"),
            js,
            runtime,
            url,
        };
        nats.clean();
        Some(nats)
    }

    fn clean(&self) {
        self.runtime.block_on(async {
            let _ = self.js.delete_stream(&self.stream).await;
            let _ = self.js.delete_stream(&self.output_stream).await;
            let _ = self.js.delete_stream(format!("{}_IDS", self.stream)).await;
            let _ = self
                .js
                .delete_stream(format!("PRISM_CLUSTER_{}", self.cluster))
                .await;
            let _ = self
                .js
                .delete_stream(format!("PRISM_STATE_{}", self.cluster))
                .await;
            let _ = self
                .js
                .delete_stream(format!("OBJ_PRISM_CODE_{}", self.cluster))
                .await;
        });
    }

    /// The `[nats]` section for these names; `more` adds keys.
    pub(crate) fn section(&self, url: &str, more: &str) -> String {
        format!(
            "[nats]\nurl = \"{url}\"\nstream = \"{}\"\nsubject_prefix = \"{}\"\noutput_stream = \"{}\"\noutput_prefix = \"{}\"\n{more}\n",
            self.stream, self.prefix, self.output_stream, self.output_prefix
        )
    }

    /// Every message `stream` holds, in order.
    pub(crate) fn messages(&self, stream: &str) -> Vec<Stored> {
        use async_nats::jetstream::consumer::{DeliverPolicy, pull};
        use futures_util::StreamExt;
        self.runtime.block_on(async {
            let Ok(s) = self.js.get_stream(stream).await else {
                return Vec::new();
            };
            let consumer = s
                .create_consumer(pull::Config {
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                    ..Default::default()
                })
                .await
                .unwrap();
            let mut out = Vec::new();
            loop {
                let mut batch = consumer
                    .fetch()
                    .max_messages(1000)
                    .expires(Duration::from_millis(300))
                    .messages()
                    .await
                    .unwrap();
                let mut got = 0;
                while let Some(Ok(m)) = batch.next().await {
                    got += 1;
                    out.push(Stored {
                        subject: m.subject.to_string(),
                        id: m
                            .headers
                            .as_ref()
                            .and_then(|h| h.get("Nats-Msg-Id"))
                            .map(|v| v.as_str().to_owned())
                            .unwrap_or_default(),
                        payload: m.payload.to_vec(),
                    });
                }
                if got == 0 {
                    return out;
                }
            }
        })
    }

    /// Deletes the consumer `name` of `stream`, as an operator's mistake or
    /// a server losing its state would; false when there was none.
    pub(crate) fn delete_consumer(&self, stream: &str, name: &str) -> bool {
        self.runtime.block_on(async {
            match self.js.get_stream(stream).await {
                Ok(s) => s.delete_consumer(name).await.is_ok(),
                Err(_) => false,
            }
        })
    }

    /// How many messages `stream` holds.
    pub(crate) fn count(&self, stream: &str) -> u64 {
        self.runtime.block_on(async {
            match self.js.get_stream(stream).await {
                Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
                Err(_) => 0,
            }
        })
    }

    /// The server's address, from the URL.
    pub(crate) fn address(&self) -> std::net::SocketAddr {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        rest.to_socket_addrs().unwrap().next().unwrap()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.clean();
    }
}

fn nats_absent(url: &str, why: &str) -> Option<Nats> {
    assert!(
        !required(),
        "NATS at {url} is required (PRISM_REQUIRE_SERVICES=1) but unreachable: {why}"
    );
    eprintln!("skipped: NATS at {url} is unreachable ({why}); set PRISM_TEST_NATS_URL");
    None
}
