// The dashboard: panels over the public API, refreshed by polling, and
// live feeds over the WebSocket. Every value shown carries the API value
// it came from in a data attribute, so what the page shows can be checked
// against the API.
import { relativeTime, shortAddress, amount, compactUsd, decimalText, percent, fixed } from './format.js';

const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.max(250, Number(params.get('refresh')) || 2000);
const FEED_ROWS = 50;
const CHART_POINTS = 120;
const MAP_ROWS = 40;
const TOKEN_KEY = 'prism.admin-token';

/** The newest event time seen: relative times count from it. */
let now = 0;
const seenNow = (ts) => { if (Number.isFinite(ts) && ts > now) now = ts; };
/** events_in of each plugin at the last poll, for events/s. */
const previous = new Map();

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, body?.error?.message ?? response.statusText);
  }
  return body;
}

// ---- admin token ---------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) ?? ''; }

function showTokenState() {
  $('token-state').textContent = token() ? 'kept for this session' : 'none';
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('token').value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  $('token').value = '';
  showTokenState();
});

async function act(id, action) {
  const note = $('action-result');
  if (!token()) {
    note.className = 'note error';
    note.textContent = 'Enter the admin token first (PRISM_ADMIN_TOKEN of the server).';
    return;
  }
  try {
    const status = await api(`/api/v1/plugins/${encodeURIComponent(id)}/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token()}` },
    });
    note.className = 'note';
    note.textContent = `${action}: ${id} is ${status.state}`;
  } catch (e) {
    note.className = 'note error';
    note.textContent = `${action} ${id}: ${e.message}`;
  }
  refreshPlugins();
}

// ---- plugins, health, feeds ---------------------------------------------

/** A plugin's row, made once and updated in place, so a button is never
 *  replaced under the pointer between two refreshes. */
function pluginRow(id) {
  const cells = ['name', 'version', 'state', 'rate', 'events', 'errors', 'dead', 'lag']
    .map((k) => el('td', { class: ['rate', 'events', 'errors', 'dead', 'lag'].includes(k) ? 'num' : '' }));
  const actions = el('td', { class: 'actions' });
  for (const action of ['pause', 'resume', 'rollback', 'reload']) {
    const b = el('button', { type: 'button', 'data-action': action, text: action });
    b.addEventListener('click', () => act(id, action));
    actions.append(b);
  }
  const row = el('tr', { 'data-plugin': id }, ...cells, actions);
  cells[0].textContent = id;
  return row;
}

const pluginRows = new Map();

async function refreshPlugins() {
  const list = await api('/api/v1/plugins');
  const at = performance.now();
  const body = $('plugins');
  const ids = new Set(list.items.map((p) => p.id));
  for (const [id, row] of pluginRows) if (!ids.has(id)) { row.remove(); pluginRows.delete(id); }
  for (const p of list.items) {
    let row = pluginRows.get(p.id);
    if (!row) { row = pluginRow(p.id); pluginRows.set(p.id, row); }
    body.append(row); // in the API's order
    const before = previous.get(p.id);
    previous.set(p.id, { at, events: p.events_in });
    const rate = before && at > before.at ? ((p.events_in - before.events) * 1000) / (at - before.at) : null;
    const [, version, state, rateCell, events, errors, dead, lag] = row.children;
    row.dataset.state = p.state;
    version.textContent = p.version;
    state.className = `state state-${p.state}`;
    state.textContent = p.state;
    rateCell.textContent = rate === null ? '…' : Math.max(0, rate).toFixed(0);
    events.dataset.events = p.events_in;
    events.textContent = p.events_in.toLocaleString('en-US');
    errors.dataset.errors = p.errors;
    errors.textContent = p.errors;
    dead.dataset.deadLetters = p.dead_letters;
    dead.textContent = p.dead_letters;
    lag.textContent = `${(p.lag_ms / 1000).toFixed(1)} s`;
  }
}

