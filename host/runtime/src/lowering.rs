//! A faster lowering of event batches into a plugin's memory.
//!
//! wasmtime 48's generic lowering looks the guest memory up again for every
//! primitive field it stores; for a trade that is about a dozen lookups.
//! [`WireEvent`] has the same canonical-ABI type as the contract's `event`
//! (its type check delegates to the generated one) but writes runs of
//! trades with one borrow of memory, at offsets computed from the ABI's own
//! layout rules, straight from the model's trades (no contract values are
//! built for them, nor their account strings copied). A trade that carries
//! account strings has them allocated in the guest first (one `realloc`
//! each, as the ABI requires, when the plugin takes UTF-8 strings), then
//! its fixed part written the same way. Every other event is converted to
//! the contract's and takes the generic path. `tests/guests.rs` checks that
//! a plugin sees the same events either way.

use crate::bindings::prism::plugin::{events as we, types as wt};
use prism_model::{self as m, decimal};
use std::mem::MaybeUninit;
use std::sync::LazyLock;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, ComponentVariant, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentType, Lower};

/// The contract's `event`, lowered faster: a model trade as it is, any
/// other event as the contract's. Two words, whatever the event: a batch's
/// list of them is cheap to build (the contract's `event` is ten times
/// that).
pub(crate) enum WireEvent<'a> {
    Trade(&'a m::Trade),
    Other(&'a we::Event),
}

impl<'a> WireEvent<'a> {
    /// The wire form of `events`: trades as they are, every other event
    /// converted to the contract's into `others` (cleared first; kept by
    /// the caller so its space is reused from batch to batch).
    pub(crate) fn list(events: &'a [m::Event], others: &'a mut Vec<we::Event>) -> Vec<Self> {
        others.clear();
        others.extend(
            events
                .iter()
                .filter(|e| !matches!(e, m::Event::Trade(_)))
                .map(crate::conversions::event_to_wit),
        );
        let mut others = others.iter();
        events
            .iter()
            .map(|e| match e {
                m::Event::Trade(t) => WireEvent::Trade(t),
                _ => WireEvent::Other(
                    others
                        .next()
                        .expect("one converted event for each event that is not a trade"),
                ),
            })
            .collect()
    }

    /// The contract's event (the generic lowering's input).
    fn generic(&self) -> std::borrow::Cow<'_, we::Event> {
        match self {
            WireEvent::Trade(t) => std::borrow::Cow::Owned(crate::conversions::event_to_wit(
                &m::Event::Trade((*t).clone()),
            )),
            WireEvent::Other(e) => std::borrow::Cow::Borrowed(*e),
        }
    }
}

/// Byte offsets of a trade inside an `event` (from its start).
struct TradeLayout {
    instrument: usize,
    ts: usize,
    received_ts: usize,
    price: usize,
    size: usize,
    side: usize,
    buyer: usize,
    seller: usize,
    /// Offsets of `mantissa` and `scale` inside a `decimal`.
    mantissa: usize,
    scale: usize,
    /// Offsets of a `some` string's pointer and length inside an
    /// `option<string>`.
    some_ptr: usize,
    some_len: usize,
}

/// Case index of `trade` in the `event` variant.
const TRADE_CASE: u8 = 1;

static TRADE: LazyLock<TradeLayout> = LazyLock::new(|| {
    let field = |abi: CanonicalAbiInfo, at: &mut usize| abi.next_field32_size(at);
    let mut at = 0;
    let instrument = field(<u32 as ComponentType>::ABI, &mut at);
    let ts = field(<i64 as ComponentType>::ABI, &mut at);
    let received_ts = field(<i64 as ComponentType>::ABI, &mut at);
    let price = field(<wt::Decimal as ComponentType>::ABI, &mut at);
    let size = field(<wt::Decimal as ComponentType>::ABI, &mut at);
    let side = field(<wt::Side as ComponentType>::ABI, &mut at);
    let buyer = field(<Option<String> as ComponentType>::ABI, &mut at);
    let seller = field(<Option<String> as ComponentType>::ABI, &mut at);
    let mut d = 0;
    let mantissa = field(<i64 as ComponentType>::ABI, &mut d);
    let scale = field(<u8 as ComponentType>::ABI, &mut d);
    // An option is a one-byte case, then its payload at the payload's
    // alignment; a string is a pointer and a length.
    let mut o = 1;
    let string = field(<String as ComponentType>::ABI, &mut o);
    let mut s = 0;
    let some_ptr = string + field(<u32 as ComponentType>::ABI, &mut s);
    let some_len = string + field(<u32 as ComponentType>::ABI, &mut s);
    let payload = <we::Event as ComponentVariant>::PAYLOAD_OFFSET32;
    TradeLayout {
        instrument: payload + instrument,
        ts: payload + ts,
        received_ts: payload + received_ts,
        price: payload + price,
        size: payload + size,
        side: payload + side,
        buyer: payload + buyer,
        seller: payload + seller,
        mantissa,
        scale,
        some_ptr,
        some_len,
    }
});

