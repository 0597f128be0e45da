import unittest

from prism_sdk import Direction, Side, Strength
from prism_sdk.testing import Harness

from app import BigTrades


class BigTradesTest(unittest.TestCase):
    def test_grades_trades_by_their_notional(self):
        h = Harness(BigTrades, '{"min_notional": "10000"}')
        btc = h.instrument("binance", "BTCUSDT")
        out = h.push([
            # 9,999.99: below. 10,000: weak. 30,000: medium. 100,000: strong.
            h.trade(btc, 1, "99999.99", "0.1", Side.BUY),
            h.trade(btc, 2, "100000", "0.1", Side.SELL),
            h.trade(btc, 3, "100000", "0.3", Side.BUY),
            h.trade(btc, 4, "100000", "1", Side.SELL),
        ])
        got = [(o.value.direction, o.value.strength, o.value.reason) for o in out]
        self.assertEqual(got, [
            (Direction.SHORT, Strength.WEAK, "taker sell of 10000.0 on BTCUSDT"),
            (Direction.LONG, Strength.MEDIUM, "taker buy of 30000.0 on BTCUSDT"),
            (Direction.SHORT, Strength.STRONG, "taker sell of 100000 on BTCUSDT"),
        ])

    def test_refuses_a_threshold_that_is_not_a_positive_decimal(self):
        for config in ['{"min_notional": "abc"}', '{"min_notional": "0"}', '{"min": "1"}']:
            with self.assertRaises(ValueError):
                Harness(BigTrades, config)

    def test_the_count_survives_a_swap(self):
        h = Harness(BigTrades)
        eth = h.instrument("binance", "ETHUSDT")
        h.push([h.trade(eth, 1, "2000", "30", Side.BUY)])
        state = h.snapshot()
        following = Harness(BigTrades)
        following.restore(state)
        self.assertEqual(following.plugin.signals, 1)


if __name__ == "__main__":
    unittest.main()
