//! A faster lowering of event batches into a plugin's memory.
//!
//! wasmtime 48's generic lowering looks the guest memory up again for every
//! primitive field it stores; for a trade that is about a dozen lookups.
//! [`WireEvent`] has the same canonical-ABI type as the contract's `event`
//! (its type check delegates to the generated one) but writes runs of
//! trades with one borrow of memory, at offsets computed from the ABI's own
//! layout rules. Every other event, and trades that carry account strings,
//! take the generic path. `tests/guests.rs` checks that a plugin sees the
//! same events either way.

use crate::bindings::prism::plugin::{events as we, types as wt};
use std::mem::MaybeUninit;
use std::sync::LazyLock;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, ComponentVariant, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentType, Lower};

/// The contract's `event`, lowered faster. `repr(transparent)`: a slice of
/// events can be viewed as a slice of these.
#[repr(transparent)]
pub(crate) struct WireEvent(pub(crate) we::Event);

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
    }
});

fn put<const N: usize>(memory: &mut [u8], at: usize, bytes: [u8; N]) {
    memory[at..at + N].copy_from_slice(&bytes);
}

fn plain_trade(e: &WireEvent) -> Option<&we::Trade> {
    match &e.0 {
        we::Event::Trade(t) if t.buyer.is_none() && t.seller.is_none() => Some(t),
        _ => None,
    }
}

fn write_trade(memory: &mut [u8], base: usize, t: &we::Trade, l: &TradeLayout) {
    memory[base] = TRADE_CASE;
    put(memory, base + l.instrument, t.instrument.to_le_bytes());
    put(memory, base + l.ts, t.ts.to_le_bytes());
    put(memory, base + l.received_ts, t.received_ts.to_le_bytes());
    put(
        memory,
        base + l.price + l.mantissa,
        t.price.mantissa.to_le_bytes(),
    );
    memory[base + l.price + l.scale] = t.price.scale;
    put(
        memory,
        base + l.size + l.mantissa,
        t.size.mantissa.to_le_bytes(),
    );
    memory[base + l.size + l.scale] = t.size.scale;
    memory[base + l.side] = match t.side {
        wt::Side::Buy => 0,
        wt::Side::Sell => 1,
    };
    // `none` is discriminant 0; the payload of a `none` is never read.
    memory[base + l.buyer] = 0;
    memory[base + l.seller] = 0;
}

// SAFETY: the canonical-ABI description (`Lower`, `ABI`, `typecheck`) is
// exactly that of the generated `we::Event`, which this wraps.
unsafe impl ComponentType for WireEvent {
    type Lower = <we::Event as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <we::Event as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <we::Event as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: writes the same bytes as the generated lowering (checked by the
// runtime's tests) and only inside the area the list lowering reserved.
unsafe impl Lower for WireEvent {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        self.0.linear_lower_to_flat(cx, ty, dst)
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        self.0.linear_lower_to_memory(cx, ty, offset)
    }

    fn linear_store_list_to_memory<T>(
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
        items: &[Self],
    ) -> wasmtime::Result<()> {
        let layout = &*TRADE;
        let mut i = 0;
        while i < items.len() {
            if plain_trade(&items[i]).is_some() {
                // One borrow of memory for the whole run: nothing in it reallocates.
                let memory = cx.as_slice_mut();
                while let Some(t) = items.get(i).and_then(plain_trade) {
                    write_trade(memory, offset + i * Self::SIZE32, t, layout);
                    i += 1;
                }
            } else {
                items[i].linear_lower_to_memory(cx, ty, offset + i * Self::SIZE32)?;
                i += 1;
            }
        }
        Ok(())
    }
}
