//! What a partition's instance published before it moved: read from the
//! output stream, where the instance's messages carry its partition.

use crate::outputs::{BATCH_OUTPUTS, BATCH_PREVIOUS, Delivered, PARTITION, position_in};
use crate::{NatsError, js_error};
use async_nats::jetstream::consumer::DeliverPolicy;

/// How far `plugin`'s instance for `partition` got in the output stream,
/// looking at the messages from sequence `from` on (where the state it
/// resumes from says its later outputs lie); `None` when none is there.
///
/// # Errors
/// When the stream cannot be read.
pub async fn delivered_since(
    nats: &crate::Nats,
    plugin: &str,
    partition: u32,
    from: u64,
) -> Result<Option<Delivered>, NatsError> {
    let settings = &nats.settings;
    let stream = nats
        .js
        .get_stream(settings.output_stream.as_str())
        .await
        .map_err(js_error)?;
    let filter = format!("{}.{}.>", settings.output_prefix, crate::token(plugin));
    let wanted = partition.to_string();
    let mut last: Option<(u64, u32, Option<u32>, Option<u64>)> = None;
    super::each(
        &stream,
        &filter,
        DeliverPolicy::ByStartSequence {
            start_sequence: from.max(1),
        },
        true,
        |m| {
            let Some(headers) = m.headers.as_ref() else {
                return;
            };
            let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
            if header(PARTITION).as_deref() != Some(wanted.as_str()) {
                return;
            }
            let Some((position, index)) = header("Nats-Msg-Id").as_deref().and_then(position_in)
            else {
                return;
            };
            if last.is_none_or(|(p, i, _, _)| (position, index) > (p, i)) {
                last = Some((
                    position,
                    index,
                    header(BATCH_OUTPUTS).and_then(|v| v.parse().ok()),
                    header(BATCH_PREVIOUS).and_then(|v| v.parse().ok()),
                ));
            }
        },
    )
    .await?;
    Ok(last.map(|(position, index, count, previous)| {
        Delivered::of_last(position, index, count, previous)
    }))
}
