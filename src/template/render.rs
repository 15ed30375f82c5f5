//! Rendering one template with `minijinja`, keeping a map from rendered output back to the
//! template source so that YAML errors in the output point at the template line and column
//! that produced them.
//!
//! The environment is Jinja as Salt users know it (no `trim_blocks`, no `lstrip_blocks`, the
//! trailing newline kept), with strict undefined values (a misspelt variable is an error, not an
//! empty string), no HTML escaping, a fuel limit (a runaway loop fails instead of hanging the
//! controller), and the Python methods Salt templates use on dicts and strings (`d.get(k,
//! default)`, `d.items()`, `s.split()`, `s.startswith()`, ...).
//!
//! The source map comes from minijinja's output spans: text written verbatim maps byte for byte
//! to the template; the output of an expression (`{{ ... }}`, a macro call) maps to that
//! expression. A template is first rendered into a writer that stops at [`MAX_OUTPUT_BYTES`]
//! (so a template cannot exhaust memory), then once more with spans.

use std::io;
use std::ops::Range;

use minijinja::value::ValueKind;
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, OutputSpanKind, State, UndefinedBehavior, Value,
};

/// Instructions one render may execute before it is stopped.
pub const FUEL: u64 = 50_000_000;
/// Rendered output larger than this is an error (the same bound as one manifest file).
pub const MAX_OUTPUT_BYTES: usize = crate::core::source::MAX_FILE_BYTES as usize;

/// A rendered template and the map back to its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// Output byte range → template source byte offset where it starts, and whether the output
    /// is the source itself (verbatim text) or an expression's value. Ordered, not overlapping.
    spans: Vec<(Range<usize>, usize, bool)>,
    /// Byte offset of the start of every template source line.
    source_lines: Vec<usize>,
    /// The template source (to count characters for columns).
    source: String,
}

impl Rendered {
    /// The template line and column (1-based, columns in characters) that produced rendered
    /// line `line`, column `column`; `None` if the output there came from nowhere known.
    pub fn template_location(&self, line: u64, column: u64) -> Option<(u64, u64)> {
        let out = self.output_offset(line, column)?;
        let i = match self.spans.binary_search_by(|(r, _, _)| {
            if r.end <= out {
                std::cmp::Ordering::Less
            } else if r.start > out {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        }) {
            Ok(i) => i,
            // Between spans (or past the end): the span before.
            Err(0) => return None,
            Err(i) => i - 1,
        };
        let (range, source_start, verbatim) = &self.spans[i];
        let offset = if *verbatim {
            source_start + out.saturating_sub(range.start).min(range.len())
        } else {
            *source_start
        };
        Some(self.source_location(offset))
    }

    /// The template line of rendered line `line` (its first character).
    pub fn template_line(&self, line: u64) -> Option<u64> {
        self.template_location(line, 1).map(|(l, _)| l)
    }

    fn output_offset(&self, line: u64, column: u64) -> Option<usize> {
        let line_start = if line <= 1 {
            0
        } else {
            self.text
                .match_indices('\n')
                .nth(usize::try_from(line - 2).ok()?)?
                .0
                + 1
        };
        let rest = &self.text[line_start..];
        let chars = usize::try_from(column.saturating_sub(1)).ok()?;
        let within = rest
            .char_indices()
            .take_while(|(_, c)| *c != '\n')
            .nth(chars)
            .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i);
        Some(line_start + within)
    }

    fn source_location(&self, offset: usize) -> (u64, u64) {
        let line = match self.source_lines.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.source_lines.get(line).copied().unwrap_or(0);
        let column = self
            .source
            .get(start..offset.min(self.source.len()))
            .map_or(0, |s| s.chars().count());
        (line as u64 + 1, column as u64 + 1)
    }
}

/// Why a template did not render: the template line and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub line: u64,
    pub message: String,
}

/// The Jinja environment converge renders with.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_debug(true);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_unknown_method_callback(python_methods);
    env
}

