"""Write Prism plugins in Python.

Subclass `Plugin`, and in your app module write `WitWorld = export(MyPlugin)`;
build with `componentize-py` (see the plugin guide); test the same logic
natively with `prism_sdk.testing.Harness`. It mirrors the Rust SDK:

- `Plugin.init(config)` (a classmethod) returns `(plugin, info(...))` or
  raises `ValueError` to refuse the config;
- `on_event(ctx, event)` gets each event of a batch (the records `Trade`,
  `Liquidation`, `Funding`, … themselves), `on_batch_end(ctx)` the end of
  the batch; outputs go through `ctx`;
- `snapshot()` / `restore(data)` carry state across swaps and restarts
  (`encode_state` / `decode_state`: JSON, decimals exact).

Prices, sizes and rates are exact: `dec(event.price)` is a
`decimal.Decimal`, and `ctx.order` takes Decimals. Floats only in series.
"""

import decimal
import json

from . import _bindings
from . import msgpack

_bindings.ensure()

import wit_world  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from wit_world import PluginInfo, Subscription  # noqa: E402
from wit_world.imports import events as _events  # noqa: E402
from wit_world.imports import host as _host  # noqa: E402
from wit_world.imports import outputs as _outputs  # noqa: E402
from wit_world.imports import types as _types  # noqa: E402
from wit_world.imports.events import (  # noqa: E402,F401
    Book,
    Candle,
    EventKind,
    Fill,
    Funding,
    Level,
    Liquidation,
    OpenInterest,
    Position,
    Ticker,
    Timer,
    Trade,
)
from wit_world.imports.outputs import Direction, Priority, Strength  # noqa: E402,F401
from wit_world.imports.types import Instrument, MarketKind, PositionSide, Side  # noqa: E402,F401

# Exact arithmetic on 64-bit mantissas times each other never rounds.
decimal.getcontext().prec = 60

MAX_SCALE = 28


def dec(value: "_types.Decimal") -> decimal.Decimal:
    """A contract decimal as an exact `decimal.Decimal`."""
    return decimal.Decimal(value.mantissa).scaleb(-value.scale)


def to_contract(value) -> "_types.Decimal":
    """An exact decimal (a `Decimal`, an int or decimal text) as the
    contract's `{mantissa, scale}`.

    Raises `ValueError` when it does not fit (a mantissa past 64 bits or
    more than 28 decimal places)."""
    d = decimal.Decimal(value) if not isinstance(value, decimal.Decimal) else value
    if not d.is_finite():
        raise ValueError(f"{d} is not a finite decimal")
    sign, digits, exponent = d.as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    if exponent > 0:
        mantissa *= 10**exponent
        exponent = 0
    scale = -exponent
    if scale > MAX_SCALE:
        raise ValueError(f"{d} has more than {MAX_SCALE} decimal places")
    mantissa = -mantissa if sign else mantissa
    if not -(2**63) <= mantissa < 2**63:
        raise ValueError(f"{d} does not fit a 64-bit mantissa")
    return _types.Decimal(mantissa, scale)


def info(name: str, version: str, kinds=(), exchanges=(), symbols=(), timer_interval_ms=None):
    """Who the plugin is and what it subscribes to (empty: everything)."""
    return PluginInfo(
        name,
        version,
        Subscription(list(kinds), list(exchanges), list(symbols), timer_interval_ms),
    )


def encode_state(state) -> bytes:
    """A plugin's state as bytes (JSON; Decimals as exact text)."""
    return json.dumps(state, default=_decimal_text, sort_keys=True).encode()


def decode_state(data: bytes, plugin: str):
    """State written by `encode_state` (with Decimals as text: convert the
    fields you keep as Decimals back with `decimal.Decimal`).

    Raises `ValueError` naming the plugin when the bytes are not its state."""
    try:
        return json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{plugin} state: {e}") from e


def _decimal_text(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"state cannot hold {type(value).__name__}")


def log(level: str, message: str) -> None:
    """A line in the host's log, tagged with the plugin id (`trace`,
    `debug`, `info`, `warn`, `error`)."""
    try:
        _host.log(_host.LogLevel[level.upper()], message)
    except NotImplementedError:
        print(f"[{level}] {message}")


class Instruments:
    """The instrument table the host declared, by id."""

    def __init__(self):
        self._by_id = {}

    def get(self, instrument_id: int):
        """The instrument of `instrument_id`, or None."""
        return self._by_id.get(instrument_id)

    def __iter__(self):
        return iter(self._by_id.values())

    def _declare(self, instrument) -> None:
        self._by_id[instrument.id] = instrument


