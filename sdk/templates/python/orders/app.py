"""Leans against crowded funding: when an instrument's funding rate is at
least `threshold`, longs pay shorts, so it goes short `size`; at
`-threshold` or below, long `size`; once the rate is back within half the
threshold, it closes (reduce-only). Its position comes from its fills
(`prism run` with `paper = true`, or `prism test --paper`); while an order
waits for its fill, it sends no other on that instrument.

Config: {"threshold": "0.0005", "size": "0.01"} (rate per funding interval,
and base units; exact decimal text).
"""

import decimal
import json

import prism_sdk
from prism_sdk import EventKind, Fill, Funding, Side

NAME = "template-orders"
VERSION = "0.1.0"


def positive(fields, key, default):
    text = fields.get(key, default)
    try:
        value = decimal.Decimal(text)
    except (decimal.InvalidOperation, TypeError):
        raise ValueError(f"config: {key} `{text}` is not a decimal") from None
    if not value > 0:
        raise ValueError(f"config: {key} must be above 0")
    return value


class FundingLean(prism_sdk.Plugin):
    def __init__(self, threshold, size):
        self.threshold = threshold
        self.size = size
        self.positions = {}
        self.in_flight = {}
        self.orders = 0

    @classmethod
    def init(cls, config):
        fields = json.loads(config)
        unknown = set(fields) - {"threshold", "size"}
        if unknown:
            raise ValueError(f"config: unknown field `{sorted(unknown)[0]}`")
        plugin = cls(positive(fields, "threshold", "0.0005"), positive(fields, "size", "0.01"))
        # The paper executor fills orders against the trades the plugin
        # receives: it takes them even though it ignores them.
        kinds = [EventKind.FUNDING, EventKind.TRADE, EventKind.FILL]
        return plugin, prism_sdk.info(NAME, VERSION, kinds=kinds)

    def target(self, rate, held):
        """The position wanted at funding `rate`, given the one held."""
        if rate >= self.threshold:
            return -self.size
        if rate <= -self.threshold:
            return self.size
        if abs(rate) * 2 < self.threshold:
            return decimal.Decimal(0)
        return held

    def on_event(self, ctx, event):
        if isinstance(event, Fill):
            size = prism_sdk.dec(event.size)
            signed = size if event.side == Side.BUY else -size
            self.positions[event.instrument] = self.positions.get(event.instrument, decimal.Decimal(0)) + signed
            if self.in_flight.get(event.instrument) == event.client_id:
                del self.in_flight[event.instrument]
        elif isinstance(event, Funding) and event.instrument not in self.in_flight:
            held = self.positions.get(event.instrument, decimal.Decimal(0))
            target = self.target(prism_sdk.dec(event.rate), held)
            if target == held:
                return
            side = Side.BUY if target > held else Side.SELL
            self.orders += 1
            client_id = f"lean-{self.orders}"
            ctx.order(client_id, event.instrument, event.ts, side, abs(target - held),
                      reduce_only=target == 0)
            self.in_flight[event.instrument] = client_id

    def snapshot(self):
        return prism_sdk.encode_state({
            "positions": {str(i): p for i, p in self.positions.items()},
            "in_flight": {str(i): c for i, c in self.in_flight.items()},
            "orders": self.orders,
        })

    def restore(self, data):
        state = prism_sdk.decode_state(data, NAME)
        self.positions = {int(i): decimal.Decimal(p) for i, p in state["positions"].items()}
        self.in_flight = {int(i): c for i, c in state["in_flight"].items()}
        self.orders = state["orders"]


WitWorld = prism_sdk.export(FundingLean)