/// A writer that refuses to grow past a limit.
struct Bounded {
    written: usize,
    exceeded: bool,
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        if self.written > MAX_OUTPUT_BYTES {
            self.exceeded = true;
            return Err(io::Error::other("output too large"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Renders `source` (named `name` in messages) in `env` with `ctx`, and maps it back.
pub fn render(
    env: &Environment<'_>,
    name: &str,
    source: &str,
    ctx: &Value,
) -> Result<Rendered, RenderError> {
    let template = env
        .template_from_named_str(name, source)
        .map_err(|e| render_error(&e, source))?;
    let mut bounded = Bounded {
        written: 0,
        exceeded: false,
    };
    if let Err(e) = template.render_captured_to(ctx.clone(), &mut bounded) {
        if bounded.exceeded {
            return Err(RenderError {
                line: e.line().map_or(1, |l| l as u64),
                message: format!(
                    "the rendered output is more than the {MAX_OUTPUT_BYTES} bytes allowed for one manifest file"
                ),
            });
        }
        return Err(render_error(&e, source));
    }
    let (text, spans) = template
        .render_with_spans(ctx.clone())
        .map_err(|e| render_error(&e, source))?;
    let spans = spans
        .iter()
        .filter(|s| s.name() == name)
        .map(|s| {
            (
                s.output_range(),
                s.source_range().start,
                s.kind() == OutputSpanKind::Raw,
            )
        })
        .collect();
    let source_lines = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    Ok(Rendered {
        text,
        spans,
        source_lines,
        source: source.to_string(),
    })
}

/// A message naming what went wrong, without minijinja's own `(in file:line)` suffix (the
/// location is printed first, as for every problem).
fn render_error(e: &Error, source: &str) -> RenderError {
    let mut message = match e.detail() {
        Some(d) => format!("template {}: {d}", e.kind()),
        None => format!("template {}", e.kind()),
    };
    if e.kind() == ErrorKind::UndefinedError {
        if let Some(expr) = e.range().and_then(|r| source.get(r)) {
            message.push_str(&format!(
                " in `{}` (undefined variables are errors; use `| default(...)` or `is defined` for optional ones)",
                expr.trim()
            ));
        }
    }
    RenderError {
        line: e.line().map_or(1, |l| l as u64),
        message,
    }
}

/// Python's dict and str methods that Salt templates use, for minijinja (which has none).
fn python_methods(
    _: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let arity = |n: std::ops::RangeInclusive<usize>| {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{method}() takes {n:?} arguments, got {}", args.len()),
            ))
        }
    };
    match (value.kind(), method) {
        (ValueKind::Map, "get") => {
            arity(1..=2)?;
            let got = value.get_item(&args[0])?;
            Ok(if got.is_undefined() {
                args.get(1).cloned().unwrap_or(Value::from(()))
            } else {
                got
            })
        }
        (ValueKind::Map, "keys") => {
            arity(0..=0)?;
            Ok(Value::from(value.try_iter()?.collect::<Vec<_>>()))
        }
        (ValueKind::Map, "values") => {
            arity(0..=0)?;
            let mut out = Vec::new();
            for k in value.try_iter()? {
                out.push(value.get_item(&k)?);
            }
            Ok(Value::from(out))
        }
        (ValueKind::Map, "items") => {
            arity(0..=0)?;
            let mut out = Vec::new();
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                out.push(Value::from(vec![k, v]));
            }
            Ok(Value::from(out))
        }
        (ValueKind::String, _) => {
            let s = value.as_str().unwrap_or_default();
            let arg = |i: usize| args.get(i).and_then(|a| a.as_str()).unwrap_or_default();
            match method {
                "lower" => arity(0..=0).map(|_| Value::from(s.to_lowercase())),
                "upper" => arity(0..=0).map(|_| Value::from(s.to_uppercase())),
                "strip" => arity(0..=0).map(|_| Value::from(s.trim())),
                "startswith" => arity(1..=1).map(|_| Value::from(s.starts_with(arg(0)))),
                "endswith" => arity(1..=1).map(|_| Value::from(s.ends_with(arg(0)))),
                "replace" => arity(2..=2).map(|_| Value::from(s.replace(arg(0), arg(1)))),
                "split" => arity(0..=1).map(|_| {
                    let parts: Vec<Value> = match args.first().and_then(|a| a.as_str()) {
                        Some(sep) if !sep.is_empty() => s.split(sep).map(Value::from).collect(),
                        _ => s.split_whitespace().map(Value::from).collect(),
                    };
                    Value::from(parts)
                }),
                _ => Err(unknown_method(value, method)),
            }
        }
        _ => Err(unknown_method(value, method)),
    }
}

