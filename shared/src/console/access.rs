//! Who may use the console. On a loopback address anyone on the machine may (as anyone there
//! can read the state directory); on any other address a token set by `mlc console token` is
//! asked for, kept only as its SHA-256, and traded for a session cookie: HttpOnly,
//! SameSite=Strict, and Secure whenever the console is served over https. Every form carries
//! its session's CSRF token.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const COOKIE: &str = "mlc_console";
/// How long a session lasts without use.
const IDLE: i64 = 8 * 60;

/// One token's record: who it is for, and the hash of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

/// The console's tokens, in a file of the state directory (owner-only, like the rest).
#[derive(Debug, Clone)]
pub struct TokenFile {
    pub path: PathBuf,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn random_text(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Compares without stopping at the first difference, so timing says nothing of a token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl TokenFile {
    pub fn records(&self) -> Result<Vec<TokenRecord>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| Error::bad_input(format!("{} is not a console token file: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::permanent(anyhow::anyhow!("reading {}: {e}", self.path.display()))),
        }
    }

    /// Makes a new token for `name` (replacing that name's old one) and answers it: the only
    /// time it is ever seen.
    pub fn issue(&self, name: &str) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
            return Err(Error::bad_input("a console token's name is 1 to 64 printable characters"));
        }
        let token = format!("mlc_{}", random_text(32));
        let mut records = self.records()?;
        records.retain(|r| r.name != name);
        records.push(TokenRecord { name: name.to_string(), sha256: sha256_hex(&token), created_at: Utc::now() });
        let text = serde_json::to_string_pretty(&records).expect("token records serialize");
        write_owner_only(&self.path, text.as_bytes())?;
        Ok(token)
    }

    /// Whose token `token` is, if any.
    pub fn holder(&self, token: &str) -> Result<Option<String>> {
        let hash = sha256_hex(token.trim());
        Ok(self.records()?.into_iter().find(|r| same(r.sha256.as_bytes(), hash.as_bytes())).map(|r| r.name))
    }
}

fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let written = options.open(&tmp).and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::permanent(anyhow::anyhow!("writing {}: {e}", path.display())))
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who it is: the token's name, or `loopback` where no login is asked.
    pub who: String,
    pub csrf: String,
    last_seen: DateTime<Utc>,
}

/// How the console lets people in.
pub struct Access {
    /// A token is asked for (the console listens beyond loopback).
    pub login_required: bool,
    /// Served over https (directly or behind a TLS proxy): cookies are Secure.
    pub secure: bool,
    pub tokens: TokenFile,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Access {
    pub fn new(login_required: bool, secure: bool, tokens: TokenFile) -> Access {
        Access { login_required, secure, tokens, sessions: Mutex::new(HashMap::new()) }
    }

    /// The session a request's cookie names, kept alive by use.
    pub fn session(&self, cookie_header: Option<&str>) -> Option<Session> {
        let id = session_cookie(cookie_header?)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Utc::now();
        sessions.retain(|_, s| now - s.last_seen < Duration::minutes(IDLE));
        let session = sessions.get_mut(&id)?;
        session.last_seen = now;
        Some(session.clone())
    }

    /// A new session for `who`; answers its id (the cookie's value) and the session.
    pub fn open(&self, who: &str) -> (String, Session) {
        let id = random_text(32);
        let session = Session { who: who.to_string(), csrf: random_text(24), last_seen: Utc::now() };
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), session.clone());
        (id, session)
    }

    pub fn close(&self, cookie_header: Option<&str>) {
        if let Some(id) = cookie_header.and_then(session_cookie) {
            self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
    }

    /// The `Set-Cookie` value for a session id.
    pub fn cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}", IDLE * 60)
    }

    /// Whether a form's CSRF token is its session's.
    pub fn csrf_ok(session: &Session, token: Option<&str>) -> bool {
        token.is_some_and(|t| same(t.as_bytes(), session.csrf.as_bytes()))
    }
}

fn session_cookie(header: &str) -> Option<String> {
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_hashed_and_only_the_holder_gets_in() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile { path: dir.path().join("console-tokens.json") };
        let alice = file.issue("alice").unwrap();
        let bob = file.issue("bob").unwrap();
        let stored = std::fs::read_to_string(&file.path).unwrap();
        assert!(!stored.contains(&alice) && !stored.contains(&bob), "{stored}");
        assert_eq!(file.holder(&alice).unwrap().as_deref(), Some("alice"));
        assert_eq!(file.holder(&bob).unwrap().as_deref(), Some("bob"));
        assert_eq!(file.holder("mlc_guess").unwrap(), None);
        // A new token for alice retires her old one.
        let again = file.issue("alice").unwrap();
        assert_eq!(file.holder(&alice).unwrap(), None);
        assert_eq!(file.holder(&again).unwrap().as_deref(), Some("alice"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&file.path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn sessions_come_from_their_cookie_and_forms_from_their_session() {
        let dir = tempfile::tempdir().unwrap();
        let access = Access::new(true, true, TokenFile { path: dir.path().join("t.json") });
        let (id, session) = access.open("alice");
        let cookie = access.cookie(&id);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.ends_with("Secure"));
        let header = format!("theme=dark; {COOKIE}={id}");
        assert_eq!(access.session(Some(&header)).unwrap().who, "alice");
        assert!(access.session(Some("mlc_console=forged")).is_none());
        assert!(Access::csrf_ok(&session, Some(&session.csrf)));
        assert!(!Access::csrf_ok(&session, Some("other")) && !Access::csrf_ok(&session, None));
        access.close(Some(&header));
        assert!(access.session(Some(&header)).is_none());
    }
}
