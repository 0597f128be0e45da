import unittest

from prism_sdk import Side
from prism_sdk.testing import Harness

from app import Vwap


def values(out):
    return [o.value.value for o in out]


class VwapTest(unittest.TestCase):
    def test_averages_the_last_trades_by_their_size(self):
        h = Harness(Vwap, '{"window": 2}')
        btc = h.instrument("binance", "BTCUSDT")
        eth = h.instrument("binance", "ETHUSDT")
        out = h.push([
            h.trade(btc, 1, "100", "1", Side.BUY),
            # (100*1 + 110*3) / 4 = 107.5
            h.trade(btc, 2, "110", "3", Side.SELL),
            # The first trade leaves the window: (110*3 + 90*1) / 4 = 105
            h.trade(btc, 3, "90", "1", Side.BUY),
            # Another instrument has its own window.
            h.trade(eth, 4, "2000", "0.5", Side.BUY),
        ])
        self.assertEqual(values(out), [100.0, 107.5, 105.0, 2000.0])

    def test_the_windows_survive_a_swap(self):
        h = Harness(Vwap, '{"window": 3}')
        btc = h.instrument("binance", "BTCUSDT")
        h.push([h.trade(btc, 1, "100", "1", Side.BUY)])
        following = Harness(Vwap, '{"window": 3}')
        following.restore(h.snapshot())
        btc = following.instrument("binance", "BTCUSDT")
        # (100*1 + 200*1) / 2
        self.assertEqual(values(following.push([following.trade(btc, 2, "200", "1", Side.BUY)])), [150.0])

    def test_refuses_a_window_out_of_range(self):
        for config in ['{"window": 0}', '{"window": 10001}', '{"window": "3"}']:
            with self.assertRaises(ValueError):
                Harness(Vwap, config)


if __name__ == "__main__":
    unittest.main()
