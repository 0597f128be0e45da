//! The plugins' code in a cluster: every host runs one version of each
//! plugin. At start a host takes the cluster's code (or publishes its own
//! file's); each round it publishes a swap made here and applies a newer
//! version published by another host, and brings its instances to their
//! member's version.

use super::{Manager, Member, NatsCalls};
use prism_model::partition::split_instance;
use prism_model::wall_ms;
use prism_nats::cluster::{CodeHead, CodeStore};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Rounds in a row the store's head must name other, older code than a
/// member's before this host takes it (a single stale listing never
/// rolls a host back).
const SETTLE_ROUNDS: u32 = 2;

/// The longest gap, in rounds, between two tries of a refused replacement.
/// The gap doubles with each refusal (1, 2, 4, … rounds) up to this bound,
/// and the rounds never give up: an instance busy restoring for minutes
/// still reaches its member's version, at a bounded cost per round.
const MAX_RETRY_GAP: u64 = 32;

/// What these rounds know of one held instance.
#[derive(Debug, Clone, Default)]
pub(super) struct Tracked {
    /// The version (SHA-256) these rounds last placed on it, started or
    /// replaced.
    placed: Option<String>,
    /// The member's version it refused last, if it did.
    refused: Option<Refusal>,
}

/// A replacement an instance refused (busy, restoring, timed out).
#[derive(Debug, Clone)]
struct Refusal {
    sha256: String,
    times: u32,
    /// The round from which it is tried again.
    next_round: u64,
}

impl Tracked {
    /// Records that these rounds put `sha256` on the instance.
    pub(super) fn placed(&mut self, sha256: &str) {
        self.placed = Some(sha256.to_owned());
        self.refused = None;
    }

    /// Whether a replacement by `sha256` is due at `round`, and how many
    /// times it was refused before.
    fn due(&self, sha256: &str, round: u64) -> Option<u32> {
        match &self.refused {
            Some(r) if r.sha256 == sha256 => (round >= r.next_round).then_some(r.times),
            _ => Some(0),
        }
    }

    fn refused(&mut self, sha256: &str, round: u64) -> u32 {
        let times = match &self.refused {
            Some(r) if r.sha256 == sha256 => r.times + 1,
            _ => 1,
        };
        self.refused = Some(Refusal {
            sha256: sha256.to_owned(),
            times,
            next_round: round + retry_gap(times),
        });
        times
    }
}

