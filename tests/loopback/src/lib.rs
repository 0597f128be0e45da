//! A loopback exchange for tests of live feeds. Each WebSocket connection
//! plays the next script; every client message is recorded; REST paths
//! answer queued bodies. Disconnects and sequence gaps are just steps of
//! a script.

mod recorder;

pub use recorder::{Answer, Recorded, Recorder};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One step of a connection's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send this text frame.
    Send(String),
    /// Wait until a client message containing this text has arrived on
    /// this connection (at most 10 s).
    Expect(String),
    /// Wait.
    Sleep(Duration),
    /// Drop the connection without a close frame.
    Drop,
}

#[derive(Default)]
struct Shared {
    scripts: Mutex<VecDeque<Vec<Step>>>,
    received: Mutex<Vec<(usize, String)>>,
    replies: Mutex<Vec<(String, String)>>,
    rest: Mutex<HashMap<String, VecDeque<String>>>,
    rest_calls: Mutex<Vec<String>>,
    connections: AtomicUsize,
}

/// Serves `app` on a loopback port from a thread of its own (with its own
/// runtime, so a test needs none); returns the address once it listens.
///
/// # Panics
/// When no loopback port can be bound (the test cannot run).
pub(crate) fn serve(app: Router) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            tx.send(listener.local_addr().expect("an address"))
                .expect("the test waits");
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv().expect("the loopback server started")
}

/// A running loopback exchange; it stops with the process.
pub struct Loopback {
    /// `ws://127.0.0.1:PORT/ws`
    pub ws_url: String,
    /// `http://127.0.0.1:PORT`
    pub rest_url: String,
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Loopback {
    /// Starts serving; `scripts[i]` is played to the i-th connection.
    ///
    /// # Panics
    /// When no loopback port can be bound (the test cannot run).
    #[must_use]
    pub fn start(scripts: Vec<Vec<Step>>) -> Loopback {
        let shared = Arc::new(Shared::default());
        *lock(&shared.scripts) = scripts.into();
        let addr = serve(
            Router::new()
                .route("/ws", get(upgrade))
                .fallback(rest)
                .with_state(shared.clone()),
        );
        Loopback {
            ws_url: format!("ws://{addr}/ws"),
            rest_url: format!("http://{addr}"),
            shared,
        }
    }

    /// Answers `reply` to every client message containing `trigger`.
    pub fn reply(&self, trigger: &str, reply: &str) {
        lock(&self.shared.replies).push((trigger.to_owned(), reply.to_owned()));
    }

    /// Queues bodies for a REST path with its query (`/fapi/v1/depth?symbol=X&limit=1000`);
    /// the last one keeps answering.
    pub fn rest(&self, path_and_query: &str, bodies: Vec<String>) {
        lock(&self.shared.rest).insert(path_and_query.to_owned(), bodies.into());
    }

    /// Client messages so far, with the connection (from 0) each came on.
    #[must_use]
    pub fn received(&self) -> Vec<(usize, String)> {
        lock(&self.shared.received).clone()
    }

    /// REST calls so far.
    #[must_use]
    pub fn rest_calls(&self) -> Vec<String> {
        lock(&self.shared.rest_calls).clone()
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

async fn rest(State(s): State<Arc<Shared>>, uri: Uri, RawQuery(query): RawQuery) -> Response {
    let key = match query {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_owned(),
    };
    lock(&s.rest_calls).push(key.clone());
    let mut rest = lock(&s.rest);
    match rest.get_mut(&key) {
        Some(bodies) if !bodies.is_empty() => {
            let body = if bodies.len() > 1 {
                bodies.pop_front()
            } else {
                bodies.front().cloned()
            };
            (
                [("content-type", "application/json")],
                body.unwrap_or_default(),
            )
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, format!("no answer for {key}")).into_response(),
    }
}

async fn upgrade(State(s): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| connection(socket, s))
}

async fn connection(socket: WebSocket, s: Arc<Shared>) {
    let index = s.connections.fetch_add(1, Ordering::SeqCst);
    let script = lock(&s.scripts).pop_front().unwrap_or_default();
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader_state = s.clone();
    let replies = out_tx.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let text = text.to_string();
            let answers: Vec<String> = lock(&reader_state.replies)
                .iter()
                .filter(|(trigger, _)| text.contains(trigger.as_str()))
                .map(|(_, reply)| reply.clone())
                .collect();
            lock(&reader_state.received).push((index, text));
            for a in answers {
                let _ = replies.send(a);
            }
        }
    });
    for step in script {
        // Replies go out between steps.
        while let Ok(reply) = out_rx.try_recv() {
            let _ = sink.send(Message::Text(reply.into())).await;
        }
        match step {
            Step::Send(text) => {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    reader.abort();
                    return;
                }
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::Expect(wanted) => {
                let started = Instant::now();
                while !lock(&s.received)
                    .iter()
                    .any(|(c, t)| *c == index && t.contains(wanted.as_str()))
                {
                    if started.elapsed() > Duration::from_secs(10) {
                        break;
                    }
                    while let Ok(reply) = out_rx.try_recv() {
                        let _ = sink.send(Message::Text(reply.into())).await;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Step::Drop => {
                reader.abort();
                return;
            }
        }
    }
    // The script is over: keep answering until the client leaves.
    drop(out_tx);
    while let Some(reply) = out_rx.recv().await {
        if sink.send(Message::Text(reply.into())).await.is_err() {
            break;
        }
    }
}
