"""A volume-weighted average price per instrument over its last `window`
trades, as the series `vwap` after every trade. Sums are exact decimals;
only the published point is a float.

Config: {"window": 20} (trades, 1 to 10000).
"""

import collections
import decimal
import json

import prism_sdk
from prism_sdk import EventKind, Trade

NAME = "template-series"
VERSION = "0.1.0"


class Window:
    """One instrument's last trades (price, size) and their sums."""

    def __init__(self):
        self.trades = collections.deque()
        self.notional = decimal.Decimal(0)
        self.size = decimal.Decimal(0)

    def push(self, price, size, limit):
        """Takes a trade, forgets the oldest past `limit`; the VWAP after it."""
        self.trades.append((price, size))
        self.notional += price * size
        self.size += size
        while len(self.trades) > limit:
            p, s = self.trades.popleft()
            self.notional -= p * s
            self.size -= s
        return self.notional / self.size if self.size > 0 else None


class Vwap(prism_sdk.Plugin):
    def __init__(self, window):
        self.window = window
        self.windows = {}

    @classmethod
    def init(cls, config):
        fields = json.loads(config)
        unknown = set(fields) - {"window"}
        if unknown:
            raise ValueError(f"config: unknown field `{sorted(unknown)[0]}`")
        window = fields.get("window", 20)
        if not isinstance(window, int) or not 1 <= window <= 10_000:
            raise ValueError(f"config: window {window} is not between 1 and 10000")
        return cls(window), prism_sdk.info(NAME, VERSION, kinds=[EventKind.TRADE])

    def on_event(self, ctx, event):
        if not isinstance(event, Trade):
            return
        window = self.windows.setdefault(event.instrument, Window())
        vwap = window.push(prism_sdk.dec(event.price), prism_sdk.dec(event.size), self.window)
        if vwap is not None:
            ctx.series("vwap", event.instrument, event.ts, float(vwap))

    def snapshot(self):
        return prism_sdk.encode_state({
            str(i): [[p, s] for p, s in w.trades] for i, w in self.windows.items()
        })

    def restore(self, data):
        self.windows = {}
        for instrument, trades in prism_sdk.decode_state(data, NAME).items():
            window = Window()
            for p, s in trades:
                window.push(decimal.Decimal(p), decimal.Decimal(s), len(trades))
            self.windows[int(instrument)] = window


WitWorld = prism_sdk.export(Vwap)
