//! A faster lowering of event batches into a plugin's memory.
//!
//! wasmtime 48's generic lowering looks the guest memory up again for every
//! primitive field it stores; for a trade that is about a dozen lookups.
//! [`WireEvent`] has the same canonical-ABI type as the contract's `event`
//! (its type check delegates to the generated one) but writes trades,
//! liquidations, funding, open interest, books and positions straight from
//! the model's events, at offsets computed from the ABI's own layout rules
//! (no contract values are built for them, nor their strings and levels
//! copied on the host). A run of such events with nothing to allocate is
//! written with one borrow of memory; an event with strings or lists (a
//! trade's accounts, a liquidation's or a position's account, a book's
//! levels) has each allocated in the guest first (one `realloc` each, as
//! the ABI requires, when the plugin takes UTF-8 strings), then its fixed
//! part written the same way. Candles, tickers, declarations, timers and
//! fills are converted to the contract's and take the generic path.
//! `tests/guests.rs` checks that a plugin sees the same events either way.

use crate::bindings::prism::plugin::{events as we, types as wt};
use prism_model::{self as m, decimal};
use std::mem::MaybeUninit;
use std::sync::LazyLock;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, ComponentVariant, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentType, Lower};

/// The contract's `event`, lowered faster: a model event of a kind with
/// no lists (trade, liquidation, funding, open interest, position) as it
/// is, any other as the contract's. Two words, whatever the event: a
/// batch's list of them is cheap to build (the contract's `event` is ten
/// times that).
pub(crate) enum WireEvent<'a> {
    Direct(&'a m::Event),
    Other(&'a we::Event),
}

/// Whether an event is written by this module rather than converted.
fn direct(e: &m::Event) -> bool {
    matches!(
        e,
        m::Event::Trade(_)
            | m::Event::Liquidation(_)
            | m::Event::Funding(_)
            | m::Event::OpenInterest(_)
            | m::Event::Book(_)
            | m::Event::Position(_)
    )
}

impl<'a> WireEvent<'a> {
    /// The wire form of `events`: the kinds this module writes as they
    /// are, every other event converted to the contract's into `others`
    /// (cleared first; kept by the caller so its space is reused from
    /// batch to batch).
    pub(crate) fn list(events: &'a [m::Event], others: &'a mut Vec<we::Event>) -> Vec<Self> {
        others.clear();
        others.extend(
            events
                .iter()
                .filter(|e| !direct(e))
                .map(crate::conversions::event_to_wit),
        );
        let mut others = others.iter();
        events
            .iter()
            .map(|e| {
                if direct(e) {
                    WireEvent::Direct(e)
                } else {
                    WireEvent::Other(
                        others
                            .next()
                            .expect("one converted event for each event not written directly"),
                    )
                }
            })
            .collect()
    }

    /// The contract's event (the generic lowering's input).
    fn generic(&self) -> std::borrow::Cow<'_, we::Event> {
        match self {
            WireEvent::Direct(e) => std::borrow::Cow::Owned(crate::conversions::event_to_wit(e)),
            WireEvent::Other(e) => std::borrow::Cow::Borrowed(*e),
        }
    }

    /// What the event holds outside its fixed part, in field order: each
    /// is allocated in the guest before the fixed part is written.
    fn parts(&self) -> [Option<Part<'a>>; 2] {
        match self {
            WireEvent::Direct(m::Event::Trade(t)) => [
                t.buyer.as_deref().map(Part::Text),
                t.seller.as_deref().map(Part::Text),
            ],
            WireEvent::Direct(m::Event::Liquidation(l)) => {
                [l.account.as_deref().map(Part::Text), None]
            }
            WireEvent::Direct(m::Event::Position(p)) => [Some(Part::Text(&p.account)), None],
            WireEvent::Direct(m::Event::Book(b)) => {
                [Some(Part::Levels(&b.bids)), Some(Part::Levels(&b.asks))]
            }
            _ => [None, None],
        }
    }
}