fn put<const N: usize>(memory: &mut [u8], at: usize, bytes: [u8; N]) {
    memory[at..at + N].copy_from_slice(&bytes);
}

fn plain_trade<'a>(e: &WireEvent<'a>) -> Option<&'a m::Trade> {
    match e {
        WireEvent::Trade(t) if t.buyer.is_none() && t.seller.is_none() => Some(t),
        _ => None,
    }
}

/// Copies a string into memory the guest allocated for it (the canonical
/// ABI's UTF-8 to UTF-8 copy); its pointer and length.
fn store_str<T>(cx: &mut LowerContext<'_, T>, text: &str) -> wasmtime::Result<(u32, u32)> {
    let len = u32::try_from(text.len())
        .ok()
        .filter(|&l| l <= i32::MAX as u32)
        .ok_or_else(|| {
            wasmtime::format_err!("a string of {} bytes is too large for wasm", text.len())
        })?;
    let ptr = cx.realloc(0, 0, 1, text.len())?;
    cx.as_slice_mut()
        .get_mut(ptr..ptr + text.len())
        .ok_or_else(|| wasmtime::format_err!("the guest allocated a string outside its memory"))?
        .copy_from_slice(text.as_bytes());
    Ok((u32::try_from(ptr)?, len))
}

fn write_trade(memory: &mut [u8], base: usize, t: &m::Trade, l: &TradeLayout) {
    memory[base] = TRADE_CASE;
    put(memory, base + l.instrument, t.instrument.0.to_le_bytes());
    put(memory, base + l.ts, t.ts.to_le_bytes());
    put(memory, base + l.received_ts, t.received_ts.to_le_bytes());
    for (at, value) in [(l.price, t.price), (l.size, t.size)] {
        let (mantissa, scale) = decimal::to_parts(value);
        put(memory, base + at + l.mantissa, mantissa.to_le_bytes());
        memory[base + at + l.scale] = scale;
    }
    memory[base + l.side] = match t.side {
        m::Side::Buy => 0,
        m::Side::Sell => 1,
    };
    // `none` is discriminant 0; the payload of a `none` is never read.
    memory[base + l.buyer] = 0;
    memory[base + l.seller] = 0;
}

// SAFETY: the canonical-ABI description (`Lower`, `ABI`, `typecheck`) is
// exactly that of the generated `we::Event`, which this stands for.
unsafe impl ComponentType for WireEvent<'_> {
    type Lower = <we::Event as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <we::Event as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <we::Event as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: writes the same bytes as the generated lowering (checked by the
// runtime's tests) and only inside the area the list lowering reserved.
unsafe impl Lower for WireEvent<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        self.generic().linear_lower_to_flat(cx, ty, dst)
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        self.generic().linear_lower_to_memory(cx, ty, offset)
    }

    fn linear_store_list_to_memory<T>(
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
        items: &[Self],
    ) -> wasmtime::Result<()> {
        let layout = &*TRADE;
        let utf8 = matches!(cx.options().string_encoding, StringEncoding::Utf8);
        let mut i = 0;
        while i < items.len() {
            let base = offset + i * Self::SIZE32;
            if plain_trade(&items[i]).is_some() {
                // One borrow of memory for the whole run: nothing in it reallocates.
                let memory = cx.as_slice_mut();
                while let Some(t) = items.get(i).and_then(plain_trade) {
                    write_trade(memory, offset + i * Self::SIZE32, t, layout);
                    i += 1;
                }
            } else if let (true, WireEvent::Trade(t)) = (utf8, &items[i]) {
                // The strings first: the guest's allocator may grow memory.
                let buyer = t.buyer.as_deref().map(|s| store_str(cx, s)).transpose()?;
                let seller = t.seller.as_deref().map(|s| store_str(cx, s)).transpose()?;
                let memory = cx.as_slice_mut();
                write_trade(memory, base, t, layout);
                for (at, string) in [(layout.buyer, buyer), (layout.seller, seller)] {
                    if let Some((ptr, len)) = string {
                        memory[base + at] = 1;
                        put(memory, base + at + layout.some_ptr, ptr.to_le_bytes());
                        put(memory, base + at + layout.some_len, len.to_le_bytes());
                    }
                }
                i += 1;
            } else {
                items[i].generic().linear_lower_to_memory(cx, ty, base)?;
                i += 1;
            }
        }
        Ok(())
    }
}
