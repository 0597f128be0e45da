import unittest

from prism_sdk import PositionSide
from prism_sdk.testing import Harness, body

from app import Liquidations


class LiquidationsTest(unittest.TestCase):
    def test_tallies_each_side_once_per_batch(self):
        h = Harness(Liquidations)
        btc = h.instrument("binance", "BTCUSDT")
        out = h.push([
            h.liquidation(btc, 1, "36950", "1.2", PositionSide.LONG),
            h.liquidation(btc, 2, "36900", "0.5", PositionSide.LONG),
            h.liquidation(btc, 3, "37100", "2", PositionSide.SHORT),
        ])
        self.assertEqual(len(out), 1, "one document per instrument and batch")
        self.assertEqual(out[0].value.key, "liquidations/BTCUSDT")
        self.assertEqual(out[0].value.ts, 3)
        # 36950*1.2 + 36900*0.5 = 44340.0 + 18450.0; 37100*2 = 74200.
        self.assertEqual(body(out[0]), {
            "long": {"count": 2, "size": "1.7", "notional": "62790.0"},
            "short": {"count": 1, "size": "2", "notional": "74200"},
            "ts": 3,
        })
        self.assertEqual(h.push([]), [], "a batch without liquidations writes nothing")

    def test_the_tallies_survive_a_swap(self):
        h = Harness(Liquidations)
        btc = h.instrument("binance", "BTCUSDT")
        h.push([h.liquidation(btc, 1, "100", "1.5", PositionSide.SHORT)])
        following = Harness(Liquidations)
        following.restore(h.snapshot())
        btc = following.instrument("binance", "BTCUSDT")
        out = following.push([following.liquidation(btc, 2, "100", "0.5", PositionSide.SHORT)])
        self.assertEqual(body(out[0])["short"], {"count": 2, "size": "2.0", "notional": "200.0"})

    def test_refuses_a_config_key(self):
        with self.assertRaises(ValueError):
            Harness(Liquidations, '{"x": 1}')


if __name__ == "__main__":
    unittest.main()
