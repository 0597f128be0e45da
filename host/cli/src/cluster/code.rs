//! The plugins' code in a cluster: every host runs one version of each
//! plugin. At start a host takes the cluster's code (or publishes its own
//! file's); each round it publishes a swap made here and applies a newer
//! version published by another host, and brings its instances to their
//! member's version.

use super::{Manager, Member};
use prism_model::partition::split_instance;
use prism_model::wall_ms;
use prism_nats::cluster::CodeHead;
use std::sync::Arc;

/// Times a version's replacement is tried on one instance before these
/// rounds leave it (its refusal stays in the cluster's status).
const REFUSALS: u32 = 3;

/// What a held instance runs, against its member's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// The member's version.
    Current,
    /// Another version, put there by someone other than these rounds (an
    /// upload to the instance, a changed file) after the member took its
    /// version: to publish.
    LocalSwap,
    /// Another version these rounds placed there (a replacement refused, an
    /// instance started before the member changed), or one older than the
    /// member's: to replace.
    Stale,
}

/// What an instance running `sha256`, loaded at `loaded_at_ms`, is for
/// `member`, when these rounds last placed `placed` on it.
fn found(sha256: &str, loaded_at_ms: i64, placed: Option<&str>, member: &Member) -> Found {
    found_against(
        sha256,
        loaded_at_ms,
        placed,
        &member.sha256,
        member.since_ms,
    )
}

/// [`found`], against a member running `member_sha256` since `since_ms`.
fn found_against(
    sha256: &str,
    loaded_at_ms: i64,
    placed: Option<&str>,
    member_sha256: &str,
    since_ms: i64,
) -> Found {
    if sha256 == member_sha256 {
        Found::Current
    } else if placed != Some(sha256) && loaded_at_ms > since_ms {
        Found::LocalSwap
    } else {
        Found::Stale
    }
}

