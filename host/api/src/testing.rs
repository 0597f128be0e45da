//! Test doubles for the API's unit tests, and one way to call the router.

use prism_control::{ControlError, PluginControl, PluginView, VersionRecord};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A control plane with fixed plugins. Changes are refused, except config
/// replacements, which are recorded (and change the view's config).
pub(crate) struct Fixed(pub(crate) Mutex<Vec<PluginView>>);

/// A view of a plugin `id` with `config`.
pub(crate) fn view(id: &str, config: Value) -> PluginView {
    PluginView {
        id: id.into(),
        name: id.into(),
        version: "1.0.0".into(),
        contract: "0.2.0",
        sha256: "00".repeat(32),
        code: "optimized",
        source: format!("{id}.wasm"),
        config,
        subscription: prism_model::Subscription::default(),
        loaded_at_ms: 0,
        candidate: None,
        metrics: Arc::default(),
        queue_depth: Arc::default(),
    }
}

impl Fixed {
    pub(crate) fn new(views: Vec<PluginView>) -> Self {
        Self(Mutex::new(views))
    }
}

impl PluginControl for Fixed {
    fn views(&self) -> Vec<PluginView> {
        self.0.lock().unwrap().clone()
    }
    fn view(&self, id: &str) -> Option<PluginView> {
        self.views().into_iter().find(|v| v.id == id)
    }
    fn versions(&self, id: &str) -> Result<Vec<VersionRecord>, ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn add(&self, id: &str, _: &[u8], _: Option<&str>) -> Result<PluginView, ControlError> {
        Err(ControlError::Exists(id.into()))
    }
    fn replace_wasm(
        &self,
        id: &str,
        _: &[u8],
        _: prism_control::Rename,
    ) -> Result<PluginView, ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn replace_config(&self, id: &str, config: &str) -> Result<PluginView, ControlError> {
        let mut views = self.0.lock().unwrap();
        let v = views
            .iter_mut()
            .find(|v| v.id == id)
            .ok_or_else(|| ControlError::NotFound(id.into()))?;
        v.config = serde_json::from_str(config).unwrap_or(json!(null));
        Ok(v.clone())
    }
    fn pause(&self, id: &str) -> Result<PluginView, ControlError> {
        self.view(id)
            .ok_or_else(|| ControlError::NotFound(id.into()))
    }
    fn resume(&self, id: &str) -> Result<PluginView, ControlError> {
        self.pause(id)
    }
    fn reload(&self, id: &str) -> Result<PluginView, ControlError> {
        self.pause(id)
    }
    fn rollback(&self, id: &str) -> Result<PluginView, ControlError> {
        Err(ControlError::NoPrevious(id.into()))
    }
    fn remove(&self, id: &str) -> Result<(), ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn start_candidate(
        &self,
        id: &str,
        _: &[u8],
        _: Option<&str>,
    ) -> Result<PluginView, ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn promote_candidate(&self, id: &str) -> Result<PluginView, ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn discard_candidate(&self, id: &str) -> Result<PluginView, ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn account(
        &self,
        id: &str,
        _: prism_worker::AccountCommand,
    ) -> Result<prism_worker::AccountAnswer, ControlError> {
        Err(ControlError::NotFound(id.into()))
    }
    fn trading(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Sends `request` through the router over `state`: the status and the
/// body as JSON (null when it is not JSON).
pub(crate) async fn call(
    state: &crate::state::AppState,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, Value) {
    use tower::ServiceExt;
    let response = crate::app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