async function refreshHealth() {
  const h = await api('/health');
  features.alerts = h.alerts;
  features.cluster = h.cluster;
  const badge = $('status');
  badge.dataset.status = h.status;
  badge.textContent = h.status;
  $('summary').textContent = `${h.plugins} plugins · ${h.events.toLocaleString('en-US')} events · up ${h.uptime_s} s`;
  const facts = [
    ['source', `${h.source.state}${h.source.error ? `: ${h.source.error}` : ''}`],
    ['failed plugins', h.failed_plugins.join(', ') || 'none'],
    ['disconnected feeds', h.disconnected_feeds.join(', ') || 'none'],
  ];
  if (h.postgres) facts.push(['postgres', h.postgres.status]);
  if (h.nats) facts.push(['nats', h.nats.status]);
  $('health').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  const feeds = await api('/api/v1/feeds');
  $('feeds').replaceChildren(...feeds.items.map((f) => el('tr', { 'data-feed': f.venue },
    el('td', { text: f.venue }),
    el('td', { text: f.connected ? 'yes' : 'no' }),
    el('td', { class: 'num', text: f.messages }),
    el('td', { class: 'num', text: f.reconnects }),
    el('td', { text: f.last_message_at ? new Date(f.last_message_at).toISOString() : '—' }))));
}

// ---- liquidations --------------------------------------------------------

async function refreshLiquidationStats() {
  const stats = await api('/api/v1/liquidations/stats');
  seenNow(stats.now);
  $('liquidation-stats').replaceChildren(...stats.windows.map((w) => el('tr', { 'data-window': w.window },
    el('td', { text: w.window }),
    el('td', { class: 'num long', 'data-notional': w.long.notional, text: `${compactUsd(w.long.notional)} (${w.long.count})` }),
    el('td', { class: 'num short', 'data-notional': w.short.notional, text: `${compactUsd(w.short.notional)} (${w.short.count})` }),
    el('td', { class: 'num', 'data-notional': w.total.notional, text: `${compactUsd(w.total.notional)} (${w.total.count})` }))));
}

async function refreshMapChoices() {
  const maps = await api('/api/v1/liquidation-maps');
  const select = $('map-instrument');
  const chosen = select.value;
  const options = maps.items.map((m) => el('option', { value: `${m.exchange}:${m.symbol}`, text: `${m.exchange} ${m.symbol}` }));
  select.replaceChildren(...options);
  if (options.some((o) => o.value === chosen)) select.value = chosen;
  return maps.items.length > 0;
}

/** The buckets of a map, nearest the last price first, then by price. */
function mapRows(map) {
  const rows = new Map();
  const row = (price) => {
    if (!rows.has(price)) rows.set(price, { price, realizedLong: '0', realizedShort: '0', estimatedLong: '0', estimatedShort: '0' });
    return rows.get(price);
  };
  for (const b of map.realized ?? []) {
    const r = row(b.price);
    r.realizedLong = b.long_notional; r.realizedShort = b.short_notional;
  }
  for (const b of map.estimated ?? []) {
    const r = row(b.price);
    r.estimatedLong = b.long_notional; r.estimatedShort = b.short_notional;
  }
  const last = Number(map.last_price);
  const all = [...rows.values()];
  if (Number.isFinite(last)) all.sort((a, b) => Math.abs(a.price - last) - Math.abs(b.price - last));
  return all.slice(0, MAP_ROWS).sort((a, b) => Number(b.price) - Number(a.price));
}

