import unittest

from prism_sdk import PositionSide, Side
from prism_sdk.testing import Harness, body

from app import Hello


class HelloTest(unittest.TestCase):
    def test_counts_by_type_once_per_batch(self):
        h = Harness(Hello)
        btc = h.instrument("binance", "BTCUSDT")
        out = h.push([
            h.trade(btc, 1, "37000", "0.1", Side.BUY),
            h.trade(btc, 2, "37001", "0.2", Side.SELL),
            h.liquidation(btc, 3, "36950", "1.2", PositionSide.LONG),
        ])
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0].value.key, "counts")
        self.assertEqual(out[0].value.ts, 3)
        self.assertEqual(body(out[0]), {"liquidation": 1, "trade": 2})
        self.assertEqual(h.push([]), [])

    def test_the_counts_survive_a_swap(self):
        h = Harness(Hello)
        btc = h.instrument("binance", "BTCUSDT")
        h.push([h.trade(btc, 1, "37000", "0.1", Side.BUY)])
        following = Harness(Hello)
        following.restore(h.snapshot())
        btc = following.instrument("binance", "BTCUSDT")
        out = following.push([following.trade(btc, 2, "37000", "0.1", Side.BUY)])
        self.assertEqual(body(out[0]), {"trade": 2})


if __name__ == "__main__":
    unittest.main()
