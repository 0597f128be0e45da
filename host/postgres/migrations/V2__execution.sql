-- The paper executor. Each plugin's account (positions, working orders)
-- travels with its checkpoint, so a restart resumes both at one position;
-- its records are kept in the `paper_` tables, keyed by what identifies them in the stream
-- (order `{plugin}:{n}`, fill `{order}:{n}`, a funding payment by plugin,
-- instrument and funding time), so a report made again after a restart
-- never adds a row twice. Amounts are exact numerics; `body` is the record
-- as the API shows it (decimals as text), read back at start.

ALTER TABLE checkpoints ADD COLUMN account bytea;

-- Orders in their latest state.
CREATE TABLE paper_orders (
    id            text    PRIMARY KEY,
    plugin        text    NOT NULL,
    client_id     text    NOT NULL,
    origin        text    NOT NULL,
    exchange      text    NOT NULL,
    symbol        text    NOT NULL,
    side          text    NOT NULL,
    size          numeric NOT NULL,
    limit_price   numeric,
    reduce_only   boolean NOT NULL,
    status        text    NOT NULL,
    filled        numeric NOT NULL,
    average_price numeric,
    fees          numeric NOT NULL,
    reason        text,
    ts            bigint  NOT NULL,
    updated_ts    bigint  NOT NULL,
    body          jsonb   NOT NULL
);
CREATE INDEX paper_orders_by_plugin ON paper_orders (plugin, ts);

CREATE TABLE paper_fills (
    id          text    PRIMARY KEY,
    order_id    text    NOT NULL,
    plugin      text    NOT NULL,
    client_id   text    NOT NULL,
    exchange    text    NOT NULL,
    symbol      text    NOT NULL,
    side        text    NOT NULL,
    price       numeric NOT NULL,
    size        numeric NOT NULL,
    fee         numeric NOT NULL,
    liquidity   text    NOT NULL,
    realized    numeric NOT NULL,
    ts          bigint  NOT NULL,
    body          jsonb   NOT NULL
);
CREATE INDEX paper_fills_by_plugin ON paper_fills (plugin, ts);

CREATE TABLE paper_funding (
    plugin      text    NOT NULL,
    exchange    text    NOT NULL,
    symbol      text    NOT NULL,
    ts          bigint  NOT NULL,
    size        numeric NOT NULL,
    mark_price  numeric NOT NULL,
    rate        numeric NOT NULL,
    amount      numeric NOT NULL,
    body          jsonb   NOT NULL,
    PRIMARY KEY (plugin, exchange, symbol, ts)
);

-- Each position as it last stood.
CREATE TABLE paper_positions (
    plugin      text    NOT NULL,
    exchange    text    NOT NULL,
    symbol      text    NOT NULL,
    base        text    NOT NULL,
    size        numeric NOT NULL,
    entry_price numeric,
    mark_price  numeric,
    realized    numeric NOT NULL,
    unrealized  numeric NOT NULL,
    funding     numeric NOT NULL,
    fees        numeric NOT NULL,
    total       numeric NOT NULL,
    ts          bigint  NOT NULL,
    body          jsonb   NOT NULL,
    PRIMARY KEY (plugin, exchange, symbol)
);

-- A plugin's PnL over time (the last point of each event time).
CREATE TABLE paper_pnl (
    plugin      text    NOT NULL,
    ts          bigint  NOT NULL,
    realized    numeric NOT NULL,
    unrealized  numeric NOT NULL,
    funding     numeric NOT NULL,
    fees        numeric NOT NULL,
    total       numeric NOT NULL,
    body          jsonb   NOT NULL,
    PRIMARY KEY (plugin, ts)
);

CREATE TABLE paper_risk (
    plugin         text    PRIMARY KEY,
    state          text    NOT NULL,
    reason         text,
    gross_notional numeric NOT NULL,
    day_pnl        numeric NOT NULL,
    ts             bigint  NOT NULL,
    body          jsonb   NOT NULL
);