async function refreshMap() {
  if (!(await refreshMapChoices())) {
    $('map-caption').textContent = 'No liquidation map yet.';
    $('heatmap').replaceChildren();
    return;
  }
  const [exchange, symbol] = $('map-instrument').value.split(':');
  const view = await api(`/api/v1/liquidation-map?exchange=${encodeURIComponent(exchange)}&symbol=${encodeURIComponent(symbol)}`);
  const map = view.map;
  seenNow(view.ts);
  const rows = mapRows(map);
  const max = Math.max(1, ...rows.flatMap((r) => [r.realizedLong, r.realizedShort, r.estimatedLong, r.estimatedShort].map(Number)));
  const heat = $('heatmap');
  heat.dataset.key = view.key;
  heat.dataset.ts = view.ts;
  heat.dataset.buckets = rows.length;
  const cells = [el('div', { class: 'head', text: 'price' })];
  for (const h of ['realized long', 'realized short', 'estimated long', 'estimated short']) cells.push(el('div', { class: 'head', text: h }));
  const bucket = Number(map.bucket_size);
  const last = Number(map.last_price);
  for (const r of rows) {
    const current = Number.isFinite(last) && last >= Number(r.price) && last < Number(r.price) + bucket;
    cells.push(el('div', { class: current ? 'price current' : 'price', 'data-price': r.price, text: decimalText(r.price) }));
    for (const [name, value, colour] of [
      ['realized-long', r.realizedLong, '47, 191, 113'], ['realized-short', r.realizedShort, '229, 72, 77'],
      ['estimated-long', r.estimatedLong, '47, 127, 191'], ['estimated-short', r.estimatedShort, '191, 127, 47'],
    ]) {
      const c = el('div', { class: 'cell', 'data-kind': name, 'data-price': r.price, 'data-notional': value, title: `${name} at ${decimalText(r.price)}: ${compactUsd(value)}` });
      if (Number(value) > 0) c.textContent = compactUsd(value);
      const alpha = Number(value) > 0 ? 0.15 + 0.85 * Math.sqrt(Number(value) / max) : 0.04;
      c.style.setProperty('background', `rgba(${colour}, ${alpha.toFixed(3)})`);
      cells.push(c);
    }
  }
  heat.replaceChildren(...cells);
  $('map-caption').textContent = `${map.exchange} ${map.symbol} · last price ${decimalText(map.last_price)} · bucket ${decimalText(map.bucket_size)} · ${relativeTime(view.ts, now)} · the ${rows.length} buckets nearest the price`;
}

// ---- long/short ratios ---------------------------------------------------

