//! `/source?file=PATH#L12`: the desired file a resource is declared in, with numbered lines,
//! so the console can link a resource to its template line.
//!
//! Only a file that a resource of the tree in force names as its origin is served (never an
//! arbitrary path: no `..`, no other file of the host), and every character of it is escaped.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Web;

/// Files larger than this are not shown (desired files are far smaller).
const MAX_BYTES: u64 = 1 << 20;

pub(super) async fn serve(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let Some(file) = query.as_deref().and_then(|q| param(q, "file")) else {
        return (StatusCode::BAD_REQUEST, "expected ?file=PATH\n").into_response();
    };
    let known = web.fleet.tree.borrow().as_ref().is_some_and(|t| {
        t.shards.values().any(|set| {
            set.resources
                .values()
                .flat_map(|by_name| by_name.values())
                .any(|r| r.origin.file == Path::new(&file))
        })
    });
    if !known {
        return (
            StatusCode::NOT_FOUND,
            "no resource of the desired tree in force is declared in that file\n",
        )
            .into_response();
    }
    // Off the threads the reconcile loops run on.
    let path = file.clone();
    let text = tokio::task::spawn_blocking(move || match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_BYTES => Err("the file is too large to show".to_string()),
        Ok(_) => std::fs::read_to_string(&path).map_err(|e| format!("cannot read it: {e}")),
        Err(e) => Err(format!("cannot read it: {e}")),
    })
    .await
    .unwrap_or_else(|e| Err(format!("cannot read it: {e}")));
    match text {
        Ok(text) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page(&file, &text),
        )
            .into_response(),
        Err(e) => (StatusCode::NOT_FOUND, format!("{file}: {e}\n")).into_response(),
    }
}

/// The HTML of one file: a header and every line with its number as an anchor (`#L12`).
fn page(file: &str, text: &str) -> String {
    let name = escape(file);
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} · converge</title>\
         <link rel=\"stylesheet\" href=\"/ui/app.css\"></head><body class=\"source\">\
         <header><a href=\"/\">converge</a> · <code>{name}</code></header><pre>"
    );
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        out.push_str(&format!(
            "<span class=\"line\" id=\"L{n}\"><a class=\"ln\" href=\"#L{n}\">{n}</a>{}</span>\n",
            escape(line)
        ));
    }
    out.push_str("</pre></body></html>\n");
    out
}

/// `text` with the characters HTML gives a meaning to replaced by references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One parameter of a query string, percent-decoded (`+` is a space).
fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))?
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_text_is_escaped_and_lines_are_anchored() {
        let html = page("a<b>.yaml", "name: <script>alert('x')</script> & co\nnext");
        assert!(html.contains("a&lt;b&gt;.yaml"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("id=\"L2\""));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(
            param("x=1&file=%2Ftmp%2Fa+b.yaml", "file").as_deref(),
            Some("/tmp/a b.yaml")
        );
        assert_eq!(param("file=%zz", "file"), None);
        assert_eq!(param("files=a", "file"), None);
    }
}
