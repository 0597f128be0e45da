"""Big taker trades as signals: a trade whose notional (price x size) is at
least `min_notional` is a signal in the aggressor's direction, weak from
1x, medium from 3x and strong from 10x the threshold.

Config: {"min_notional": "50000"} (quote units, exact decimal text).
"""

import decimal
import json

import prism_sdk
from prism_sdk import Direction, EventKind, Side, Strength, Trade

NAME = "template-signal"
VERSION = "0.1.0"


def strength(notional, minimum):
    """How strong a trade of `notional` is against `minimum` (None: below)."""
    if notional >= minimum * 10:
        return Strength.STRONG
    if notional >= minimum * 3:
        return Strength.MEDIUM
    if notional >= minimum:
        return Strength.WEAK
    return None


class BigTrades(prism_sdk.Plugin):
    def __init__(self, min_notional):
        self.min_notional = min_notional
        self.signals = 0

    @classmethod
    def init(cls, config):
        fields = json.loads(config)
        unknown = set(fields) - {"min_notional"}
        if unknown:
            raise ValueError(f"config: unknown field `{sorted(unknown)[0]}`")
        text = fields.get("min_notional", "50000")
        try:
            minimum = decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise ValueError(f"config: min_notional `{text}` is not a decimal") from None
        if not minimum > 0:
            raise ValueError("config: min_notional must be above 0")
        return cls(minimum), prism_sdk.info(NAME, VERSION, kinds=[EventKind.TRADE])

    def on_event(self, ctx, event):
        if not isinstance(event, Trade):
            return
        notional = prism_sdk.dec(event.price) * prism_sdk.dec(event.size)
        grade = strength(notional, self.min_notional)
        if grade is None:
            return
        direction, side = (Direction.LONG, "buy") if event.side == Side.BUY else (Direction.SHORT, "sell")
        instrument = ctx.instruments.get(event.instrument)
        symbol = instrument.symbol if instrument else "?"
        self.signals += 1
        ctx.signal(event.instrument, event.ts, direction, grade,
                   f"taker {side} of {notional} on {symbol}")

    def snapshot(self):
        return prism_sdk.encode_state({"signals": self.signals})

    def restore(self, data):
        # The threshold is the config's; only the count carries over.
        self.signals = prism_sdk.decode_state(data, NAME)["signals"]


WitWorld = prism_sdk.export(BigTrades)