function chart(points) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 300 90');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (points.length === 0) return svg;
  const values = points.map((p) => p.value);
  const lo = Math.min(1, ...values) * 0.95;
  const hi = Math.max(1, ...values) * 1.05;
  const t0 = points[0].ts;
  const span = Math.max(1, points[points.length - 1].ts - t0);
  const y = (v) => 88 - ((v - lo) / (hi - lo)) * 86;
  const parity = document.createElementNS(svg.namespaceURI, 'line');
  for (const [k, v] of [['x1', 0], ['x2', 300], ['y1', y(1)], ['y2', y(1)], ['class', 'parity']]) parity.setAttribute(k, v);
  const line = document.createElementNS(svg.namespaceURI, 'polyline');
  line.setAttribute('points', points.map((p) => `${(((p.ts - t0) / span) * 300).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '));
  svg.append(parity, line);
  return svg;
}

async function refreshRatios() {
  const current = await api('/api/v1/long-short-ratios/current');
  const charts = await Promise.all(current.items.filter((i) => i.taker).map(async (i) => {
    const q = `exchange=${encodeURIComponent(i.exchange)}&symbol=${encodeURIComponent(i.symbol)}&kind=taker&limit=${CHART_POINTS}`;
    const history = await api(`/api/v1/long-short-ratios/history?${q}`);
    const points = history.items.slice().reverse();
    const newest = points[points.length - 1];
    if (newest) seenNow(newest.ts);
    return el('div', { class: 'chart', 'data-exchange': i.exchange, 'data-symbol': i.symbol, 'data-ts': newest?.ts, 'data-value': newest?.value },
      el('h3', {}, el('span', { text: `${i.exchange} ${i.symbol}` }),
        el('span', { class: newest && newest.value >= 1 ? 'long' : 'short', text: newest ? newest.value.toFixed(3) : '—' })),
      chart(points));
  }));
  $('ratios').replaceChildren(...charts);
}

// ---- funding opportunities ----------------------------------------------

async function refreshOpportunities() {
  const o = await api('/api/v1/opportunities');
  const table = $('opportunities');
  table.dataset.ts = o.ts ?? '';
  table.replaceChildren(...o.items.map((i) => el('tr', { 'data-base': i.base, 'data-long': `${i.long_exchange}:${i.long_symbol}`, 'data-short': `${i.short_exchange}:${i.short_symbol}`, 'data-net-apr': i.net_apr },
    el('td', { text: i.base }),
    el('td', { class: 'long', text: `${i.long_exchange} ${i.long_symbol}` }),
    el('td', { class: 'short', text: `${i.short_exchange} ${i.short_symbol}` }),
    el('td', { class: 'num', text: percent(Number(i.spread_hourly) * 100, 4) }),
    el('td', { class: 'num', text: percent(i.gross_apr * 100) }),
    el('td', { class: 'num', text: percent(i.net_apr * 100) }))));
}

// ---- wallets ---------------------------------------------------------------

async function refreshWallets() {
  const [d, split] = await Promise.all([
    api('/api/v1/wallet/distribution'),
    api('/api/v1/market/long-short-ratio'),
  ]);
  $('positions-split').textContent = split.instruments.length
    ? `Open positions: ${compactUsd(split.longVolume)} long (${split.longPercent}%), ${compactUsd(split.shortVolume)} short (${split.shortPercent}%) on ${split.instruments.join(', ')}`
    : 'No venue publishes positions in this stream.';
  $('wallets').replaceChildren(...d.buckets.map((b) => el('tr', { 'data-category': b.category, 'data-wallets': b.walletCount, 'data-long': b.longNotional, 'data-short': b.shortNotional },
    el('td', { text: b.positionSize }),
    el('td', { text: b.categoryEn }),
    el('td', { class: 'num', text: b.walletCount }),
    el('td', { class: 'num', text: percent(b.openInterestPercent) }),
    el('td', { class: 'num long', text: b.longValue }),
    el('td', { class: 'num short', text: b.shortValue }),
    el('td', { class: 'num', text: percent(b.longPercent) }),
    el('td', { class: 'num', text: b.profitUsers }),
    el('td', { class: 'num', text: b.lossUsers }),
    el('td', { class: b.sentiment === 'bullish' ? 'long' : b.sentiment === 'bearish' ? 'short' : '', text: b.sentiment }))));
}

// ---- paper trading, alerts, cluster ----------------------------------------

/** What the server has enabled, from `/health`. */
const features = { alerts: false, cluster: false };

async function refreshPaper() {
  const [pnl, orders] = await Promise.all([api('/api/v1/pnl'), api('/api/v1/orders?limit=10')]);
  $('paper-note').textContent = pnl.plugins.length
    ? `Total ${fixed(pnl.total.total, 2)} (realized ${fixed(pnl.total.realized, 2)}, unrealized ${fixed(pnl.total.unrealized, 2)})`
    : 'No plugin trades on paper (a plugin entry with paper = true does).';
  const money = (v) => el('td', { class: `num ${Number(v) < 0 ? 'short' : ''}`, title: decimalText(v), text: fixed(v, 2) });
  $('pnl').replaceChildren(...pnl.plugins.map((p) => el('tr', { 'data-plugin': p.plugin, 'data-total': p.total },
    el('td', { text: p.plugin }), money(p.realized), money(p.unrealized), money(p.funding), money(p.fees), money(p.total))));
  $('orders').replaceChildren(...orders.items.map((o) => el('tr', { 'data-id': o.id, 'data-status': o.status },
    el('td', { 'data-ts': o.ts, text: relativeTime(o.ts, now) }),
    el('td', { text: o.plugin }),
    el('td', { text: `${o.exchange} ${o.symbol}` }),
    el('td', { class: o.side, text: o.side }),
    el('td', { class: 'num', text: decimalText(o.size) }),
    el('td', { text: o.status }),
    el('td', { class: 'num', text: decimalText(o.filled) }),
    el('td', { class: 'num', title: decimalText(o.average_price), text: o.average_price ? fixed(o.average_price, 0, 6) : '—' }))));
}

async function refreshAlerts() {
  const section = $('panel-alerts');
  section.hidden = !features.alerts;
  if (!features.alerts) return;
  const page = await api('/api/v1/alerts?limit=20');
  $('alerts').replaceChildren(...page.items.map((a) => el('li', { 'data-id': a.id, 'data-priority': a.priority },
    el('span', { class: 'time', text: relativeTime(a.raised_at_ms, Date.now()) }),
    el('span', { class: a.priority === 'P0' ? 'short' : '', text: a.priority }),
    el('span', { text: a.title }),
    el('span', { class: 'note', text: a.deliveries.map((d) => `${d.channel}: ${d.status}`).join(', ') }))));
}

async function refreshCluster() {
  const section = $('panel-cluster');
  section.hidden = !features.cluster;
  if (!features.cluster) return;
  const c = await api('/api/v1/cluster');
  $('cluster-summary').textContent = `${c.name}: this host ${c.host} holds ${c.mine.length} of ${c.partitions} partitions${c.last_error ? ` · ${c.last_error}` : ''}`;
  const held = new Map();
  for (const o of c.owners) held.set(o.host, (held.get(o.host) ?? 0) + 1);
  $('cluster-hosts').replaceChildren(...c.hosts.map((h) => el('tr', { 'data-host': h.host },
    el('td', { text: h.host }), el('td', { text: h.api }), el('td', { class: 'num', text: held.get(h.host) ?? 0 }))));
}

// ---- live feeds ----------------------------------------------------------

const feeds = { signals: [], whales: [], liquidations: [] };

/** Items received over the WebSocket, per feed. */
const received = { signals: 0, whales: 0, liquidations: 0 };

function push(feed, item) {
  seenNow(item.ts);
  const list = feeds[feed];
  list.unshift(item);
  list.length = Math.min(list.length, FEED_ROWS);
  received[feed] += 1;
}

function feedRow(item, ...parts) {
  return el('li', { 'data-ts': item.ts }, el('span', { class: 'time', 'data-ts': item.ts, text: relativeTime(item.ts, now) }), ...parts);
}

function renderFeeds() {
  for (const [feed, count] of Object.entries(received)) {
    const counter = $(`${feed}-count`);
    counter.dataset.received = String(count);
    counter.textContent = count ? `${count} live` : '';
  }
  $('signals').replaceChildren(...feeds.signals.map((s) => feedRow(s,
    el('span', { text: `${s.exchange} ${s.symbol}` }),
    el('span', { class: s.direction, text: `${s.direction} ${s.strength}` }),
    el('span', { class: 'note', text: `${s.plugin}: ${s.reason}` }))));
  $('whales').replaceChildren(...feeds.whales.map((w) => {
    const b = w.body ?? {};
    const who = b.account ?? b.buyer ?? b.seller;
    const notional = b.notional ?? b.change_notional;
    const asset = w.base ?? w.symbol;
    // A position change shows old → new size; a trade, its size.
    const what = b.new_size !== undefined
      ? el('span', { class: Number(b.new_size) > Number(b.old_size) ? 'long' : 'short', 'data-amount': b.new_size,
        text: `${decimalText(b.old_size)} → ${decimalText(b.new_size)} ${asset}` })
      : el('span', { class: b.side ?? '', 'data-amount': b.size ?? '', text: b.size ? amount(b.size, asset) : '' });
    return feedRow(w,
      el('span', { text: w.name.replace('whale_', '') }),
      el('span', { class: 'address', 'data-address': who ?? '', title: who ?? '', text: shortAddress(who) }),
      what,
      el('span', { class: 'num', 'data-notional': notional ?? '', text: notional ? compactUsd(notional) : '' }));
  }));
  $('liquidations').replaceChildren(...feeds.liquidations.map((l) => feedRow(l,
    el('span', { text: `${l.exchange} ${l.symbol}` }),
    el('span', { class: l.side, text: l.side }),
    el('span', { 'data-amount': l.size, text: amount(l.size, l.base ?? l.symbol) }),
    el('span', { text: `@ ${decimalText(l.price)}` }),
    el('span', { class: 'num', 'data-notional': l.notional, text: compactUsd(l.notional) }))));
}

/** Feeds are drawn at most every 250 ms: a busy stream sends thousands of
 *  messages a second, and drawing on each would starve the page. */
let feedsDue = false;
function scheduleFeeds() {
  if (feedsDue) return;
  feedsDue = true;
  setTimeout(() => { feedsDue = false; renderFeeds(); }, 250);
}

function connectLive() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`);
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify({ type: 'subscribe', channels: ['signals', 'whale_activities', 'liquidations'] }));
    for (const id of FEED_PANELS) $(id).dataset.loaded = 'true';
  });
  ws.addEventListener('message', (e) => {
    let message;
    try { message = JSON.parse(e.data); } catch { return; }
    const items = Array.isArray(message.payload) ? message.payload : [message.payload];
    const feed = { signals: 'signals', whale_activities: 'whales', liquidations: 'liquidations' }[message.type];
    if (!feed) return;
    for (const item of items) if (item && typeof item === 'object') push(feed, item);
    scheduleFeeds();
  });
  // A server restart or a dropped connection: connect again, gently.
  ws.addEventListener('close', () => {
    for (const id of FEED_PANELS) $(id).dataset.loaded = 'false';
    setTimeout(connectLive, 2000);
  });
}

