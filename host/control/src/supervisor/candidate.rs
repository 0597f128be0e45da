//! Candidate versions: new code started beside a plugin's running version,
//! given the same batches, its outputs compared and never served, then
//! promoted (it becomes the running version with its own state) or
//! discarded. The worker runs the candidate and the comparison; this side
//! prepares it off the hot path and keeps the record the API shows.

use super::{Origin, Supervisor, Unpoisoned, lock, view_of};
use crate::error::ControlError;
use crate::settings::{PluginSettings, prepare};
use crate::view::{CandidateView, Change, PluginView};
use prism_runtime::PluginVersion;
use prism_worker::{Comparison, Refusal, WorkerCommand};
use std::sync::Arc;

/// A running candidate, as the control plane keeps it.
pub(super) struct CandidateSlot {
    version: Arc<PluginVersion>,
    settings: PluginSettings,
    component: Arc<[u8]>,
    report: Arc<Comparison>,
}

impl CandidateSlot {
    pub(super) fn view(&self) -> CandidateView {
        CandidateView {
            name: self.version.info.name.clone(),
            version: self.version.info.version.clone(),
            sha256: self.version.digest().to_owned(),
            config: serde_json::from_str(&self.settings.config_json)
                .unwrap_or(serde_json::Value::Null),
            comparison: self.report.clone(),
        }
    }
}

impl Supervisor {
    /// Starts `wasm` as a candidate beside plugin `id`'s running version,
    /// under the running version's settings (with `config_json` instead of
    /// its config, when given). The candidate must be the same plugin (the
    /// name its `init` gives). It starts from the running version's state
    /// and is given every batch the running version processes from then on.
    ///
    /// # Errors
    /// No such plugin, one candidate already running
    /// ([`ControlError::CandidateExists`]), a component that does not load,
    /// start or take the state, another plugin's code, a plugin that trades
    /// on paper, or a plugin not running.
    pub fn start_candidate(
        &self,
        id: &str,
        wasm: &[u8],
        config_json: Option<&str>,
    ) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        let (mut settings, name) = {
            let s = slot.state.read_unpoisoned();
            if s.candidate.is_some() {
                return Err(ControlError::CandidateExists(id.to_owned()));
            }
            (s.settings.clone(), s.current.info.name.clone())
        };
        if let Some(json) = config_json {
            super::operations::check_config(json)?;
            json.clone_into(&mut settings.config_json);
        }
        let (version, instance) = prepare(&self.engine, wasm, id, &settings)?;
        if version.info.name != name {
            return Err(ControlError::NameChanged {
                id: id.to_owned(),
                from: name,
                to: version.info.name,
            });
        }
        let version = Arc::new(version);
        let report = Arc::new(Comparison::default());
        self.ask(&slot, |reply| WorkerCommand::StartCandidate {
            version: version.clone(),
            instance: Box::new(instance),
            report: report.clone(),
            reply,
        })?;
        tracing::info!(plugin = %slot.id, sha256 = version.digest(), "candidate version started");
        slot.state.write_unpoisoned().candidate = Some(CandidateSlot {
            version,
            settings,
            component: Arc::from(wasm),
            report,
        });
        Ok(view_of(&slot))
    }

    /// Makes plugin `id`'s candidate its running version, with the state
    /// the candidate built: a swap, recorded in the version history as a
    /// promotion (the running version becomes the one a rollback returns
    /// to). The candidate's code becomes the plugin's source.
    ///
    /// # Errors
    /// No such plugin, no candidate, or a candidate that stopped.
    pub fn promote_candidate(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        if slot.state.read_unpoisoned().candidate.is_none() {
            return Err(ControlError::Refused(Refusal::NoCandidate));
        }
        if let Err(e) = self.ask(&slot, |reply| WorkerCommand::Promote { reply }) {
            if gone(&e) {
                slot.state.write_unpoisoned().candidate = None;
            }
            return Err(e);
        }
        let Some(candidate) = slot.state.write_unpoisoned().candidate.take() else {
            return Err(ControlError::Refused(Refusal::NoCandidate));
        };
        slot.state.write_unpoisoned().origin = Origin::Upload {
            component: candidate.component,
        };
        self.activated(
            &slot,
            &candidate.version,
            candidate.settings,
            Change::Promote,
        );
        Ok(view_of(&slot))
    }

    /// Stops and drops plugin `id`'s candidate; the running version never
    /// noticed it.
    ///
    /// # Errors
    /// No such plugin, or no candidate.
    pub fn discard_candidate(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        if slot.state.read_unpoisoned().candidate.is_none() {
            return Err(ControlError::Refused(Refusal::NoCandidate));
        }
        match self.ask(&slot, |reply| WorkerCommand::Discard { reply }) {
            // The worker dropped it on its own (the plugin took up paper
            // trading): the record goes too.
            Err(e) if !gone(&e) => return Err(e),
            _ => {}
        }
        slot.state.write_unpoisoned().candidate = None;
        tracing::info!(plugin = %slot.id, "candidate version discarded");
        Ok(view_of(&slot))
    }
}

/// The worker has no candidate any more (it dropped it on its own).
fn gone(e: &ControlError) -> bool {
    matches!(e, ControlError::Refused(Refusal::NoCandidate))
}