/// A string or a list of an event, which the guest allocates.
enum Part<'a> {
    Text(&'a str),
    Levels(&'a [m::Level]),
}

/// Byte offsets inside an `event`, from its start, of a case's fields
/// (in the contract's field order), and inside the types they are made of.
struct Layout {
    trade: [usize; 8],
    liquidation: [usize; 7],
    funding: [usize; 8],
    open_interest: [usize; 4],
    position: [usize; 8],
    book: [usize; 6],
    /// `price` and `size` inside a `level`, its size and alignment.
    level: [usize; 2],
    level_size: usize,
    level_align: u32,
    /// `mantissa` and `scale` inside a `decimal`.
    mantissa: usize,
    scale: usize,
    /// The payload of a `some` inside an `option<decimal>`, `option<s64>`,
    /// `option<string>`.
    some_decimal: usize,
    some_s64: usize,
    some_string: usize,
    /// The pointer and length inside a `string` or a `list`.
    ptr: usize,
    len: usize,
}

/// Case indexes in the `event` variant.
const TRADE_CASE: u8 = 1;
const LIQUIDATION_CASE: u8 = 2;
const FUNDING_CASE: u8 = 3;
const OPEN_INTEREST_CASE: u8 = 4;
const BOOK_CASE: u8 = 5;
const POSITION_CASE: u8 = 6;

/// Offsets of fields laid out one after another (the ABI's record rule),
/// from `start`.
fn fields<const N: usize>(start: usize, abi: [&CanonicalAbiInfo; N]) -> [usize; N] {
    let mut at = 0;
    abi.map(|a| start + a.next_field32_size(&mut at))
}

static LAYOUT: LazyLock<Layout> = LazyLock::new(|| {
    let u32_ = &<u32 as ComponentType>::ABI;
    let s64 = &<i64 as ComponentType>::ABI;
    let decimal = &<wt::Decimal as ComponentType>::ABI;
    let opt_decimal = &<Option<wt::Decimal> as ComponentType>::ABI;
    let opt_s64 = &<Option<i64> as ComponentType>::ABI;
    let string = &<String as ComponentType>::ABI;
    let opt_string = &<Option<String> as ComponentType>::ABI;
    let side = &<wt::Side as ComponentType>::ABI;
    let position_side = &<wt::PositionSide as ComponentType>::ABI;
    let boolean = &<bool as ComponentType>::ABI;
    let levels = &<Vec<we::Level> as ComponentType>::ABI;
    let payload = <we::Event as ComponentVariant>::PAYLOAD_OFFSET32;
    // An option is a one-byte case, then its payload at the payload's
    // alignment.
    let some = |abi: &CanonicalAbiInfo| fields(0, [&<u8 as ComponentType>::ABI, abi])[1];
    let [mantissa, scale] = fields(0, [s64, &<u8 as ComponentType>::ABI]);
    let [ptr, len] = fields(0, [u32_, u32_]);
    Layout {
        trade: fields(
            payload,
            [
                u32_, s64, s64, decimal, decimal, side, opt_string, opt_string,
            ],
        ),
        liquidation: fields(
            payload,
            [u32_, s64, s64, decimal, decimal, position_side, opt_string],
        ),
        funding: fields(
            payload,
            [
                u32_,
                s64,
                s64,
                decimal,
                u32_,
                opt_decimal,
                opt_decimal,
                opt_s64,
            ],
        ),
        open_interest: fields(payload, [u32_, s64, s64, decimal]),
        position: fields(
            payload,
            [
                u32_,
                s64,
                s64,
                string,
                decimal,
                decimal,
                opt_decimal,
                opt_decimal,
            ],
        ),
        book: fields(payload, [u32_, s64, s64, boolean, levels, levels]),
        level: fields(0, [decimal, decimal]),
        level_size: <we::Level as ComponentType>::SIZE32,
        level_align: <we::Level as ComponentType>::ALIGN32,
        mantissa,
        scale,
        some_decimal: some(decimal),
        some_s64: some(s64),
        some_string: some(string),
        ptr,
        len,
    }
});

/// Writes fields of one event at `base`: every write is inside the area
/// the list lowering reserved for it.
struct Slot<'m> {
    memory: &'m mut [u8],
    base: usize,
    layout: &'static Layout,
}