fn unknown_method(value: &Value, method: &str) -> Error {
    Error::new(
        ErrorKind::UnknownMethod,
        format!("{} has no method named {method}", value.kind()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(v: serde_json::Value) -> Value {
        Value::from(minijinja::value::Serde(&v))
    }

    fn go(source: &str, v: serde_json::Value) -> Rendered {
        render(&environment(), "t.yaml", source, &ctx(v)).unwrap()
    }

    /// The template line of every rendered line.
    fn lines(r: &Rendered) -> Vec<u64> {
        (1..=r.text.split_inclusive('\n').count() as u64)
            .map(|l| r.template_line(l).unwrap_or(0))
            .collect()
    }

    #[test]
    fn a_loop_maps_every_rendered_line_to_its_template_line() {
        let src = "a: 1\n{% for q in qs %}\n- name: {{ q }}\n  x: 1\n{% endfor %}\nz: 2\n";
        let r = go(src, serde_json::json!({"qs": ["q1", "q2"]}));
        assert_eq!(
            r.text,
            "a: 1\n\n- name: q1\n  x: 1\n\n- name: q2\n  x: 1\n\nz: 2\n"
        );
        // The blank line between iterations is the newline that opens the loop body (line 2).
        assert_eq!(lines(&r), vec![1, 2, 3, 4, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn columns_map_to_the_template_text_or_to_the_expression() {
        let src = "a: 1\nname: {{ n }} x\n";
        let r = go(src, serde_json::json!({"n": "a-long-value"}));
        assert_eq!(r.text, "a: 1\nname: a-long-value x\n");
        assert_eq!(r.template_location(2, 1), Some((2, 1)));
        // Inside the value: the expression `n`.
        assert_eq!(r.template_location(2, 9), Some((2, 10)));
        // After it: the template text again.
        assert_eq!(r.template_location(2, 20), Some((2, 15)));
    }

    #[test]
    fn whitespace_control_keeps_its_meaning_and_the_map() {
        let src = "items:\n  {%- for q in qs %}\n  - {{ q }}\n  {%- endfor %}\nend: {{ n }}\n";
        let r = go(src, serde_json::json!({"qs": ["a", "b"], "n": 3}));
        assert_eq!(r.text, "items:\n  - a\n  - b\nend: 3\n");
        assert_eq!(lines(&r), vec![1, 3, 3, 5]);
        let src = "{% if x -%}\n   kept: 1\n{% endif %}\n";
        let r = go(src, serde_json::json!({"x": true}));
        assert_eq!(r.text, "kept: 1\n\n");
        assert_eq!(r.template_location(1, 1), Some((2, 4)));
    }

    #[test]
    fn a_multi_line_value_belongs_to_its_expression() {
        let src = "a: 1\nscript: |\n  {{ body | indent(2) }}\nb: 2\n";
        let r = go(src, serde_json::json!({"body": "one\ntwo\nthree"}));
        assert_eq!(lines(&r), vec![1, 2, 3, 3, 3, 4]);
    }

    #[test]
    fn tags_spanning_lines_strings_with_delimiters_and_raw_blocks_map_back() {
        let src = "{% set xs = [\n  'a }}',\n  \"%} b\",\n] %}\nv: {{ xs | join(',') }}\n{# a\ncomment #}\nw: 1\n{% raw %}\nr: {{ not a tag }}\n{% endraw %}\n";
        let r = go(src, serde_json::json!({}));
        assert_eq!(r.text, "\nv: a }},%} b\n\nw: 1\n\nr: {{ not a tag }}\n\n");
        let lines = lines(&r);
        assert_eq!(lines[1], 5);
        assert_eq!(lines[3], 8);
        assert_eq!(lines[5], 10);
    }

    #[test]
    fn output_beyond_the_limit_is_an_error_not_an_allocation() {
        let e = render(
            &environment(),
            "t.yaml",
            "{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}",
            &ctx(serde_json::json!({})),
        )
        .unwrap_err();
        assert!(e.message.contains("more than the"), "{}", e.message);
    }

    #[test]
    fn strict_undefined_names_the_expression_and_the_line() {
        let e = render(
            &environment(),
            "t.yaml",
            "a: 1\nb: {{ values.missing }}\n",
            &ctx(serde_json::json!({"values": {}})),
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("undefined value"), "{}", e.message);
        assert!(e.message.contains("values.missing"), "{}", e.message);
    }

    #[test]
    fn a_syntax_error_points_at_its_line() {
        let e = render(
            &environment(),
            "t.yaml",
            "a: 1\n\n{% for x in %}\n",
            &ctx(serde_json::json!({})),
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("syntax error"), "{}", e.message);
    }

    #[test]
    fn python_dict_and_string_methods_work() {
        let r = go(
            "{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.keys() | join(',') }} {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ s.split('-')[1] }} {{ s.upper() }}",
            serde_json::json!({"d": {"a": 1, "b": 2}, "s": "x-y"}),
        );
        assert_eq!(r.text, "1 dflt a,b a=1;b=2; y X-Y");
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let e = render(
            &environment(),
            "t.yaml",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            &ctx(serde_json::json!({})),
        )
        .unwrap_err();
        assert!(e.message.contains("fuel"), "{}", e.message);
    }
}
