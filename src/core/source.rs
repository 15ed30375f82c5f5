//! Source diagnostics: where something was written, what is wrong with it, and how every
//! desired-state file is read (size limit, UTF-8, the YAML parser's budget).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Files larger than this are rejected rather than parsed.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// At most this many documents in one file.
pub const MAX_DOCUMENTS_PER_FILE: usize = 5_000;

/// Where a manifest (or a part of one) was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl Origin {
    /// `file:line:column` (0 is read as 1).
    pub fn at(file: &Path, line: u64, column: u64) -> Origin {
        Origin {
            file: file.to_path_buf(),
            line: line.max(1),
            column: column.max(1),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem in the desired tree, printed as `path:line:column: message`, or
/// `path:line:column (rendered for myapp/testing): message` in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub message: String,
    /// How the location is to be read, e.g. `rendered for myapp/testing`.
    pub context: Option<String>,
}

impl Problem {
    /// A problem at `file:line:column` (0 is read as 1).
    pub fn at(file: &Path, line: u64, column: u64, message: String) -> Problem {
        Problem {
            origin: Origin::at(file, line, column),
            message,
            context: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(c) => write!(f, "{} ({c}): {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// A file's text, within [`MAX_FILE_BYTES`] and valid UTF-8.
pub fn read_text(file: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a directory, named pipe, socket or device): not read".to_string(),
        );
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, more than the {} allowed for one manifest file",
            meta.len(),
            MAX_FILE_BYTES
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The YAML parser's options: the limits every desired-state file is read with.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS_PER_FILE,
            max_depth: 64,
            max_aliases: 1_000,
            max_anchors: 10_000,
            max_nodes: 500_000,
            // Bounds what an alias bomb can replay (the default is a million events).
            max_events: 500_000,
        },
    }
}

/// serde-saphyr appends " at line L, column C"; we print the location first instead.
pub fn strip_location(message: &str) -> String {
    let Some(i) = message.rfind(" at line ") else {
        return message.to_string();
    };
    // Only a trailing " at line L, column C" (not one inside "(used at line …)").
    let tail = &message[i + " at line ".len()..];
    let trailing = tail.split_once(", column ").is_some_and(|(l, c)| {
        !l.is_empty()
            && !c.is_empty()
            && l.bytes().all(|b| b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_digit())
    });
    if trailing {
        message[..i].to_string()
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_location_removes_the_suffix_only() {
        assert_eq!(strip_location("bad thing at line 3, column 4"), "bad thing");
        assert_eq!(strip_location("plain"), "plain");
        let alias =
            "expected string scalar (defined at line 3, column 9) (used at line 4, column 6)";
        assert_eq!(strip_location(alias), alias);
    }
}