impl Slot<'_> {
    fn put<const N: usize>(&mut self, at: usize, bytes: [u8; N]) {
        let at = self.base + at;
        self.memory[at..at + N].copy_from_slice(&bytes);
    }

    fn byte(&mut self, at: usize, value: u8) {
        self.memory[self.base + at] = value;
    }

    /// The instrument and the two times every kind here starts with.
    fn head(
        &mut self,
        case: u8,
        at: &[usize],
        instrument: m::InstrumentId,
        ts: i64,
        received: i64,
    ) {
        self.byte(0, case);
        self.put(at[0], instrument.0.to_le_bytes());
        self.put(at[1], ts.to_le_bytes());
        self.put(at[2], received.to_le_bytes());
    }

    fn decimal(&mut self, at: usize, value: m::Decimal) {
        let (mantissa, scale) = decimal::to_parts(value);
        self.put(at + self.layout.mantissa, mantissa.to_le_bytes());
        self.byte(at + self.layout.scale, scale);
    }

    fn opt_decimal(&mut self, at: usize, value: Option<m::Decimal>) {
        // `none` is case 0; the payload of a `none` is never read.
        self.byte(at, u8::from(value.is_some()));
        if let Some(v) = value {
            self.decimal(at + self.layout.some_decimal, v);
        }
    }

    fn string(&mut self, at: usize, (ptr, len): (u32, u32)) {
        self.put(at + self.layout.ptr, ptr.to_le_bytes());
        self.put(at + self.layout.len, len.to_le_bytes());
    }

    fn opt_string(&mut self, at: usize, value: Option<(u32, u32)>) {
        self.byte(at, u8::from(value.is_some()));
        if let Some(s) = value {
            self.string(at + self.layout.some_string, s);
        }
    }

    /// Writes `e`, whose parts (in [`WireEvent::parts`]' order) are
    /// already in the guest at `parts` (pointer and length).
    fn event(&mut self, e: &m::Event, parts: [Option<(u32, u32)>; 2]) {
        let l = self.layout;
        match e {
            m::Event::Trade(t) => {
                let at = &l.trade;
                self.head(TRADE_CASE, at, t.instrument, t.ts, t.received_ts);
                self.decimal(at[3], t.price);
                self.decimal(at[4], t.size);
                self.byte(at[5], side(t.side));
                self.opt_string(at[6], parts[0]);
                self.opt_string(at[7], parts[1]);
            }
            m::Event::Liquidation(x) => {
                let at = &l.liquidation;
                self.head(LIQUIDATION_CASE, at, x.instrument, x.ts, x.received_ts);
                self.decimal(at[3], x.price);
                self.decimal(at[4], x.size);
                self.byte(at[5], position_side(x.position));
                self.opt_string(at[6], parts[0]);
            }
            m::Event::Funding(f) => {
                let at = &l.funding;
                self.head(FUNDING_CASE, at, f.instrument, f.ts, f.received_ts);
                self.decimal(at[3], f.rate);
                self.put(at[4], f.interval_hours.to_le_bytes());
                self.opt_decimal(at[5], f.mark_price);
                self.opt_decimal(at[6], f.index_price);
                self.byte(at[7], u8::from(f.next_funding_ts.is_some()));
                if let Some(next) = f.next_funding_ts {
                    self.put(at[7] + l.some_s64, next.to_le_bytes());
                }
            }
            m::Event::OpenInterest(o) => {
                let at = &l.open_interest;
                self.head(OPEN_INTEREST_CASE, at, o.instrument, o.ts, o.received_ts);
                self.decimal(at[3], o.open_interest);
            }
            m::Event::Book(b) => {
                let at = &l.book;
                self.head(BOOK_CASE, at, b.instrument, b.ts, b.received_ts);
                self.byte(at[3], u8::from(b.snapshot));
                // A book's lists are always there: `parts`.
                self.string(at[4], parts[0].unwrap_or((0, 0)));
                self.string(at[5], parts[1].unwrap_or((0, 0)));
            }
            m::Event::Position(p) => {
                let at = &l.position;
                self.head(POSITION_CASE, at, p.instrument, p.ts, p.received_ts);
                // A position's account is always there: `parts[0]`.
                self.string(at[3], parts[0].unwrap_or((0, 0)));
                self.decimal(at[4], p.size);
                self.decimal(at[5], p.entry_price);
                self.opt_decimal(at[6], p.liquidation_price);
                self.opt_decimal(at[7], p.leverage);
            }
            _ => unreachable!("only the kinds `direct` names are written here"),
        }
    }
}

