//! Secrets on one machine: one file, encrypted with XChaCha20-Poly1305 (an AEAD: tampering is
//! detected, not decrypted into garbage). The 32-byte key comes from `MLC_SECRETS_KEY` (base64)
//! or from a key file that is created with mode 0600 beside the data and refused if others can read it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::ConnectionId;
use crate::ports::{SecretBundle, SecretStore};

/// Environment variable holding the base64 key; wins over the key file.
pub const KEY_ENV: &str = "MLC_SECRETS_KEY";
/// Bound into every ciphertext, so a file of another format or version cannot be mistaken for this one.
const AAD: &[u8] = b"mlc-secrets-v1";

/// The file key. Zeroed on drop, never printed.
pub struct SecretsKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(***)")
    }
}

impl SecretsKey {
    pub fn from_base64(text: &str) -> Result<Self> {
        // The decoder's error could echo key material; say only what is wrong.
        let bytes = Zeroizing::new(
            B64.decode(text.trim()).map_err(|_| Error::bad_input("the secrets key is not valid base64"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::bad_input(format!("the secrets key must be 32 bytes, not {}", bytes.len())))?;
        Ok(SecretsKey(Zeroizing::new(key)))
    }

    pub fn generate() -> Self {
        SecretsKey(Zeroizing::new(XChaCha20Poly1305::generate_key(&mut OsRng).into()))
    }

    /// `MLC_SECRETS_KEY` if set, else the key file (created, mode 0600, if missing).
    pub fn from_env_or_file(key_file: &Path) -> Result<Self> {
        match std::env::var(KEY_ENV) {
            Ok(text) => Self::from_base64(&text).map_err(|e| e.context(KEY_ENV.to_string())),
            Err(_) => Self::from_file(key_file),
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        match std::fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(Error::permanent(anyhow::anyhow!(
                        "the secrets key file {} has mode {mode:o}; it must be readable by its owner only (chmod 600)",
                        path.display()
                    )));
                }
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| io(path, e))?);
                Self::from_base64(&text).map_err(|e| e.context(path.display().to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| io(path, e))?;
                let text = Zeroizing::new(B64.encode(key.0.as_slice()));
                file.write_all(text.as_bytes()).and_then(|_| file.sync_all()).map_err(|e| io(path, e))?;
                tracing::info!(path = %path.display(), "created a new secrets key file");
                Ok(key)
            }
            Err(e) => Err(io(path, e)),
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::permanent(anyhow::anyhow!("{}: {e}", path.display()))
}

#[derive(Serialize, Deserialize)]
struct SealedFile {
    format: String,
    nonce: String,
    ciphertext: String,
}

/// All connections' secrets in one encrypted file, rewritten atomically (temporary file + rename).
///
/// The decrypted contents are kept for as long as the file is the same file: every webhook asks
/// for its connection's secret, and decrypting the whole file each time is most of the cost of
/// a small request. A change by any process is seen at once, never after a delay: each write is
/// a new file renamed into place (a new inode), and an edit in place changes the size or times.
pub struct EncryptedSecretsFile {
    path: PathBuf,
    cipher: XChaCha20Poly1305,
    // Serializes read-modify-write cycles within this process.
    write_lock: tokio::sync::Mutex<()>,
    decrypted: Mutex<Option<(FileStamp, Arc<Plain>)>>,
    /// How often the file was read and decrypted (the cache's misses).
    decrypts: AtomicU64,
}

type Plain = BTreeMap<String, Zeroizing<String>>;

/// Which version of the file is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified_ns: (i64, i64),
    changed_ns: (i64, i64),
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified_ns: (meta.mtime(), meta.mtime_nsec()),
            changed_ns: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl EncryptedSecretsFile {
    pub fn new(path: impl Into<PathBuf>, key: &SecretsKey) -> Self {
        EncryptedSecretsFile {
            path: path.into(),
            cipher: XChaCha20Poly1305::new(key.0.as_slice().into()),
            write_lock: tokio::sync::Mutex::new(()),
            decrypted: Mutex::new(None),
            decrypts: AtomicU64::new(0),
        }
    }

    /// The file's contents, decrypted again only when the file changed. The stamp is taken
    /// before the read, so a file replaced in between is cached under the older stamp and read
    /// again next time: the cache can be behind by one read, never stale.
    fn load(&self) -> Result<Arc<Plain>> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(meta) => FileStamp::of(&meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::default()),
            Err(e) => return Err(io(&self.path, e)),
        };
        if let Some((cached, plain)) = self.decrypted.lock().expect("secrets cache lock").as_ref()
            && *cached == stamp
        {
            return Ok(plain.clone());
        }
        let plain = Arc::new(self.read_and_decrypt()?);
        *self.decrypted.lock().expect("secrets cache lock") = Some((stamp, plain.clone()));
        Ok(plain)
    }

    fn read_and_decrypt(&self) -> Result<Plain> {
        self.decrypts.fetch_add(1, Ordering::Relaxed);
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Plain::new()),
            Err(e) => return Err(io(&self.path, e)),
        };
        let unreadable = |why: &str| Error::permanent(anyhow::anyhow!("secrets file {}: {why}", self.path.display()));
        let sealed: SealedFile = serde_json::from_str(&text).map_err(|_| unreadable("not a sealed secrets file"))?;
        if sealed.format != "mlc-secrets-v1" {
            return Err(unreadable("unknown format"));
        }
        let nonce = B64.decode(&sealed.nonce).map_err(|_| unreadable("bad nonce"))?;
        if nonce.len() != 24 {
            return Err(unreadable("bad nonce"));
        }
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|_| unreadable("bad ciphertext"))?;
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: AAD })
                .map_err(|_| unreadable("cannot decrypt: wrong key, or the file was altered"))?,
        );
        let map: BTreeMap<String, String> = serde_json::from_slice(&plain).map_err(|_| unreadable("bad contents"))?;
        Ok(map.into_iter().map(|(k, v)| (k, Zeroizing::new(v))).collect())
    }

    fn store(&self, plain: &Plain) -> Result<()> {
        let map: BTreeMap<&str, &str> = plain.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let json = Zeroizing::new(serde_json::to_vec(&map).expect("strings serialize"));
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: &json, aad: AAD })
            .map_err(|_| Error::permanent(anyhow::anyhow!("encrypting the secrets file failed")))?;
        let sealed = SealedFile {
            format: "mlc-secrets-v1".into(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        };
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io(&tmp, e))?;
        file.write_all(serde_json::to_string(&sealed).expect("serializes").as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e))?;
        // The old contents go now rather than at the next read (which would miss anyway).
        *self.decrypted.lock().expect("secrets cache lock") = None;
        Ok(())
    }
}