class Context:
    """What a plugin is told (the instruments) and where its outputs go."""

    def __init__(self, instruments: Instruments):
        self.instruments = instruments
        self._outputs = []

    def _take(self):
        out, self._outputs = self._outputs, []
        return out

    def series(self, name: str, instrument, ts: int, value: float) -> None:
        """A point of the named series (per instrument, or None)."""
        self._outputs.append(
            _outputs.Output_Series(_outputs.SeriesPoint(name, instrument, ts, float(value)))
        )

    def document(self, key: str, ts: int, body) -> None:
        """The latest value under `key`; `body` (dicts, lists, text, numbers,
        Decimals) is sent as MessagePack."""
        self._outputs.append(
            _outputs.Output_Document(_outputs.Document(key, ts, msgpack.encode(body)))
        )

    def log(self, name: str, instrument, ts: int, body) -> None:
        """An append-only record; `body` as for `document`."""
        self._outputs.append(
            _outputs.Output_Log(_outputs.LogEntry(name, instrument, ts, msgpack.encode(body)))
        )

    def signal(self, instrument: int, ts: int, direction, strength, reason: str) -> None:
        """A graded signal about one instrument."""
        self._outputs.append(
            _outputs.Output_Signal(_outputs.Signal(instrument, ts, direction, strength, reason))
        )

    def order(self, client_id: str, instrument: int, ts: int, side, size,
              limit_price=None, reduce_only: bool = False) -> None:
        """An order intent for the paper executor (sizes and prices exact)."""
        limit = None if limit_price is None else to_contract(limit_price)
        self._outputs.append(
            _outputs.Output_Order(
                _outputs.OrderIntent(
                    client_id, instrument, ts, side, to_contract(size), limit, reduce_only
                )
            )
        )

    def alert(self, priority, ts: int, title: str, body: str) -> None:
        """A message for a human."""
        self._outputs.append(_outputs.Output_Alert(_outputs.Alert(priority, ts, title, body)))


class Plugin:
    """A plugin's logic. One object lives in the plugin between calls."""

    @classmethod
    def init(cls, config: str):
        """Builds the plugin from the operator's config (JSON text, `{}`
        when none); returns `(plugin, info(...))`. Raise `ValueError` with
        a message for the operator to refuse the config."""
        raise NotImplementedError

    def on_event(self, ctx: Context, event) -> None:
        """Handles one event (instrument declarations are taken by the SDK
        and show in `ctx.instruments`). Raise to fail the batch."""

    def on_batch_end(self, ctx: Context) -> None:
        """Called after the last event of each batch."""

    def snapshot(self) -> bytes:
        """The state to carry across a swap or a restart."""
        return b""

    def restore(self, data: bytes) -> None:
        """Takes state written by `snapshot` (of this or an earlier version)."""


def _unwrap(event):
    return event.value


class _Adapter:
    """Runs a `Plugin` behind the contract's exports."""

    def __init__(self, plugin_class):
        self.plugin_class = plugin_class
        self.plugin = None
        self.instruments = Instruments()

    def init(self, config: str):
        try:
            self.plugin, plugin_info = self.plugin_class.init(config)
        except (ValueError, KeyError, TypeError) as e:
            raise Err(str(e)) from None
        return plugin_info

    def on_events(self, batch):
        ctx = Context(self.instruments)
        try:
            for event in batch:
                if isinstance(event, _events.Event_Instrument):
                    self.instruments._declare(event.value)
                    continue
                self.plugin.on_event(ctx, _unwrap(event))
            self.plugin.on_batch_end(ctx)
        except Err:
            raise
        except Exception as e:  # the plugin's failure on this batch, with its kind
            raise Err(f"{type(e).__name__}: {e}") from None
        return ctx._take()

    def snapshot(self) -> bytes:
        return self.plugin.snapshot()

    def restore(self, state: bytes) -> None:
        try:
            self.plugin.restore(state)
        except (ValueError, KeyError, TypeError) as e:
            raise Err(str(e)) from None


def export(plugin_class):
    """The class componentize-py exports: in the app module,
    `WitWorld = prism_sdk.export(MyPlugin)`."""

    class Exported(wit_world.WitWorld):
        _adapter = None

        def _get(self):
            if Exported._adapter is None:
                Exported._adapter = _Adapter(plugin_class)
            return Exported._adapter

        def init(self, config: str):
            return self._get().init(config)

        def on_events(self, events):
            return self._get().on_events(events)

        def snapshot(self) -> bytes:
            return self._get().snapshot()

        def restore(self, state: bytes) -> None:
            return self._get().restore(state)

    return Exported