fn side(s: m::Side) -> u8 {
    match s {
        m::Side::Buy => 0,
        m::Side::Sell => 1,
    }
}

fn position_side(s: m::PositionSide) -> u8 {
    match s {
        m::PositionSide::Long => 0,
        m::PositionSide::Short => 1,
    }
}

/// An event written here that has no parts: one of a run written
/// with one borrow of memory.
fn plain<'a>(e: &WireEvent<'a>) -> Option<&'a m::Event> {
    match e {
        WireEvent::Direct(d) if e.parts().iter().all(Option::is_none) => Some(*d),
        _ => None,
    }
}

/// Allocates a part in the guest and copies it there; its pointer and
/// length.
fn store_part<T>(
    cx: &mut LowerContext<'_, T>,
    part: Part<'_>,
    layout: &'static Layout,
) -> wasmtime::Result<(u32, u32)> {
    match part {
        Part::Text(text) => store_str(cx, text),
        Part::Levels(levels) => store_levels(cx, levels, layout),
    }
}

/// Copies book levels into a list the guest allocated for them (as the
/// generic lowering does: one `realloc`, even for an empty list); its
/// pointer and length.
fn store_levels<T>(
    cx: &mut LowerContext<'_, T>,
    levels: &[m::Level],
    layout: &'static Layout,
) -> wasmtime::Result<(u32, u32)> {
    let size = levels
        .len()
        .checked_mul(layout.level_size)
        .ok_or_else(|| wasmtime::format_err!("size overflow copying a list"))?;
    let ptr = cx.realloc(0, 0, layout.level_align, size)?;
    let memory = cx
        .as_slice_mut()
        .get_mut(ptr..ptr + size)
        .ok_or_else(|| wasmtime::format_err!("the guest allocated a list outside its memory"))?;
    for (i, level) in levels.iter().enumerate() {
        let mut slot = Slot {
            memory: &mut *memory,
            base: i * layout.level_size,
            layout,
        };
        slot.decimal(layout.level[0], level.price);
        slot.decimal(layout.level[1], level.size);
    }
    Ok((u32::try_from(ptr)?, u32::try_from(levels.len())?))
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
        let layout = &*LAYOUT;
        let utf8 = matches!(cx.options().string_encoding, StringEncoding::Utf8);
        let mut i = 0;
        while i < items.len() {
            let base = offset + i * Self::SIZE32;
            if plain(&items[i]).is_some() {
                // One borrow of memory for the whole run: nothing in it
                // allocates in the guest, so nothing moves its memory.
                let memory = cx.as_slice_mut();
                while let Some(e) = items.get(i).and_then(plain) {
                    let base = offset + i * Self::SIZE32;
                    Slot {
                        memory: &mut *memory,
                        base,
                        layout,
                    }
                    .event(e, [None, None]);
                    i += 1;
                }
            } else if let (true, WireEvent::Direct(e)) = (utf8, &items[i]) {
                // The parts first: the guest's allocator may grow memory.
                let [a, b] = items[i].parts();
                let a = a.map(|p| store_part(cx, p, layout)).transpose()?;
                let b = b.map(|p| store_part(cx, p, layout)).transpose()?;
                Slot {
                    memory: cx.as_slice_mut(),
                    base,
                    layout,
                }
                .event(e, [a, b]);
                i += 1;
            } else {
                items[i].generic().linear_lower_to_memory(cx, ty, base)?;
                i += 1;
            }
        }
        Ok(())
    }
}
