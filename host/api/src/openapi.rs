//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the whole HTTP
//! API, built from one table of endpoints ([`ENDPOINTS`]), which a test
//! checks against the router.

use axum::Json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathItem, PathsBuilder, Ref, Required, ResponseBuilder, Type,
};

/// A parameter: name, where, required, type, meaning.
type Param = (&'static str, ParameterIn, bool, Type, &'static str);

/// One endpoint of the API.
pub(crate) struct Endpoint {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
    /// Needs the admin bearer token.
    admin: bool,
    /// The request body: content type and meaning.
    body: Option<(&'static str, &'static str)>,
    /// Success status and meaning.
    ok: (&'static str, &'static str),
}

const Q: ParameterIn = ParameterIn::Query;
const P: ParameterIn = ParameterIn::Path;
const S: Type = Type::String;
const I: Type = Type::Integer;
const N: Type = Type::Number;
const B: Type = Type::Boolean;

const ID: Param = ("id", P, true, S, "plugin id");
const EXCHANGE: Param = ("exchange", Q, false, S, "exchange, any case");
const SYMBOL: Param = ("symbol", Q, false, S, "the venue's symbol, any case");
const FROM: Param = ("from", Q, false, I, "event time from, unix ms, inclusive");
const TO: Param = ("to", Q, false, I, "event time to, unix ms, inclusive");
const LIMIT: Param = ("limit", Q, false, I, "items per page");
const CURSOR: Param = ("cursor", Q, false, I, "`next_cursor` of the previous page");

const fn get(
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    params: &'static [Param],
) -> Endpoint {
    Endpoint {
        method: "get",
        path,
        tag,
        summary,
        params,
        admin: false,
        body: None,
        ok: ("200", "OK"),
    }
}

const fn admin(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    params: &'static [Param],
    body: Option<(&'static str, &'static str)>,
    ok: (&'static str, &'static str),
) -> Endpoint {
    Endpoint {
        method,
        path,
        tag: "admin",
        summary,
        params,
        admin: true,
        body,
        ok,
    }
}

