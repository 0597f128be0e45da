//! The OpenAPI 3.1 document, derived from the handlers and the bodies they
//! answer with (each area's router registers its paths), served at
//! `GET /api/v1/openapi.json`.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// What every path shares: the title, the error body, the admin token.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Prism API",
        description = "Plugins and their outputs: series, documents, logs, signals; analytics over the reference plugins; administration behind a bearer token."
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&AdminToken)
)]
pub(crate) struct Base;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, doc: &mut Document) {
        if let Some(components) = doc.components.as_mut() {
            components.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}
