import unittest

from prism_sdk import Side
from prism_sdk.testing import Harness

from app import FundingLean


def orders(out):
    return [(o.value.client_id, o.value.side, o.value.size.mantissa, o.value.size.scale, o.value.reduce_only)
            for o in out]


class FundingLeanTest(unittest.TestCase):
    def test_shorts_crowded_longs_and_closes_when_funding_calms(self):
        h = Harness(FundingLean, '{"threshold": "0.001", "size": "2"}')
        btc = h.instrument("binance", "BTCUSDT")
        # 0.0012 >= 0.001: short 2.
        self.assertEqual(orders(h.push([h.funding(btc, 1, "0.0012")])),
                         [("lean-1", Side.SELL, 2, 0, False)])
        # Not filled yet: nothing more, whatever the rate.
        self.assertEqual(h.push([h.funding(btc, 2, "-0.002")]), [])
        # Filled; 0.0007 is between half the threshold and the threshold: hold.
        self.assertEqual(h.push([h.fill("lean-1", btc, 3, "100", "2", Side.SELL),
                                 h.funding(btc, 3, "0.0007")]), [])
        # 0.0004 < 0.0005: close, reduce-only.
        self.assertEqual(orders(h.push([h.funding(btc, 4, "0.0004")])),
                         [("lean-2", Side.BUY, 2, 0, True)])
        # Filled; -0.001: long 2 from flat.
        self.assertEqual(orders(h.push([h.fill("lean-2", btc, 5, "100", "2", Side.BUY),
                                        h.funding(btc, 5, "-0.001")])),
                         [("lean-3", Side.BUY, 2, 0, False)])

    def test_refuses_sizes_and_thresholds_that_are_not_positive(self):
        for config in ['{"size": "-1"}', '{"threshold": "x"}']:
            with self.assertRaises(ValueError):
                Harness(FundingLean, config)


if __name__ == "__main__":
    unittest.main()
