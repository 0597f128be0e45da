//! The output publisher across a crash, against the machine's NATS server
//! (`PRISM_TEST_NATS_URL`, default `nats://127.0.0.1:4222`; skipped when
//! absent unless `PRISM_REQUIRE_SERVICES=1`): a batch the stream holds in
//! part is completed, not repeated; checkpoints are handed on only after
//! the outputs before them are in the stream.

use async_nats::HeaderMap;
use prism_model::{Checkpoint, Output, OutputBatch, OutputKind, SeriesPoint};
use prism_nats::{Delivered, Encoding, Nats, NatsSettings, output_subject};
use prism_sinks::Sink;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn settings() -> NatsSettings {
    let id = std::process::id();
    NatsSettings {
        url: std::env::var("PRISM_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        connect_timeout: Duration::from_secs(5),
        stream: format!("T_RESTART_{id}"),
        subject_prefix: format!("trestart{id}.market"),
        max_age: Duration::from_secs(600),
        replicas: 1,
        duplicate_window: Duration::from_secs(120),
        output_stream: format!("T_RESTART_OUT_{id}"),
        output_prefix: format!("trestart{id}.out"),
        collector: "t".into(),
        collect: Vec::new(),
        encoding: Encoding::Json,
        in_flight: 64,
        spool: None,
    }
}

fn point(v: f64) -> Output {
    Output::Series(SeriesPoint {
        name: "x".into(),
        instrument: None,
        ts: 1,
        value: v,
    })
}

fn batch(position: u64, previous: Option<u64>, n: usize) -> OutputBatch {
    OutputBatch {
        plugin: "p".into(),
        position,
        previous,
        outputs: (0..n).map(|i| point(i as f64)).collect(),
    }
}

#[test]
fn a_batch_cut_by_a_crash_is_completed_and_checkpoints_wait_for_their_outputs() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = settings();
    let nats = match runtime.block_on(Nats::connect(s.clone(), false, true)) {
        Ok(n) => n,
        Err(e) => {
            assert!(
                std::env::var("PRISM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "NATS is required: {e}"
            );
            eprintln!(
                "skipped: NATS at {} is unreachable ({e}); set PRISM_TEST_NATS_URL",
                s.url
            );
            return;
        }
    };
    let client = runtime
        .block_on(async_nats::connect(s.url.as_str()))
        .unwrap();
    let js = {
        let _in = runtime.enter();
        async_nats::jetstream::new(client)
    };
    // A first run: batch 10 whole, then batch 20 (3 outputs) cut after its
    // second output by a crash, as the server would have them.
    {
        let mut first = nats.outputs(None).unwrap();
        first.write(&batch(10, None, 2)).unwrap();
        first.finish().unwrap();
    }
    let subject = output_subject(&s.output_prefix, "p", OutputKind::Series);
    runtime.block_on(async {
        for index in 0..2 {
            let mut h = HeaderMap::new();
            h.insert("Nats-Msg-Id", format!("p:20:{index}").as_str());
            h.insert("Prism-Batch-Outputs", "3");
            h.insert("Prism-Batch-Previous", "10");
            let payload = format!(r#"{{"id":"p:20:{index}","crashed":true}}"#);
            js.publish_with_headers(subject.clone(), h, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
    assert_eq!(
        runtime.block_on(nats.delivered_until("p")).unwrap(),
        Some(Delivered {
            position: 20,
            partial: Some((Some(10), 1)),
        })
    );

    // The restarted run makes batches 10 and 20 again, then 30, with a
    // checkpoint after each.
    let seen: Arc<Mutex<Vec<Option<u64>>>> = Arc::default();
    let hook_seen = seen.clone();
    let mut again = nats
        .outputs(Some(Box::new(move |c: &Checkpoint, _| {
            hook_seen.lock().unwrap().push(c.position);
        })))
        .unwrap();
    let checkpoint = |position| Checkpoint {
        plugin: "p".into(),
        position: Some(position),
        version: "v".into(),
        state: Arc::from(vec![1u8]),
        instruments: Vec::new(),
        account: None,
        last: false,
    };
    for (b, c) in [
        (batch(10, None, 2), 10),
        (batch(20, Some(10), 3), 20),
        (batch(30, Some(20), 1), 30),
    ] {
        again.write(&b).unwrap();
        again.checkpoint(&checkpoint(c)).unwrap();
    }
    again.idle().unwrap();
    // Each handed on once the stream had its outputs; one still waiting
    // when a newer came is superseded by it (the newest is what a restart
    // needs): the last is always there.
    let handed = seen.lock().unwrap().clone();
    assert_eq!(handed.last(), Some(&Some(30)), "{handed:?}");
    assert!(handed.windows(2).all(|w| w[0] < w[1]), "{handed:?}");
    assert!(
        handed
            .iter()
            .all(|p| [Some(10), Some(20), Some(30)].contains(p)),
        "{handed:?}"
    );
    again.finish().unwrap();

    // The stream has each output once: what the crash cut is completed.
    let ids: Vec<String> = runtime.block_on(async {
        use futures_util::StreamExt;
        let stream = js.get_stream(s.output_stream.as_str()).await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        let mut ids = Vec::new();
        while let Some(Ok(m)) = messages.next().await {
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            ids.push(id);
        }
        ids
    });
    assert_eq!(
        ids,
        ["p:10:0", "p:10:1", "p:20:0", "p:20:1", "p:20:2", "p:30:0"]
    );
    runtime.block_on(async {
        let _ = js.delete_stream(s.output_stream.as_str()).await;
    });
}