// ---- the loop ------------------------------------------------------------

/** Runs `refresh` now and every `every` ms; a failure shows in its panel
 *  and the next round tries again. */
function every(ms, panel, refresh) {
  const run = async () => {
    const section = $(panel);
    try {
      await refresh();
      section.dataset.loaded = 'true';
      section.querySelector(':scope > .panel-error')?.remove();
    } catch (e) {
      let note = section.querySelector(':scope > .panel-error');
      if (!note) { note = el('p', { class: 'note error panel-error' }); section.append(note); }
      note.textContent = e instanceof ApiError ? `${e.status}: ${e.message}` : String(e.message ?? e);
    }
    setTimeout(run, ms);
  };
  run();
}

async function seedFeeds() {
  const [signals, liquidations] = await Promise.all([
    api(`/api/v1/signals?limit=${FEED_ROWS}`),
    api(`/api/v1/liquidations/recent?limit=${FEED_ROWS}`),
  ]);
  feeds.signals = signals.items;
  feeds.liquidations = liquidations.items;
  for (const i of [...signals.items, ...liquidations.items]) seenNow(i.ts);
  renderFeeds();
}

const FEED_PANELS = ['panel-signals', 'panel-whales', 'panel-liquidations'];

showTokenState();
$('map-instrument').addEventListener('change', () => refreshMap().catch(() => {}));
every(REFRESH_MS, 'panel-plugins', refreshPlugins);
every(REFRESH_MS, 'panel-health', refreshHealth);
every(REFRESH_MS, 'panel-liquidation-stats', refreshLiquidationStats);
every(REFRESH_MS, 'panel-liquidation-map', refreshMap);
every(REFRESH_MS * 2, 'panel-ratios', refreshRatios);
every(REFRESH_MS, 'panel-opportunities', refreshOpportunities);
every(REFRESH_MS, 'panel-wallets', refreshWallets);
every(REFRESH_MS, 'panel-paper', refreshPaper);
every(REFRESH_MS, 'panel-alerts', refreshAlerts);
every(REFRESH_MS, 'panel-cluster', refreshCluster);
seedFeeds().catch(() => {}).finally(connectLive);
// Relative times move on with the stream.
setInterval(renderFeeds, 1000);
