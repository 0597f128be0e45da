// How the dashboard shows values, the way market front-ends do. Amounts
// arrive as exact decimal text and are shown from that text; only compact
// currency, a rounded display figure, goes through a float.

/** "just now", "42 s ago", "2 min ago", "3 h ago", "5 d ago" for `ts`
 *  (unix ms) seen from `now` (unix ms). */
export function relativeTime(ts, now) {
  const s = Math.max(0, Math.floor((now - ts) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** An address as `0x49f3…8d2b`: the first six and last four characters;
 *  short ones (account numbers) as they are. */
export function shortAddress(address) {
  if (typeof address !== 'string') return '';
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

/** Decimal text without trailing zeros: "28.405720" → "28.40572". */
export function decimalText(text) {
  const s = String(text ?? '');
  if (!/^-?\d+(\.\d+)?$/.test(s)) return s;
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** An amount with its asset: "28.40572 BTC"; the sign dropped (the side
 *  says it). */
export function amount(text, asset) {
  const s = decimalText(text).replace(/^-/, '');
  return asset ? `${s} ${asset}` : s;
}

/** US dollars in short: "$717M", "$2.57M", "$45.3K", "$250", "-$1.2B":
 *  three significant figures at most, from thousands up. */
export function compactUsd(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return '';
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  for (const [unit, size] of [['T', 1e12], ['B', 1e9], ['M', 1e6], ['K', 1e3]]) {
    // Rounded first: 999.96K rounds to 1.00M, so it is "$1M", not "$1000K".
    const r = Number((a / size).toPrecision(3));
    if (r >= 1 && (r < 1000 || unit === 'T')) return `${sign}$${r}${unit}`;
  }
  return `${sign}$${Number(a.toFixed(2))}`;
}

/** A percentage of a float: 12.3456 → "12.35%". */
export function percent(value, digits = 2) {
  const n = Number(value);
  return Number.isFinite(n) ? `${n.toFixed(digits)}%` : '';
}

/** A decimal for reading, rounded for display only (the exact text is
 *  kept in the element's title): money with two decimals, `fixed(t, 2)`;
 *  prices with up to six, `fixed(t, 0, 6)`. */
export function fixed(text, min, max = min) {
  const n = Number(text);
  if (!Number.isFinite(n)) return String(text ?? '');
  return n.toLocaleString('en-US', { minimumFractionDigits: min, maximumFractionDigits: max });
}
