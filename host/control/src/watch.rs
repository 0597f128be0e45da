//! Watches plugin files and the config file, and applies their changes.
//!
//! Directories are watched rather than files, so an editor's or a build
//! tool's write-then-rename is seen like an in-place write. Writes are
//! debounced: a burst of writes to one file makes one reload, of the final
//! content. A file renamed into place is whole the moment it appears, so
//! it is applied at once, without the debounce (the fast path of a swap).
//! A plugin file whose content did not change is left alone.

use crate::reconcile::Reconciled;
use crate::supervisor::Supervisor;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher as _};
use prism_config::Config;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running watcher; dropping it stops it.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The absolute form of a path whose file may not exist yet: its
/// directory made canonical, its name kept.
fn normal(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .join(name),
        _ => absolute,
    }
}

fn relevant(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// The files an event says were renamed into place: complete as they are.
fn renamed_into(event: &notify::Event) -> Vec<PathBuf> {
    match event.kind {
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            event.paths.iter().map(|p| normal(p)).collect()
        }
        // [from, to]
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            event.paths.last().map(|p| normal(p)).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

struct State {
    supervisor: Arc<Supervisor>,
    config: Option<PathBuf>,
    inner: notify::RecommendedWatcher,
    dirs: HashSet<PathBuf>,
}

impl State {
    fn watch_dirs(&mut self) {
        let mut wanted: Vec<PathBuf> = self
            .supervisor
            .watched_files()
            .into_iter()
            .map(|(_, p, _)| normal(&p))
            .collect();
        wanted.extend(self.config.iter().cloned());
        for file in wanted {
            let Some(dir) = file.parent() else { continue };
            if self.dirs.contains(dir) {
                continue;
            }
            match self.inner.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.dirs.insert(dir.to_path_buf());
                }
                Err(e) => tracing::warn!(dir = %dir.display(), "cannot watch for changes: {e}"),
            }
        }
    }

    fn changed(&mut self, paths: &HashSet<PathBuf>) {
        if let Some(config) = &self.config
            && paths.contains(config)
        {
            match Config::load(config) {
                Ok(c) => report(&self.supervisor.apply_config(&c)),
                Err(e) => tracing::error!("config change not applied: {e}"),
            }
            self.watch_dirs();
        }
        for (id, path, _) in self.supervisor.watched_files() {
            if !paths.contains(&normal(&path)) {
                continue;
            }
            match self.supervisor.file_changed(&id, &path) {
                Ok(Some(view)) => {
                    tracing::info!(plugin = %id, sha256 = %view.sha256, "new version from {}", path.display());
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(plugin = %id, "new version from {} refused; the old one keeps running: {e}", path.display());
                }
            }
        }
    }
}

fn report(r: &Reconciled) {
    tracing::info!(added = ?r.added, removed = ?r.removed, changed = ?r.changed, "config reloaded");
    for (id, e) in &r.refused {
        tracing::error!(plugin = %id, "config change refused; the plugin keeps running as it was: {e}");
    }
}

/// Starts watching the supervisor's plugin files and, if given, the config
/// file. Changes are applied `debounce` after the last write of a burst.
///
/// # Errors
/// When the OS file-watching facility cannot be set up.
pub fn watch(
    supervisor: Arc<Supervisor>,
    config: Option<&Path>,
    debounce: Duration,
) -> Result<Watcher, notify::Error> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event);
    })?;
    let mut state = State {
        supervisor,
        config: config.map(normal),
        inner,
        dirs: HashSet::new(),
    };
    state.watch_dirs();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::Builder::new()
        .name("prism-watch".into())
        .spawn(move || {
            let mut pending: HashSet<PathBuf> = HashSet::new();
            while !stopped.load(Ordering::Relaxed) {
                let wait = if pending.is_empty() {
                    Duration::from_millis(200)
                } else {
                    debounce
                };
                match rx.recv_timeout(wait) {
                    Ok(Ok(event)) => {
                        let ready: HashSet<PathBuf> = renamed_into(&event).into_iter().collect();
                        if !ready.is_empty() {
                            for path in &ready {
                                pending.remove(path);
                            }
                            state.changed(&ready);
                        } else if relevant(event.kind) {
                            pending.extend(event.paths.iter().map(|p| normal(p)));
                        }
                    }
                    Ok(Err(e)) => tracing::warn!("file watching: {e}"),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        if !pending.is_empty() {
                            let paths = std::mem::take(&mut pending);
                            state.changed(&paths);
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(Watcher {
        stop,
        thread: Some(thread),
    })
}
