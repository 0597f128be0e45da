"""Liquidations tallied per instrument: the document `liquidations/{symbol}`
holds how many long and short positions were liquidated and their size and
notional (exact decimals, as text), rewritten after each batch for the
instruments that changed.

Config: none ({}).
"""

import decimal
import json

import prism_sdk
from prism_sdk import EventKind, Liquidation, PositionSide

NAME = "template-document"
VERSION = "0.1.0"


def side():
    return {"count": 0, "size": decimal.Decimal(0), "notional": decimal.Decimal(0)}


class Liquidations(prism_sdk.Plugin):
    def __init__(self):
        self.tallies = {}
        self.changed = set()

    @classmethod
    def init(cls, config):
        fields = json.loads(config)
        if fields:
            raise ValueError(f"config: unknown key `{sorted(fields)[0]}` (this plugin takes none)")
        return cls(), prism_sdk.info(NAME, VERSION, kinds=[EventKind.LIQUIDATION])

    def on_event(self, ctx, event):
        if not isinstance(event, Liquidation):
            return
        instrument = ctx.instruments.get(event.instrument)
        if instrument is None:
            raise ValueError(f"instrument {event.instrument} was never declared")
        price, size = prism_sdk.dec(event.price), prism_sdk.dec(event.size)
        tally = self.tallies.setdefault(instrument.symbol, {"long": side(), "short": side(), "ts": 0})
        counted = tally["long" if event.position == PositionSide.LONG else "short"]
        counted["count"] += 1
        counted["size"] += size
        counted["notional"] += price * size
        tally["ts"] = max(tally["ts"], event.ts)
        self.changed.add(instrument.symbol)

    def on_batch_end(self, ctx):
        for symbol in sorted(self.changed):
            tally = self.tallies[symbol]
            ctx.document(f"liquidations/{symbol}", tally["ts"], tally)
        self.changed.clear()

    def snapshot(self):
        return prism_sdk.encode_state(self.tallies)

    def restore(self, data):
        self.tallies = prism_sdk.decode_state(data, NAME)
        for tally in self.tallies.values():
            for key in ("long", "short"):
                for field in ("size", "notional"):
                    tally[key][field] = decimal.Decimal(tally[key][field])


WitWorld = prism_sdk.export(Liquidations)
