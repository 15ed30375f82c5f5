//! DNS names and record values as converge compares and writes them (pure): names as
//! lower-case FQDNs with Route 53's octal escapes decoded, values normalised per record type,
//! and TXT character strings.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::kinds::common::validate::fqdn;

/// The longest TXT character string DNS allows, in bytes.
const TXT_STRING_MAX: usize = 255;

/// A zone id without the `/hostedzone/` prefix.
pub fn zone_id(id: &str) -> String {
    let id = id.trim();
    id.strip_prefix("/hostedzone/").unwrap_or(id).to_string()
}

/// A DNS name as converge compares it: octal escapes (`\052`) decoded, lower case, with the
/// trailing dot.
pub fn normalise_name(name: &str) -> String {
    fqdn(&unescape_octal(name.trim()).to_ascii_lowercase())
}

/// True when `name` is `zone` or inside it (both normalised).
pub fn in_zone(name: &str, zone: &str) -> bool {
    zone == "." || name == zone || name.ends_with(&format!(".{zone}"))
}

/// Decodes Route 53's `\ddd` octal escapes.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(v) = octal_at(b, i) {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte encoded by a `\ddd` escape starting at `i`, if there is one.
fn octal_at(b: &[u8], i: usize) -> Option<u8> {
    if b.get(i) != Some(&b'\\') {
        return None;
    }
    let digits = b.get(i + 1..i + 4)?;
    if !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
    u8::try_from(v).ok()
}

/// The character strings of a TXT value: `"a b" "c"` → `["a b", "c"]`; unquoted text is one
/// string per whitespace-separated word; `\"`, `\\` and `\ddd` are decoded.
pub fn parse_txt(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let mut strings = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = b[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut cur = Vec::new();
        while i < b.len() {
            let c = b[i];
            if quoted && c == b'"' {
                i += 1;
                break;
            }
            if !quoted && c.is_ascii_whitespace() {
                break;
            }
            if c == b'\\' {
                if let Some(v) = octal_at(b, i) {
                    cur.push(v);
                    i += 4;
                    continue;
                }
                if let Some(&next) = b.get(i + 1) {
                    cur.push(next);
                    i += 2;
                    continue;
                }
            }
            cur.push(c);
            i += 1;
        }
        strings.push(String::from_utf8_lossy(&cur).into_owned());
    }
    strings
}

/// Renders character strings as a TXT value: each quoted, `"` and `\` escaped, control
/// characters as `\ddd`.
pub fn render_txt(strings: &[String]) -> String {
    strings
        .iter()
        .map(|s| {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\{:03o}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text as one TXT value, split into character strings of at most 255 bytes.
pub fn txt_text(text: &str) -> String {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if cur.len() + c.len_utf8() > TXT_STRING_MAX {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    render_txt(&out)
}

/// A TXT value as written in a spec: quoted text (`'"v=spf1 -all"'`) is taken as DNS
/// character strings; unquoted text is one string (split every 255 bytes).
fn txt_value(value: &str) -> String {
    if value.trim_start().starts_with('"') {
        render_txt(&parse_txt(value))
    } else {
        txt_text(value)
    }
}

fn collapse_whitespace(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value as converge writes and compares it, for a record of type `rtype`.
pub fn normalise_value(rtype: &str, value: &str) -> String {
    let v = value.trim();
    match rtype {
        "A" => v
            .parse::<Ipv4Addr>()
            .map_or_else(|_| v.to_string(), |a| a.to_string()),
        "AAAA" => v
            .parse::<Ipv6Addr>()
            .map_or_else(|_| v.to_ascii_lowercase(), |a| a.to_string()),
        "CNAME" | "NS" | "PTR" => normalise_name(v),
        "TXT" | "SPF" => txt_value(v),
        "MX" | "SRV" => {
            // `priority host` / `priority weight port host`: numbers as numbers, the host as
            // a name.
            let words: Vec<&str> = v.split_whitespace().collect();
            let host_at = if rtype == "MX" { 1 } else { 3 };
            if words.len() != host_at + 1 {
                return collapse_whitespace(v);
            }
            let mut out: Vec<String> = words[..host_at]
                .iter()
                .map(|w| {
                    w.parse::<u32>()
                        .map_or_else(|_| w.to_string(), |n| n.to_string())
                })
                .collect();
            out.push(normalise_name(words[host_at]));
            out.join(" ")
        }
        _ => collapse_whitespace(v),
    }
}