impl Manager {
    /// At start: each plugin runs the cluster's code when the cluster has
    /// some (the hosts running already decide), else this host's file,
    /// which becomes the cluster's.
    pub(super) fn adopt_cluster_code(&mut self) -> Result<(), String> {
        let store = self.parts.cluster.code();
        let heads = self
            .calls
            .round("reading the cluster's code", store.heads())
            .map_err(|e| e.to_string())?;
        for member in &mut self.members {
            match heads.get(member.id.as_str()) {
                Some(head) => {
                    let wasm = self
                        .calls
                        .round(
                            "fetching the cluster's code",
                            store.fetch(member.id.as_str()),
                        )
                        .map_err(|e| e.to_string())?
                        .filter(|w| prism_runtime::content_digest(w) == head.sha256)
                        .ok_or_else(|| {
                            format!("`{}`: the cluster's code does not read whole", member.id)
                        })?;
                    if head.sha256 != member.sha256 {
                        tracing::info!(plugin = %member.id, sha256 = %head.sha256, "running the cluster's code, not this host's file");
                    }
                    member.code = wasm.into();
                    member.sha256.clone_from(&head.sha256);
                    member.since_ms = head.at_ms;
                }
                None => {
                    member.since_ms = wall_ms();
                    let head = CodeHead {
                        plugin: member.id.to_string(),
                        sha256: member.sha256.clone(),
                        at_ms: member.since_ms,
                        host: self.parts.cluster.settings().host.clone(),
                        bytes: member.code.len() as u64,
                    };
                    self.calls
                        .round("publishing code", store.publish(&head, &member.code))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Keeps every host on one version of each plugin: a swap made here (a
    /// changed file, an upload to one instance) is published and applied
    /// to this host's other instances; a newer version published by
    /// another host is applied to all of this host's.
    pub(super) fn sync_code(&mut self) -> Result<(), String> {
        let host = self.parts.cluster.settings().host.clone();
        let supervisor = self.parts.supervisor.clone();
        let instances: Vec<String> = self
            .held
            .values()
            .flat_map(|h| h.instances.clone())
            .collect();
        let mut changed: Vec<(usize, Arc<[u8]>, String, i64)> = Vec::new();
        for (at, member) in self.members.iter().enumerate() {
            // Swapped here, by someone other than these rounds, since the
            // member took its code.
            let local = instances
                .iter()
                .filter(|i| split_instance(i).0 == member.id.as_str())
                .filter_map(|i| supervisor.view(i))
                .find(|v| {
                    let placed = self.placed.get(v.id.as_str()).map(String::as_str);
                    found(&v.sha256, v.loaded_at_ms, placed, member) == Found::LocalSwap
                });
            if let Some(view) = local
                && let Some(code) = supervisor.code_of(&view.id)
            {
                let head = CodeHead {
                    plugin: member.id.to_string(),
                    sha256: view.sha256.clone(),
                    at_ms: view.loaded_at_ms,
                    host: host.clone(),
                    bytes: code.len() as u64,
                };
                self.calls
                    .round(
                        "publishing code",
                        self.parts.cluster.code().publish(&head, &code),
                    )
                    .map_err(|e| e.to_string())?;
                tracing::info!(plugin = %member.id, sha256 = %head.sha256, "new code published to the cluster");
                self.placed
                    .insert(view.id.as_str().to_owned(), view.sha256.clone());
                changed.push((at, code, view.sha256.clone(), view.loaded_at_ms));
            }
        }
        let heads = self
            .calls
            .round(
                "reading the cluster's code",
                self.parts.cluster.code().heads(),
            )
            .map_err(|e| e.to_string())?;
        for (at, member) in self.members.iter().enumerate() {
            let Some(head) = heads.get(member.id.as_str()) else {
                continue;
            };
            if head.sha256 == member.sha256
                || head.at_ms <= member.since_ms
                || changed.iter().any(|(i, ..)| *i == at)
            {
                continue;
            }
            let wasm = self
                .calls
                .round(
                    "fetching the cluster's code",
                    self.parts.cluster.code().fetch(member.id.as_str()),
                )
                .map_err(|e| e.to_string())?
                .filter(|w| prism_runtime::content_digest(w) == head.sha256);
            let Some(wasm) = wasm else {
                // Being replaced right now: read again next round.
                continue;
            };
            tracing::info!(plugin = %member.id, sha256 = %head.sha256, from = %head.host, "applying the cluster's new code");
            changed.push((at, wasm.into(), head.sha256.clone(), head.at_ms));
        }
        for (at, code, sha256, since_ms) in changed {
            let member = &mut self.members[at];
            member.code = code;
            member.sha256 = sha256;
            member.since_ms = since_ms;
        }
        self.converge(&instances);
        Ok(())
    }

    /// Brings this host's instances to their member's code: at once after
    /// a new version (the cluster's, or one swapped here), and on later
    /// rounds again for an instance whose replacement was refused (busy,
    /// restoring), at most [`REFUSALS`] times a version. An instance still
    /// running what these rounds placed on it is never taken for a local
    /// swap, so a refused replacement cannot publish the old code as new.
    fn converge(&mut self, instances: &[String]) {
        let supervisor = self.parts.supervisor.clone();
        for member in &self.members {
            for instance in instances
                .iter()
                .filter(|i| split_instance(i).0 == member.id.as_str())
            {
                let Some(view) = supervisor.view(instance) else {
                    continue;
                };
                let placed = self.placed.get(instance.as_str()).map(String::as_str);
                if found(&view.sha256, view.loaded_at_ms, placed, member) != Found::Stale {
                    continue;
                }
                let refused = match self.refusals.get(instance.as_str()) {
                    Some((sha256, times)) if *sha256 == member.sha256 => *times,
                    _ => 0,
                };
                if refused >= REFUSALS {
                    continue;
                }
                match supervisor.replace_bytes(
                    instance,
                    &member.code,
                    prism_control::Change::Wasm,
                    prism_control::Rename::Refuse,
                ) {
                    Ok(now) => {
                        self.placed.insert(instance.clone(), now.sha256);
                        self.refusals.remove(instance.as_str());
                    }
                    Err(e) => {
                        tracing::warn!(%instance, attempt = refused + 1, "the cluster's new code was refused here: {e}");
                        self.last_error = Some(format!("`{instance}`: {e}"));
                        self.refusals
                            .insert(instance.clone(), (member.sha256.clone(), refused + 1));
                    }
                }
            }
        }
        self.placed.retain(|i, _| instances.contains(i));
        self.refusals.retain(|i, _| instances.contains(i));
    }
}

#[cfg(test)]
mod tests {
    use super::{Found, found_against};

    /// The member runs "new" since t = 100 (another host's swap).
    #[test]
    fn only_a_version_these_rounds_did_not_place_is_a_local_swap() {
        let at = |sha: &str, loaded: i64, placed: Option<&str>| {
            found_against(sha, loaded, placed, "new", 100)
        };
        assert_eq!(at("new", 50, Some("old")), Found::Current);
        // Started here with the old code after the other host's swap, its
        // replacement refused: not a swap to publish (that would make the
        // old code the cluster's newest), one to try again.
        assert_eq!(at("old", 150, Some("old")), Found::Stale);
        // Uploaded here after the member took its version: published.
        assert_eq!(at("mine", 150, Some("new")), Found::LocalSwap);
        assert_eq!(at("mine", 150, None), Found::LocalSwap);
        // Loaded before the member's version: older, replaced.
        assert_eq!(at("mine", 90, Some("new")), Found::Stale);
        assert_eq!(at("old", 90, Some("old")), Found::Stale);
    }
}
