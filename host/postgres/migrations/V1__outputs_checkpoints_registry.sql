-- Prism's schema, version 1. Every output is identified by its position in
-- the stream: (plugin, position of its batch, index in the batch).

-- What this schema holds: one stream (its source), so positions identify.
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE series (
    plugin   text             NOT NULL,
    position bigint           NOT NULL,
    idx      integer          NOT NULL,
    name     text             NOT NULL,
    exchange text,
    symbol   text,
    ts       bigint           NOT NULL,
    value    double precision NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);
CREATE INDEX series_by_name ON series (plugin, name, ts);
CREATE INDEX series_by_ts ON series USING brin (ts);

CREATE TABLE documents (
    plugin   text    NOT NULL,
    position bigint  NOT NULL,
    idx      integer NOT NULL,
    key      text    NOT NULL,
    ts       bigint  NOT NULL,
    body     jsonb   NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);
CREATE INDEX documents_by_key ON documents (plugin, key, position DESC);
CREATE INDEX documents_by_ts ON documents USING brin (ts);

CREATE VIEW documents_latest AS
    SELECT DISTINCT ON (plugin, key) plugin, key, ts, body, position, idx
    FROM documents
    ORDER BY plugin, key, position DESC, idx DESC;

CREATE TABLE logs (
    plugin   text    NOT NULL,
    position bigint  NOT NULL,
    idx      integer NOT NULL,
    name     text    NOT NULL,
    exchange text,
    symbol   text,
    ts       bigint  NOT NULL,
    body     jsonb   NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);
CREATE INDEX logs_by_name ON logs (plugin, name, position, idx);
CREATE INDEX logs_by_ts ON logs USING brin (ts);

CREATE TABLE signals (
    plugin    text    NOT NULL,
    position  bigint  NOT NULL,
    idx       integer NOT NULL,
    exchange  text    NOT NULL,
    symbol    text    NOT NULL,
    ts        bigint  NOT NULL,
    direction text    NOT NULL,
    strength  text    NOT NULL,
    reason    text    NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);
CREATE INDEX signals_by_position ON signals (position, idx);
CREATE INDEX signals_by_ts ON signals USING brin (ts);

CREATE TABLE orders (
    plugin      text    NOT NULL,
    position    bigint  NOT NULL,
    idx         integer NOT NULL,
    client_id   text    NOT NULL,
    exchange    text    NOT NULL,
    symbol      text    NOT NULL,
    ts          bigint  NOT NULL,
    side        text    NOT NULL,
    size        numeric NOT NULL,
    limit_price numeric,
    reduce_only boolean NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);

CREATE TABLE alerts (
    plugin   text    NOT NULL,
    position bigint  NOT NULL,
    idx      integer NOT NULL,
    ts       bigint  NOT NULL,
    priority text    NOT NULL,
    title    text    NOT NULL,
    body     text    NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);

-- An event a plugin could not process: its batch's position and its index
-- in the batch identify it.
CREATE TABLE dead_letters (
    plugin   text    NOT NULL,
    position bigint  NOT NULL,
    idx      integer NOT NULL,
    at_ms    bigint  NOT NULL,
    event    jsonb   NOT NULL,
    kind     text    NOT NULL,
    message  text    NOT NULL,
    sha256   text    NOT NULL,
    PRIMARY KEY (plugin, position, idx)
);

-- Each plugin's newest checkpoint: its state after every batch up to
-- `position`, committed with the outputs of those batches.
CREATE TABLE checkpoints (
    plugin      text   PRIMARY KEY,
    position    bigint,
    sha256      text   NOT NULL,
    state       bytea  NOT NULL,
    -- The instruments the state may refer to by id: a restart declares
    -- them again under the same ids.
    instruments jsonb  NOT NULL DEFAULT '[]',
    taken_at_ms bigint NOT NULL
);

-- The plugin registry: what the admin API added, replaced, paused or
-- removed, restored at the next start.
CREATE TABLE plugins (
    id            text    PRIMARY KEY,
    origin        text    NOT NULL,   -- 'file' or 'upload'
    path          text,
    from_config   boolean NOT NULL,   -- listed in the config file
    sha256        text    NOT NULL,
    config        jsonb   NOT NULL,
    settings      jsonb   NOT NULL,   -- limits, seed, subscription override
    paused        boolean NOT NULL DEFAULT false,
    -- Removed through the admin API: kept so that a plugin the config
    -- file lists stays removed.
    removed       boolean NOT NULL DEFAULT false,
    updated_at_ms bigint  NOT NULL
);

-- Uploaded components, by content, so an uploaded plugin can be restored.
CREATE TABLE components (
    sha256 text  PRIMARY KEY,
    bytes  bytea NOT NULL
);

CREATE TABLE plugin_versions (
    plugin       text    NOT NULL,
    loaded_at_ms bigint  NOT NULL,
    sha256       text    NOT NULL,
    name         text,
    version      text,
    config       jsonb   NOT NULL,
    change       text    NOT NULL,
    status       text    NOT NULL,
    error        text,
    PRIMARY KEY (plugin, loaded_at_ms, sha256, change, status)
);

-- Input events kept beside the outputs (`postgres.archive`), by position.
CREATE TABLE trades (
    position    bigint  PRIMARY KEY,
    exchange    text    NOT NULL,
    symbol      text    NOT NULL,
    ts          bigint  NOT NULL,
    received_ts bigint  NOT NULL,
    price       numeric NOT NULL,
    size        numeric NOT NULL,
    side        text    NOT NULL,
    buyer       text,
    seller      text
);
CREATE INDEX trades_by_instrument ON trades (exchange, symbol, ts);
CREATE INDEX trades_by_ts ON trades USING brin (ts);
CREATE INDEX trades_by_buyer ON trades (buyer) WHERE buyer IS NOT NULL;
CREATE INDEX trades_by_seller ON trades (seller) WHERE seller IS NOT NULL;

CREATE TABLE liquidation_events (
    position      bigint  PRIMARY KEY,
    exchange      text    NOT NULL,
    symbol        text    NOT NULL,
    ts            bigint  NOT NULL,
    price         numeric NOT NULL,
    size          numeric NOT NULL,
    position_side text    NOT NULL,
    account       text
);
CREATE INDEX liquidation_events_by_instrument ON liquidation_events (exchange, symbol, ts);
CREATE INDEX liquidation_events_by_ts ON liquidation_events USING brin (ts);

CREATE TABLE funding_events (
    position        bigint  PRIMARY KEY,
    exchange        text    NOT NULL,
    symbol          text    NOT NULL,
    ts              bigint  NOT NULL,
    rate            numeric NOT NULL,
    interval_hours  integer NOT NULL,
    mark_price      numeric,
    index_price     numeric,
    next_funding_ts bigint
);

CREATE TABLE open_interest_events (
    position      bigint  PRIMARY KEY,
    exchange      text    NOT NULL,
    symbol        text    NOT NULL,
    ts            bigint  NOT NULL,
    open_interest numeric NOT NULL
);

CREATE TABLE position_events (
    position          bigint  PRIMARY KEY,
    exchange          text    NOT NULL,
    symbol            text    NOT NULL,
    ts                bigint  NOT NULL,
    account           text    NOT NULL,
    size              numeric NOT NULL,
    entry_price       numeric NOT NULL,
    liquidation_price numeric,
    leverage          numeric
);
CREATE INDEX position_events_by_account ON position_events (exchange, symbol, account, position DESC);