/// Every endpoint of the API.
pub(crate) const ENDPOINTS: &[Endpoint] = &[
    get(
        "/health",
        "status",
        "Liveness and a summary: ok or degraded, plugins, failed plugins",
        &[],
    ),
    get(
        "/metrics",
        "status",
        "Prometheus text format: per-plugin counters, gauges and the call-latency histogram",
        &[],
    ),
    get("/api/v1/plugins", "plugins", "Every plugin's status", &[]),
    get(
        "/api/v1/feeds",
        "status",
        "Live exchange feeds: connection, messages, reconnects, book gaps, latency",
        &[],
    ),
    get(
        "/api/v1/plugins/{id}",
        "plugins",
        "One plugin's status, call latency, series names and document keys",
        &[ID],
    ),
    get(
        "/api/v1/plugins/{id}/series/{name}",
        "outputs",
        "Points of a series, oldest first",
        &[
            ID,
            ("name", P, true, S, "series name"),
            EXCHANGE,
            SYMBOL,
            FROM,
            TO,
            LIMIT,
        ],
    ),
    get(
        "/api/v1/plugins/{id}/documents/{key}",
        "outputs",
        "The latest document under a key (MessagePack body as JSON)",
        &[ID, ("key", P, true, S, "document key")],
    ),
    get(
        "/api/v1/plugins/{id}/logs",
        "outputs",
        "Log entries, newest first",
        &[
            ID,
            ("name", Q, false, S, "log name"),
            EXCHANGE,
            SYMBOL,
            FROM,
            TO,
            LIMIT,
            CURSOR,
        ],
    ),
    get(
        "/api/v1/plugins/{id}/versions",
        "plugins",
        "Version history: sha256, change, status, loaded at",
        &[ID],
    ),
    get(
        "/api/v1/plugins/{id}/dead-letters",
        "plugins",
        "Events the plugin failed on alone, with the error",
        &[ID],
    ),
    get(
        "/api/v1/signals",
        "signals",
        "Signals of every plugin, newest first",
        &[
            ("plugin", Q, false, S, "plugin id"),
            EXCHANGE,
            SYMBOL,
            ("direction", Q, false, S, "long, short or flat"),
            ("strength", Q, false, S, "strong, medium, weak or ignore"),
            FROM,
            TO,
            LIMIT,
            CURSOR,
        ],
    ),
    get(
        "/api/v1/signals/stats",
        "signals",
        "Signal counts by plugin, strength and direction over 1h, 4h, 24h and all",
        &[("plugin", Q, false, S, "plugin id"), EXCHANGE, SYMBOL],
    ),
    get(
        "/api/v1/liquidations",
        "analytics",
        "Liquidations, newest first",
        &[
            EXCHANGE,
            SYMBOL,
            ("side", Q, false, S, "liquidated side: long or short"),
            FROM,
            TO,
            LIMIT,
            CURSOR,
        ],
    ),
    get(
        "/api/v1/liquidations/recent",
        "analytics",
        "The newest liquidations (default 50)",
        &[EXCHANGE, SYMBOL, LIMIT],
    ),
    get(
        "/api/v1/liquidations/stats",
        "analytics",
        "Counts and notional by side over 1h, 4h and 24h of event time",
        &[EXCHANGE, SYMBOL],
    ),
    get(
        "/api/v1/long-short-ratios/current",
        "analytics",
        "The newest taker and account long/short ratios per instrument",
        &[EXCHANGE, SYMBOL],
    ),
    get(
        "/api/v1/long-short-ratios/history",
        "analytics",
        "Ratio points, newest first",
        &[
            EXCHANGE,
            SYMBOL,
            ("kind", Q, false, S, "taker or account"),
            FROM,
            TO,
            LIMIT,
            (
                "cursor",
                Q,
                false,
                I,
                "`next_cursor` of the previous page (a time)",
            ),
        ],
    ),
    get(
        "/api/v1/liquidation-map",
        "analytics",
        "The liquidation map of one instrument",
        &[
            ("exchange", Q, true, S, "exchange"),
            ("symbol", Q, true, S, "symbol"),
        ],
    ),
    get("/api/v1/whales", "analytics", "Watched accounts", &[]),
    admin(
        "post",
        "/api/v1/whales",
        "Watch one more account",
        &[],
        Some(("application/json", "{\"account\": \"0x…\"}")),
        ("201", "Added; the list"),
    ),
    admin(
        "delete",
        "/api/v1/whales/{account}",
        "Stop watching an account",
        &[("account", P, true, S, "account address")],
        None,
        ("200", "Removed; the list"),
    ),
    get(
        "/api/v1/whales/{account}/activities",
        "analytics",
        "A watched account's trades, position changes and liquidations, newest first",
        &[
            ("account", P, true, S, "account address"),
            EXCHANGE,
            SYMBOL,
            FROM,
            TO,
            LIMIT,
            CURSOR,
        ],
    ),
    get(
        "/api/v1/opportunities",
        "analytics",
        "Funding-rate arbitrage opportunities, best net APR first",
        &[
            ("base", Q, false, S, "base asset"),
            ("exchange", Q, false, S, "either leg's exchange"),
            (
                "min_net_apr",
                Q,
                false,
                N,
                "at least this net APR (a fraction)",
            ),
        ],
    ),
    get(
        "/api/v1/ws",
        "live",
        "WebSocket: subscribe to channels (liquidations, long_short_ratio, liquidation_map, whale_activities, opportunities, signals, plugin:{id})",
        &[],
    ),
    get("/api/v1/openapi.json", "status", "This document", &[]),
    admin(
        "post",
        "/api/v1/plugins/{id}",
        "Add a plugin; the body is the component",
        &[ID, ("config", Q, false, S, "the plugin's config, JSON")],
        Some(("application/wasm", "the component")),
        ("201", "Added; its status"),
    ),
    admin(
        "delete",
        "/api/v1/plugins/{id}",
        "Remove a plugin",
        &[ID],
        None,
        ("204", "Removed"),
    ),
    admin(
        "put",
        "/api/v1/plugins/{id}/wasm",
        "Swap in new code, keeping the state; the code must be the same plugin (name) unless rename=true",
        &[
            ID,
            (
                "rename",
                Q,
                false,
                B,
                "accept code that gives another plugin name",
            ),
        ],
        Some(("application/wasm", "the component")),
        ("200", "Swapped; the status"),
    ),
    admin(
        "put",
        "/api/v1/plugins/{id}/config",
        "Re-initialize with a new config, keeping the state",
        &[ID],
        Some(("application/json", "the config, a JSON object")),
        ("200", "Swapped; the status"),
    ),
    admin(
        "post",
        "/api/v1/plugins/{id}/pause",
        "Stop delivering events (skipped and counted)",
        &[ID],
        None,
        ("200", "Paused; the status"),
    ),
    admin(
        "post",
        "/api/v1/plugins/{id}/resume",
        "Resume a paused, quarantined or failed plugin",
        &[ID],
        None,
        ("200", "Running; the status"),
    ),
    admin(
        "post",
        "/api/v1/plugins/{id}/reload",
        "Re-read the plugin's file, or re-initialize an upload",
        &[ID],
        None,
        ("200", "Reloaded; the status"),
    ),
    admin(
        "post",
        "/api/v1/plugins/{id}/rollback",
        "Return to the previous version (code and config)",
        &[ID],
        None,
        ("200", "Rolled back; the status"),
    ),
];