#[async_trait]
impl SecretStore for EncryptedSecretsFile {
    async fn get(&self, connection: &ConnectionId) -> Result<Option<SecretBundle>> {
        self.load()?.get(connection.as_str()).map(|json| SecretBundle::from_json(json)).transpose()
    }

    async fn put(&self, connection: &ConnectionId, secrets: &SecretBundle) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut plain: Plain = self.load()?.as_ref().clone();
        plain.insert(connection.to_string(), secrets.to_json());
        self.store(&plain)
    }

    async fn delete(&self, connection: &ConnectionId) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut plain: Plain = self.load()?.as_ref().clone();
        if plain.remove(connection.as_str()).is_some() {
            self.store(&plain)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnectionId {
        ConnectionId::parse("acme").unwrap()
    }

    #[tokio::test]
    async fn the_file_holds_no_plaintext_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.enc");
        let key = SecretsKey::generate();
        let store = EncryptedSecretsFile::new(&path, &key);
        store.put(&conn(), &SecretBundle::new().with("odoo_api_key", "sk-live-abcdef")).await.unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("sk-live-abcdef") && !text.contains("odoo_api_key"), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        let other = EncryptedSecretsFile::new(&path, &SecretsKey::generate());
        let err = other.get(&conn()).await.unwrap_err();
        assert!(err.to_string().contains("wrong key"), "{err}");

        let mut sealed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut ct = B64.decode(sealed["ciphertext"].as_str().unwrap()).unwrap();
        ct[0] ^= 1;
        sealed["ciphertext"] = B64.encode(ct).into();
        std::fs::write(&path, sealed.to_string()).unwrap();
        assert!(store.get(&conn()).await.is_err());
    }

    #[tokio::test]
    async fn the_file_is_decrypted_once_until_any_process_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.enc");
        let key = SecretsKey::generate();
        let serving = EncryptedSecretsFile::new(&path, &key);
        assert!(serving.get(&conn()).await.unwrap().is_none(), "no file yet: no secrets");
        // Another process (`mlc connection add`) writes the file.
        let other = EncryptedSecretsFile::new(&path, &key);
        other.put(&conn(), &SecretBundle::new().with("woo_webhook_secret", "first")).await.unwrap();
        let secret = |b: Option<SecretBundle>| b.unwrap().get("woo_webhook_secret").unwrap().expose().to_string();
        for _ in 0..100 {
            assert_eq!(secret(serving.get(&conn()).await.unwrap()), "first");
        }
        assert_eq!(serving.decrypts.load(Ordering::Relaxed), 1, "100 reads of an unchanged file decrypt it once");
        // A rotated secret is seen on the very next read.
        other.put(&conn(), &SecretBundle::new().with("woo_webhook_secret", "second")).await.unwrap();
        assert_eq!(secret(serving.get(&conn()).await.unwrap()), "second");
        assert_eq!(serving.decrypts.load(Ordering::Relaxed), 2);
        // So is a removed one, and a file edited in place (same inode) is read again.
        other.delete(&conn()).await.unwrap();
        assert!(serving.get(&conn()).await.unwrap().is_none());
        std::fs::write(&path, "not a sealed file").unwrap();
        assert!(serving.get(&conn()).await.is_err());
    }

    #[test]
    fn key_file_is_created_private_and_refused_when_shared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let first = SecretsKey::from_file(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = SecretsKey::from_file(&path).unwrap();
        assert_eq!(first.0.as_slice(), again.0.as_slice());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretsKey::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn bad_keys_are_explained_without_echoing_them() {
        let err = SecretsKey::from_base64("not*base64*secretvalue").unwrap_err();
        assert!(!err.to_string().contains("secretvalue"), "{err}");
        let err = SecretsKey::from_base64(&B64.encode([7u8; 16])).unwrap_err();
        assert!(err.to_string().contains("32 bytes, not 16"), "{err}");
    }
}
