//! The dashboard: one page and its scripts, embedded in the binary so that
//! `prism run` serves it with no internet and no other server.
//!
//! The page reads only the public API (`/health`, `/api/v1/…`, the
//! WebSocket); it holds no state of its own beyond the admin token, which
//! it keeps in the browser's session storage. The assets are the files in
//! `host/api/dashboard/`, written by hand (no build step, no library).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// One embedded file: its path under `/dashboard/`, type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 4] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../dashboard/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../dashboard/app.js"),
    },
    Asset {
        name: "format.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../dashboard/format.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../dashboard/style.css"),
    },
];

/// Only the page's own origin: no script, style or connection elsewhere,
/// so a value a plugin wrote can never pull in code.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `/` (redirects to the page) and `/dashboard/{file}`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/", get(|| async { Redirect::to("/dashboard/") }));
    for asset in &ASSETS {
        let path = if asset.name == "index.html" {
            "/dashboard/".to_owned()
        } else {
            format!("/dashboard/{}", asset.name)
        };
        router = router.route(&path, get(move || async move { serve(asset) }));
    }
    router
}

fn serve(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The binary is the version: a browser asks again after an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_root_leads_to_the_page_and_every_asset_is_served_with_its_type() {
        let root = get("/").await;
        assert_eq!(root.status(), StatusCode::SEE_OTHER);
        assert_eq!(root.headers()[header::LOCATION], "/dashboard/");
        for (path, kind) in [
            ("/dashboard/", "text/html"),
            ("/dashboard/app.js", "text/javascript"),
            ("/dashboard/format.js", "text/javascript"),
            ("/dashboard/style.css", "text/css"),
        ] {
            let r = get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let ct = r.headers()[header::CONTENT_TYPE].to_str().unwrap();
            assert!(ct.starts_with(kind), "{path}: {ct}");
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        assert_eq!(
            get("/dashboard/nope.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    /// Every script and style the page names is one the server has: a
    /// renamed file would otherwise fail only in a browser.
    #[test]
    fn the_page_names_only_embedded_files() {
        let page = ASSETS[0].body;
        let targets = page
            .split("src=\"")
            .skip(1)
            .chain(page.split("href=\"").skip(1));
        for part in targets {
            let target = part.split('"').next().unwrap();
            if let Some(name) = target.strip_prefix("/dashboard/") {
                assert!(ASSETS.iter().any(|a| a.name == name), "{target}");
            }
        }
        let app = ASSETS[1].body;
        assert!(app.contains("from './format.js'"));
    }
}
