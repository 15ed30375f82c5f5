//! Artifacts in S3: the marker that names the one to deploy, the download (streamed to disk,
//! size-bounded, SHA-256 checked) and the unpacking (tar.gz, nothing outside the release).
//!
//! Layout: `s3://<bucket>/deploy/<service>/<artifact-id>.tar.gz`, and the marker
//! `s3://<bucket>/deploy/<service>/current`, a JSON object:
//! `{"artifact": "<id>", "sha256": "<64 hex>", "size": <bytes>, "published_at": "<RFC 3339>"}`.
//! An id is `<UTC time>-<first 12 hex of the SHA-256>` (sortable, unique per content).

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::NodeError;

/// Artifacts larger than this are refused (a marker may not name more).
pub const MAX_ARTIFACT_BYTES: u64 = 4 << 30;

/// What `current` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub artifact: String,
    pub sha256: String,
    pub size: u64,
    pub published_at: String,
}

impl Marker {
    /// Parses and checks a marker's text.
    pub fn parse(text: &[u8]) -> Result<Marker, NodeError> {
        let m: Marker = serde_json::from_slice(text)
            .map_err(|e| NodeError::Marker(format!("not a marker ({e})")))?;
        if !valid_id(&m.artifact) {
            return Err(NodeError::Marker(format!(
                "artifact id `{}` may contain only letters, digits, `.`, `_` and `-`",
                m.artifact
            )));
        }
        if m.sha256.len() != 64 || !m.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(NodeError::Marker("sha256 is not 64 hex digits".into()));
        }
        if m.size > MAX_ARTIFACT_BYTES {
            return Err(NodeError::Marker(format!(
                "size {} is over the {MAX_ARTIFACT_BYTES}-byte bound",
                m.size
            )));
        }
        Ok(m)
    }
}

/// An artifact id names a file and a directory: no separators, no dots-only names.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub fn artifact_key(service: &str, id: &str) -> String {
    format!("deploy/{service}/{id}.tar.gz")
}

pub fn marker_key(service: &str) -> String {
    format!("deploy/{service}/current")
}

/// The SHA-256 of `bytes`, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Streams `body` into `dest` (a new file), refusing more than `expected.size` bytes, and
/// checks its SHA-256; on any problem the partial file is removed.
pub async fn download(
    mut body: aws_sdk_s3::primitives::ByteStream,
    expected: &Marker,
    dest: &Path,
) -> Result<(), NodeError> {
    let io = |e: std::io::Error| NodeError::Io(format!("{}: {e}", dest.display()));
    let mut file = std::fs::File::create(dest).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let result = async {
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| NodeError::Download(format!("reading the artifact: {e}")))?
        {
            size += chunk.len() as u64;
            if size > expected.size {
                return Err(NodeError::Download(format!(
                    "the artifact is larger than the {} bytes its marker says",
                    expected.size
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(io)?;
        }
        file.sync_all().map_err(io)?;
        let got = hex(&hasher.finalize());
        if size != expected.size {
            return Err(NodeError::Download(format!(
                "the artifact has {size} bytes, its marker says {}",
                expected.size
            )));
        }
        if got != expected.sha256.to_ascii_lowercase() {
            return Err(NodeError::Checksum {
                expected: expected.sha256.clone(),
                got,
            });
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

/// Unpacks the tar.gz `archive` into the new directory `into`. Refused, with nothing left
/// behind: absolute paths, `..`, links that point outside `into`, devices and fifos.
pub fn unpack(archive: &Path, into: &Path) -> Result<(), NodeError> {
    let bad = |what: String| NodeError::Unsafe(format!("{}: {what}", archive.display()));
    let io = |e: std::io::Error| NodeError::Io(format!("{}: {e}", archive.display()));
    // First pass: check every entry before anything is written.
    {
        let file = std::fs::File::open(archive).map_err(io)?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for entry in tar.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path().map_err(io)?.into_owned();
            check_relative(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(io)?
                    .ok_or_else(|| bad(format!("{}: a link without a target", path.display())))?
                    .into_owned();
                // A link's target, from the link's own directory, must stay inside.
                let joined = if kind.is_symlink() {
                    path.parent().unwrap_or(Path::new("")).join(&target)
                } else {
                    target.clone()
                };
                check_relative(&joined).map_err(|e| {
                    bad(format!(
                        "{} → {}: the link leaves the release ({e})",
                        path.display(),
                        target.display()
                    ))
                })?;
            } else if !(kind.is_file() || kind.is_dir()) {
                return Err(bad(format!(
                    "{}: only files, directories and links are unpacked",
                    path.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(into).map_err(io)?;
    let file = std::fs::File::open(archive).map_err(io)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.set_preserve_permissions(true);
    tar.unpack(into).map_err(|e| {
        let _ = std::fs::remove_dir_all(into);
        io(e)
    })
}

/// A path that stays below where it starts: no root, no prefix, never above its start.
fn check_relative(path: &Path) -> Result<(), String> {
    let mut depth: i64 = 0;
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path".into()),
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err("it goes above the release directory (`..`)".into());
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    Ok(())
}

/// `<UTC time>-<12 hex>` for an artifact with this SHA-256.
pub fn new_id(sha256: &str) -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    format!("{}-{}", now.trim_end_matches('Z'), &sha256[..12])
}

/// Where an artifact is kept while it downloads and unpacks.
pub fn staging(releases: &Path, id: &str) -> (PathBuf, PathBuf) {
    (
        releases.join(format!(".{id}.tar.gz.part")),
        releases.join(format!(".{id}.unpacking")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_paths_are_checked() {
        let ok = br#"{"artifact":"20261201T120000-abcdef012345","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":10,"published_at":"x"}"#;
        assert!(Marker::parse(ok).is_ok());
        let bad = String::from_utf8_lossy(ok).replace("20261201T120000-abcdef012345", "../x");
        assert!(Marker::parse(bad.as_bytes()).is_err());
        assert!(check_relative(Path::new("a/../b")).is_ok());
        assert!(check_relative(Path::new("../b")).is_err());
        assert!(check_relative(Path::new("a/../../b")).is_err());
        assert!(check_relative(Path::new("/etc/passwd")).is_err());
        assert!(valid_id(&new_id(&"a".repeat(64))));
    }

    #[tokio::test]
    async fn a_download_whose_checksum_differs_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.part");
        let body = b"same size, other bytes".to_vec();
        let marker = Marker {
            artifact: "a".into(),
            sha256: sha256_hex(b"same size, the bytes!!"),
            size: body.len() as u64,
            published_at: String::new(),
        };
        let e = download(body.clone().into(), &marker, &dest)
            .await
            .unwrap_err();
        assert!(matches!(e, NodeError::Checksum { .. }), "{e}");
        assert!(!dest.exists(), "the partial file is removed");
        let good = Marker {
            sha256: sha256_hex(&body),
            ..marker
        };
        download(body.into(), &good, &dest).await.unwrap();
        assert!(dest.is_file());
    }
}
