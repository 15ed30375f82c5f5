//! Fuzzes the desired-state loader's parser with arbitrary bytes: it must never panic, never
//! hang, and report every problem with a file and a line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The loader only parses UTF-8 (a non-UTF-8 file is reported before parsing).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.yaml");
    let mut problems = Vec::new();
    let docs = converge::desired::parse_file(file, text, &mut problems);
    // YAML breaks lines at LF, CR LF and a lone CR.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .split('\n')
        .count() as u64
        + 1;
    for p in &problems {
        assert_eq!(p.origin.file, file);
        assert!(p.origin.line >= 1 && p.origin.line <= lines, "{p}");
        assert!(!p.message.trim().is_empty(), "{p}");
    }
    for d in &docs {
        assert!(!d.name.is_empty());
    }
});
