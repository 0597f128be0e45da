//! The on-disk cache of compiled plugins.
//!
//! A compiled artifact is native code: loading one that someone altered
//! would run their code outside the sandbox. So every artifact carries a
//! keyed hash (HMAC-SHA-256) written when Prism compiled it; the key lives
//! beside the cache directory (`<data_dir>/cache.key`, readable by the owner
//! only), never inside it. An artifact is read into memory, checked against
//! its hash, and only then deserialized from that same memory, so nothing
//! can change between the check and the load. A directory or key that other
//! users can write is refused (the cache is then off, with a warning): it
//! could be made to hold a forged artifact or key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

type Tag = Hmac<Sha256>;

/// Bytes of the keyed hash that starts every artifact file.
const TAG_BYTES: usize = 32;
const KEY_BYTES: usize = 32;

/// Why the cache cannot be used; compiling still works without it.
#[derive(Debug, thiserror::Error)]
pub enum CacheRefused {
    #[error("cannot create or read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} can be written by other users (mode {mode:o}) or belongs to another user; \
         a compiled artifact there could be forged: `chmod go-w` it or choose another runtime.data_dir"
    )]
    Unsafe { path: String, mode: u32 },
    #[error("{path} is not a {KEY_BYTES}-byte cache key; delete it and Prism makes a new one")]
    BadKey { path: String },
}

/// A verified cache of compiled artifacts.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheRefused + '_ {
    move |source| CacheRefused::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Refuses a file or directory that another user owns or may write.
fn private(path: &Path, meta: &fs::Metadata, forbidden: u32) -> Result<(), CacheRefused> {
    let mode = meta.permissions().mode() & 0o7777;
    if meta.uid() != rustix::process::geteuid().as_raw() || mode & forbidden != 0 {
        return Err(CacheRefused::Unsafe {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

impl ArtifactCache {
    /// Opens (creating, owner-only) the cache directory `dir` and its key
    /// `<dir>.key`.
    ///
    /// # Errors
    /// [`CacheRefused`] when either cannot be made or is not private.
    pub(crate) fn open(dir: &Path) -> Result<Self, CacheRefused> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let meta = fs::metadata(dir).map_err(io(dir))?;
        private(dir, &meta, 0o022)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let meta = fs::metadata(parent).map_err(io(parent))?;
            // A parent others may write lets them replace the whole cache.
            if meta.permissions().mode() & 0o002 != 0 && meta.permissions().mode() & 0o1000 == 0 {
                return Err(CacheRefused::Unsafe {
                    path: parent.display().to_string(),
                    mode: meta.permissions().mode() & 0o7777,
                });
            }
        }
        let key_path = dir.with_extension("key");
        let key = read_or_make_key(&key_path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn tag(&self, name: &str, bytes: &[u8]) -> Tag {
        let mut mac = Tag::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        // The name binds the artifact to the component and engine it is for,
        // so two genuine artifacts cannot be swapped.
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(bytes);
        mac
    }

    /// Whether an artifact `name` is stored (not verified: a read will).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.path(name).is_file()
    }

    /// The verified bytes of artifact `name`, or `None` when there is none.
    /// An artifact that fails verification is removed and reported.
    pub(crate) fn read(&self, name: &str) -> Option<Vec<u8>> {
        let path = self.path(name);
        let mut bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the cached artifact, recompiling: {e}");
                return None;
            }
        };
        let verified = bytes.len() >= TAG_BYTES && {
            let (tag, body) = bytes.split_at(TAG_BYTES);
            self.tag(name, body).verify_slice(tag).is_ok()
        };
        if !verified {
            tracing::warn!(
                path = %path.display(),
                "the cached artifact does not match the hash Prism wrote for it (altered or damaged); recompiling"
            );
            let _ = fs::remove_file(&path);
            return None;
        }
        bytes.drain(..TAG_BYTES);
        Some(bytes)
    }

    /// Writes artifact `name` with its keyed hash (write, then rename).
    ///
    /// # Errors
    /// I/O errors; a partial temporary file is removed.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(name);
        let tmp = self.path(&format!("{name}.tmp{}", std::process::id()));
        let result = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&self.tag(name, bytes).finalize().into_bytes())?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn read_or_make_key(path: &Path) -> Result<[u8; KEY_BYTES], CacheRefused> {
    match fs::metadata(path) {
        Ok(meta) => {
            private(path, &meta, 0o077)?;
            let bytes = fs::read(path).map_err(io(path))?;
            bytes.try_into().map_err(|_| CacheRefused::BadKey {
                path: path.display().to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_BYTES];
            getrandom::fill(&mut key).map_err(|e| CacheRefused::Io {
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            // Written whole under a name of its own, then linked into place:
            // processes starting together never see half a key, and the one
            // that links second uses the first one's.
            let tmp = path.with_extension(format!("key.tmp{}", std::process::id()));
            let written = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut file| file.write_all(&key).and_then(|()| file.sync_all()))
                .and_then(|()| fs::hard_link(&tmp, path));
            let _ = fs::remove_file(&tmp);
            match written {
                Ok(()) => Ok(key),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_or_make_key(path),
                Err(e) => Err(io(path)(e)),
            }
        }
        Err(e) => Err(io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("prism-cache-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_altered_byte_anywhere_is_refused_and_removed() {
        let root = temp("alter");
        let cache = ArtifactCache::open(&root.join("cache")).unwrap();
        let body: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        cache.write("a.cwasm", &body).unwrap();
        assert_eq!(cache.read("a.cwasm").as_deref(), Some(&body[..]));
        for at in [0, TAG_BYTES, TAG_BYTES + 2000, TAG_BYTES + body.len() - 1] {
            cache.write("a.cwasm", &body).unwrap();
            let path = cache.path("a.cwasm");
            let mut bytes = fs::read(&path).unwrap();
            bytes[at] ^= 0x40;
            fs::write(&path, bytes).unwrap();
            assert_eq!(cache.read("a.cwasm"), None, "byte {at}");
            assert!(!path.exists(), "the altered artifact is gone");
        }
        // A genuine artifact under another name is not accepted either.
        cache.write("b.cwasm", &body).unwrap();
        fs::copy(cache.path("b.cwasm"), cache.path("a.cwasm")).unwrap();
        assert_eq!(cache.read("a.cwasm"), None);
        // Another key (a new data directory) does not verify old artifacts.
        fs::remove_file(root.join("cache.key")).unwrap();
        let other = ArtifactCache::open(&root.join("cache")).unwrap();
        assert_eq!(other.read("b.cwasm"), None);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn directories_and_keys_others_can_write_are_refused() {
        let root = temp("perms");
        let dir = root.join("cache");
        ArtifactCache::open(&dir).unwrap();
        assert_eq!(
            fs::metadata(root.join("cache.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            ArtifactCache::open(&dir),
            Err(CacheRefused::Unsafe { .. })
        ));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(root.join("cache.key"), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ArtifactCache::open(&dir),
            Err(CacheRefused::Unsafe { .. })
        ));
        let _ = fs::remove_dir_all(&root);
    }
}
