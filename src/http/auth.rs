//! `--http-auth-file`: who may read the console, `/status` and the source view.
//!
//! One credential per line; blank lines and lines starting with `#` are skipped:
//! - `bearer <token>`: `Authorization: Bearer <token>` (for scripts and `converge status`);
//! - `<user>:{SHA}<base64 SHA-1>`: HTTP basic auth, the line `htpasswd -s` writes (for a
//!   browser's login prompt).
//!
//! Other htpasswd hashes (bcrypt `$2y$`, `$apr1$`, crypt) are refused when the file is read,
//! with the line, so a typo never leaves the page open. `/metrics`, `/healthz` and `/readyz`
//! never ask (Prometheus and load balancers).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// A problem in the auth file, `path:line: message`.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct AuthFileError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// The credentials the file allows.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: Vec<Vec<u8>>,
    /// user → SHA-1 of the password.
    users: Vec<(String, [u8; 20])>,
}

impl Auth {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Auth, AuthFileError> {
        let err = |line, message: String| AuthFileError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
        let auth = Auth::parse(&text).map_err(|(line, m)| err(line, m))?;
        if auth.tokens.is_empty() && auth.users.is_empty() {
            return Err(err(
                0,
                "no credential in the file: nobody could read the console".into(),
            ));
        }
        Ok(auth)
    }

    /// Parses the file's text; errors are `(line, message)`.
    pub fn parse(text: &str) -> Result<Auth, (usize, String)> {
        let mut auth = Auth::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            if let Some(token) = strip_prefix_ignore_case(line, "bearer ") {
                let token = token.trim();
                if token.len() < 16 {
                    return Err((n, "a bearer token must be at least 16 characters".into()));
                }
                auth.tokens.push(token.as_bytes().to_vec());
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err((
                    n,
                    "expected `bearer <token>` or `user:{SHA}…` (htpasswd -s)".into(),
                ));
            };
            let Some(b64) = hash.strip_prefix("{SHA}") else {
                return Err((
                    n,
                    format!("user {user}: only htpasswd's {{SHA}} hashes are read (write the line with `htpasswd -s`)"),
                ));
            };
            let digest = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|d| <[u8; 20]>::try_from(d).ok())
                .ok_or_else(|| {
                    (
                        n,
                        format!("user {user}: the {{SHA}} hash is not 20 bytes of base64"),
                    )
                })?;
            auth.users.push((user.to_string(), digest));
        }
        Ok(auth)
    }

    /// Whether an `Authorization` header value carries a credential of the file.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if let Some(token) = strip_prefix_ignore_case(value, "bearer ") {
            let token = token.trim().as_bytes();
            return self.tokens.iter().any(|t| constant_time_eq(t, token));
        }
        if let Some(b64) = strip_prefix_ignore_case(value, "basic ") {
            let Ok(pair) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
                return false;
            };
            let Ok(pair) = String::from_utf8(pair) else {
                return false;
            };
            let Some((user, password)) = pair.split_once(':') else {
                return false;
            };
            let digest: [u8; 20] = Sha1::digest(password.as_bytes()).into();
            return self
                .users
                .iter()
                .any(|(u, d)| u == user && constant_time_eq(d, &digest));
        }
        false
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Equal, in a time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    #[test]
    fn a_bearer_token_and_an_htpasswd_sha_line_are_accepted_and_nothing_else() {
        // `htpasswd -nbs ops secret` prints this line.
        let auth = Auth::parse(
            "# console\nbearer 0123456789abcdef0123\n\nops:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
        )
        .unwrap();
        assert!(auth.allows(Some("Bearer 0123456789abcdef0123")));
        assert!(!auth.allows(Some("Bearer 0123456789abcdef0124")));
        assert!(auth.allows(Some(&basic("ops:secret"))));
        assert!(!auth.allows(Some(&basic("ops:Secret"))));
        assert!(!auth.allows(Some(&basic("root:secret"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some("Digest x")));
    }

    #[test]
    fn hashes_it_cannot_check_are_refused_with_their_line() {
        let e = Auth::parse("bearer 0123456789abcdef\nops:$apr1$x$y\n").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("htpasswd -s"), "{}", e.1);
        let e = Auth::parse("bearer short\n").unwrap_err();
        assert_eq!(e.0, 1);
        assert!(e.1.contains("16 characters"));
    }

    #[test]
    fn a_missing_or_empty_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Auth::load(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "# nothing yet\n").unwrap();
        let e = Auth::load(&empty).unwrap_err();
        assert!(e.to_string().contains("no credential"), "{e}");
    }
}
