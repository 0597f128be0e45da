"""Run a plugin natively, as the host would, for unit tests: declare
instruments, push batches of events, read the outputs back.

    h = Harness(MyPlugin, '{"threshold": "1000"}')
    btc = h.instrument("binance", "BTCUSDT")
    out = h.push([h.trade(btc, 1, "37000", "0.1", Side.BUY)])
"""

from . import Context, Instruments, _events, _outputs, _types, msgpack, to_contract
from wit_world.imports.types import Instrument, MarketKind


class Harness:
    """A plugin and its instrument table."""

    def __init__(self, plugin_class, config: str = "{}"):
        self.plugin, self.info = plugin_class.init(config)
        self.instruments = Instruments()
        self._next_id = 0

    def instrument(self, exchange: str, symbol: str, base: str = None, quote: str = "USDT") -> int:
        """Declares an instrument (a perpetual of contract size 1) and returns its id."""
        for i in self.instruments:
            if (i.exchange, i.symbol) == (exchange, symbol):
                return i.id
        base = base or symbol.removesuffix(quote)
        instrument = Instrument(self._next_id, exchange, symbol, base, quote,
                                MarketKind.PERPETUAL, _types.Decimal(1, 0))
        self._next_id += 1
        self.instruments._declare(instrument)
        return instrument.id

    def push(self, events):
        """One batch through the plugin; its outputs (`Output_*` values)."""
        ctx = Context(self.instruments)
        for event in events:
            self.plugin.on_event(ctx, event)
        self.plugin.on_batch_end(ctx)
        return ctx._take()

    def snapshot(self) -> bytes:
        return self.plugin.snapshot()

    def restore(self, data: bytes) -> None:
        self.plugin.restore(data)

    def trade(self, instrument: int, ts: int, price: str, size: str, side):
        return _events.Trade(instrument, ts, ts, to_contract(price), to_contract(size), side, None, None)

    def liquidation(self, instrument: int, ts: int, price: str, size: str, position):
        return _events.Liquidation(instrument, ts, ts, to_contract(price), to_contract(size), position, None)

    def funding(self, instrument: int, ts: int, rate: str, interval_hours: int = 8, mark: str = None):
        return _events.Funding(instrument, ts, ts, to_contract(rate), interval_hours,
                               None if mark is None else to_contract(mark), None, None)

    def fill(self, client_id: str, instrument: int, ts: int, price: str, size: str, side, fee: str = "0"):
        return _events.Fill(client_id, instrument, ts, to_contract(price), to_contract(size), side,
                            to_contract(fee))


def body(output):
    """The decoded body of a document or log output."""
    value = output.value
    if isinstance(output, (_outputs.Output_Document, _outputs.Output_Log)):
        return msgpack.decode(value.body)
    raise TypeError(f"{type(output).__name__} has no body")