/// Rounds to wait after the `times`-th refusal of one version.
fn retry_gap(times: u32) -> u64 {
    1u64.checked_shl(times.saturating_sub(1))
        .unwrap_or(MAX_RETRY_GAP)
        .min(MAX_RETRY_GAP)
}

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
/// `member`, given what these rounds know of it.
fn found(sha256: &str, loaded_at_ms: i64, tracked: Option<&Tracked>, member: &Member) -> Found {
    found_against(
        sha256,
        loaded_at_ms,
        tracked.and_then(|t| t.placed.as_deref()),
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

/// Whether a member running `member_sha256` since `since_ms` takes the
/// store's head (`head_sha256`, published at `head_at_ms`) this round: a
/// newer head at once, an older one once it has stayed [`SETTLE_ROUNDS`]
/// rounds in a row (counted in `behind_rounds`).
fn takes_head(
    head_sha256: &str,
    head_at_ms: i64,
    member_sha256: &str,
    since_ms: i64,
    behind_rounds: &mut u32,
) -> bool {
    if head_sha256 == member_sha256 {
        *behind_rounds = 0;
        return false;
    }
    if head_at_ms <= since_ms {
        *behind_rounds += 1;
        if *behind_rounds < SETTLE_ROUNDS {
            return false;
        }
    }
    true
}

impl NatsCalls {
    /// The code `head` names, from the store; `None` when the store holds
    /// other bytes (being replaced right now: read again next round).
    fn fetch_head(&self, store: &CodeStore, head: &CodeHead) -> Result<Option<Arc<[u8]>>, String> {
        Ok(self
            .round("fetching the cluster's code", store.fetch(&head.plugin))
            .map_err(|e| e.to_string())?
            .filter(|w| prism_runtime::content_digest(w) == head.sha256)
            .map(Arc::from))
    }

    /// Makes `code` (`sha256`, this member's since `at_ms`) the cluster's,
    /// published by `host`.
    fn publish(
        &self,
        store: &CodeStore,
        host: &str,
        member: &Member,
        sha256: &str,
        at_ms: i64,
        code: &[u8],
    ) -> Result<(), String> {
        let head = CodeHead {
            plugin: member.id.to_string(),
            sha256: sha256.to_owned(),
            at_ms,
            host: host.to_owned(),
            bytes: code.len() as u64,
        };
        self.round("publishing code", store.publish(&head, code))
            .map_err(|e| e.to_string())
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
                    let wasm = self.calls.fetch_head(store, head)?.ok_or_else(|| {
                        format!("`{}`: the cluster's code does not read whole", member.id)
                    })?;
                    if head.sha256 != member.sha256 {
                        tracing::info!(plugin = %member.id, sha256 = %head.sha256, "running the cluster's code, not this host's file");
                    }
                    member.code = wasm;
                    member.sha256.clone_from(&head.sha256);
                    member.since_ms = head.at_ms;
                }
                None => {
                    member.since_ms = wall_ms();
                    let host = &self.parts.cluster.settings().host;
                    self.calls.publish(
                        store,
                        host,
                        member,
                        &member.sha256,
                        member.since_ms,
                        &member.code,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Keeps every host on one version of each plugin: a swap made here (a
    /// changed file, an upload to one instance) is published and applied
    /// to this host's other instances; a newer version published by
    /// another host is applied to all of this host's.
    ///
    /// The store's head is the cluster's code. A swap made here is
    /// published only when it is newer than the head read this round
    /// (else the newer one is applied over it), and a head older than the
    /// member's version that stays for [`SETTLE_ROUNDS`] rounds is applied
    /// too: it is the put that landed last when two hosts published at
    /// once, which every other host runs.
    pub(super) fn sync_code(&mut self) -> Result<(), String> {
        let host = self.parts.cluster.settings().host.clone();
        let supervisor = self.parts.supervisor.clone();
        let instances: BTreeSet<String> = self
            .held
            .values()
            .flat_map(|h| h.instances.iter().cloned())
            .collect();
        let heads = self
            .calls
            .round(
                "reading the cluster's code",
                self.parts.cluster.code().heads(),
            )
            .map_err(|e| e.to_string())?;
        let mut changed: Vec<(usize, Arc<[u8]>, String, i64)> = Vec::new();
        for (at, member) in self.members.iter_mut().enumerate() {
            let head = heads.get(member.id.as_str());
            // Swapped here, by someone other than these rounds, since the
            // member took its code.
            let local = instances
                .iter()
                .filter(|i| split_instance(i).0 == member.id.as_str())
                .filter_map(|i| supervisor.view(i))
                .find(|v| {
                    let tracked = self.tracked.get(v.id.as_str());
                    found(&v.sha256, v.loaded_at_ms, tracked, member) == Found::LocalSwap
                });
            let newer_head = |loaded_at_ms: i64| head.is_some_and(|h| h.at_ms > loaded_at_ms);
            if let Some(view) = local
                && !newer_head(view.loaded_at_ms)
                && let Some(code) = supervisor.code_of(&view.id)
            {
                self.calls.publish(
                    self.parts.cluster.code(),
                    &host,
                    member,
                    &view.sha256,
                    view.loaded_at_ms,
                    &code,
                )?;
                tracing::info!(plugin = %member.id, sha256 = %view.sha256, "new code published to the cluster");
                self.tracked
                    .entry(view.id.clone())
                    .or_default()
                    .placed(&view.sha256);
                member.behind_rounds = 0;
                changed.push((at, code, view.sha256.clone(), view.loaded_at_ms));
                continue;
            }
            let Some(head) = head else {
                continue;
            };
            if !takes_head(
                &head.sha256,
                head.at_ms,
                &member.sha256,
                member.since_ms,
                &mut member.behind_rounds,
            ) {
                continue;
            }
            let Some(wasm) = self.calls.fetch_head(self.parts.cluster.code(), head)? else {
                // Being replaced right now: read again next round.
                continue;
            };
            tracing::info!(plugin = %member.id, sha256 = %head.sha256, from = %head.host, "applying the cluster's new code");
            member.behind_rounds = 0;
            changed.push((at, wasm, head.sha256.clone(), head.at_ms));
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
    /// restoring), with a gap that doubles up to [`MAX_RETRY_GAP`] rounds.
    /// An instance still running what these rounds placed on it is never
    /// taken for a local swap, so a refused replacement cannot publish the
    /// old code as new.
    fn converge(&mut self, instances: &BTreeSet<String>) {
        let supervisor = self.parts.supervisor.clone();
        let round = self.rounds;
        for member in &self.members {
            for instance in instances
                .iter()
                .filter(|i| split_instance(i).0 == member.id.as_str())
            {
                let Some(view) = supervisor.view(instance) else {
                    continue;
                };
                let tracked = self.tracked.entry(instance.clone()).or_default();
                if found(&view.sha256, view.loaded_at_ms, Some(tracked), member) != Found::Stale {
                    continue;
                }
                let Some(refused) = tracked.due(&member.sha256, round) else {
                    continue;
                };
                match supervisor.replace_bytes(
                    instance,
                    &member.code,
                    prism_control::Change::Wasm,
                    prism_control::Rename::Refuse,
                ) {
                    Ok(now) => tracked.placed(&now.sha256),
                    Err(e) => {
                        let times = tracked.refused(&member.sha256, round);
                        tracing::warn!(%instance, attempt = refused + 1, "the cluster's new code was refused here: {e}");
                        self.last_error = Some(format!("`{instance}` (refused {times}×): {e}"));
                    }
                }
            }
        }
        self.tracked.retain(|i, _| instances.contains(i));
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Found, MAX_RETRY_GAP, SETTLE_ROUNDS, Tracked, found_against, retry_gap, takes_head,
    };

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

    #[test]
    fn a_refused_replacement_is_tried_again_ever_more_rarely_never_given_up() {
        let gaps: Vec<u64> = (1..=8).map(retry_gap).collect();
        assert_eq!(gaps, [1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(retry_gap(u32::MAX), MAX_RETRY_GAP);
        let mut t = Tracked::default();
        assert_eq!(t.due("new", 10), Some(0));
        assert_eq!(t.refused("new", 10), 1);
        // Next round again, then after 2 and 4 rounds.
        assert_eq!(t.due("new", 10), None);
        assert_eq!(t.due("new", 11), Some(1));
        assert_eq!(t.refused("new", 11), 2);
        assert_eq!(t.due("new", 12), None);
        assert_eq!(t.due("new", 13), Some(2));
        assert_eq!(t.refused("new", 13), 3);
        assert_eq!(t.due("new", 16), None);
        assert_eq!(t.due("new", 17), Some(3));
        // Another version starts over; a placement clears the refusal.
        assert_eq!(t.due("newer", 14), Some(0));
        t.placed("new");
        assert_eq!(t.due("new", 14), Some(0));
    }

    /// Two hosts published at once and the other's put landed last, with
    /// an older time: every other host runs it, so this one takes it too,
    /// once it has stayed (a single stale listing rolls nothing back).
    #[test]
    fn the_stores_head_is_taken_when_newer_at_once_and_when_older_once_it_stays() {
        let mut behind = 0;
        assert!(!takes_head("mine", 100, "mine", 100, &mut behind));
        assert!(takes_head("theirs", 150, "mine", 100, &mut behind));
        assert_eq!(behind, 0);
        for _ in 1..SETTLE_ROUNDS {
            assert!(!takes_head("theirs", 90, "mine", 100, &mut behind));
        }
        assert!(takes_head("theirs", 90, "mine", 100, &mut behind));
        // Once the head is its own again the count starts over.
        assert!(!takes_head("mine", 100, "mine", 100, &mut behind));
        assert!(!takes_head("theirs", 90, "mine", 100, &mut behind));
    }
}
