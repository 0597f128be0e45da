"""The smallest useful plugin, in Python: counts the events it sees, by
type, and publishes the counts as the document `counts` after every batch.
The same logic as `examples/hello` in Rust, with the same outputs (tested).

Build: componentize-py -d ../../sdk/wit -w plugin componentize app -p . -p ../../sdk/python -o hello_python.wasm
"""

import prism_sdk
from prism_sdk import (Book, Candle, Fill, Funding, Liquidation, OpenInterest, Position, Ticker,
                       Timer, Trade)

NAME = "hello-python"

TYPE_NAMES = {
    Trade: "trade",
    Liquidation: "liquidation",
    Funding: "funding",
    OpenInterest: "open_interest",
    Book: "book",
    Position: "position",
    Timer: "timer",
    Fill: "fill",
    Candle: "candle",
    Ticker: "ticker",
}


class Hello(prism_sdk.Plugin):
    def __init__(self):
        self.counts = {}
        self.last_ts = 0
        self.dirty = False

    @classmethod
    def init(cls, config):
        return cls(), prism_sdk.info(NAME, "0.1.0")

    def on_event(self, ctx, event):
        name = TYPE_NAMES.get(type(event))
        if name is None:
            return
        self.counts[name] = self.counts.get(name, 0) + 1
        self.last_ts = getattr(event, "ts", self.last_ts)
        self.dirty = True

    def on_batch_end(self, ctx):
        # Once per batch, not once per event.
        if self.dirty:
            self.dirty = False
            ctx.document("counts", self.last_ts, dict(sorted(self.counts.items())))

    def snapshot(self):
        return prism_sdk.encode_state({"counts": self.counts, "last_ts": self.last_ts})

    def restore(self, data):
        state = prism_sdk.decode_state(data, NAME)
        self.counts, self.last_ts = state["counts"], state["last_ts"]


WitWorld = prism_sdk.export(Hello)