fn method(m: &str) -> HttpMethod {
    match m {
        "post" => HttpMethod::Post,
        "put" => HttpMethod::Put,
        "delete" => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

fn json_object() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object)
}

/// Builds the document.
pub(crate) fn build() -> OpenApi {
    let error = json_object()
        .property(
            "error",
            json_object()
                .property("code", ObjectBuilder::new().schema_type(Type::String))
                .property("message", ObjectBuilder::new().schema_type(Type::String))
                .required("code")
                .required("message"),
        )
        .required("error")
        .description(Some("Every error: a stable code and a message"));
    let mut paths = PathsBuilder::new();
    for e in ENDPOINTS {
        let mut op = OperationBuilder::new()
            .tag(e.tag)
            .summary(Some(e.summary))
            .operation_id(Some(format!(
                "{}{}",
                e.method,
                e.path.replace(['/', '{', '}', '.', '-'], "_")
            )));
        for (name, place, required, kind, description) in e.params {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(place.clone())
                    .required(if *required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(*description))
                    .schema(Some({
                        let schema = ObjectBuilder::new().schema_type(kind.clone());
                        // The server refuses a page of nothing.
                        if *name == "limit" {
                            schema.minimum(Some(1))
                        } else {
                            schema
                        }
                    })),
            );
        }
        if let Some((content_type, description)) = e.body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some(description))
                    .required(Some(Required::True))
                    .content(content_type, ContentBuilder::new().build())
                    .build(),
            ));
        }
        let ok_type = if e.path == "/metrics" {
            "text/plain"
        } else {
            "application/json"
        };
        let mut ok = ResponseBuilder::new().description(e.ok.1);
        if e.ok.0 != "204" {
            ok = ok.content(
                ok_type,
                ContentBuilder::new().schema(Some(json_object())).build(),
            );
        }
        op = op.response(e.ok.0, ok.build()).response(
            "default",
            ResponseBuilder::new()
                .description("An error")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .build(),
        );
        if e.admin {
            op = op.security(SecurityRequirement::new(
                "admin_token",
                Vec::<String>::new(),
            ));
        }
        paths = paths.path(e.path, PathItem::new(method(e.method), op.build()));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Prism API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Plugins and their outputs: series, documents, logs, signals; analytics over \
                     the reference plugins; administration behind a bearer token.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            ComponentsBuilder::new()
                .schema("Error", error)
                .security_scheme(
                    "admin_token",
                    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
                )
                .build(),
        ))
        .build()
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn document() -> Json<OpenApi> {
    Json(build())
}
