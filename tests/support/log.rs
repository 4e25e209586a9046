//! k8sensus's log lines as data: one parser for both formats, and the `event` field that
//! programs match on.
//!
//! The wording of a line is for people and may change; its `event` field (the names in
//! [`k8sensus::log_event`]) is the contract. So every helper here reads `event` and the other
//! fields, never the message: a test that decides something from a log line asks
//! [`LogLine::is`] or [`LogLine::field`].
//!
//! The two formats, both read by [`parse_line`] into the same shape (an object with
//! `timestamp`, `level`, `message` and one key per field):
//! - JSON (`--log-format json`, what the tests' replicas use): one object per line, the
//!   fields at the top level (an object under `fields` is lifted up too);
//! - plain (the default, what the cluster's pods and the demo write):
//!   `<timestamp> <LEVEL> [span{k=v ...}:] <message> key=value key="quoted value" ...`.

use std::time::Instant;

use serde_json::{Map, Value};

/// One log line of a process: when the test received it, and its fields.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Instant,
    pub json: Value,
}

impl LogLine {
    /// A line received now with these fields (for the harness's own tests).
    pub fn new(json: Value) -> Self {
        Self {
            at: Instant::now(),
            json,
        }
    }

    /// The human wording. Only for showing, and for tests of that wording.
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }

    /// The line's `event` field, if it has one.
    pub fn event(&self) -> Option<&str> {
        self.json["event"].as_str()
    }

    /// Whether the line's `event` is `event` (one of [`k8sensus::log_event`]'s names).
    pub fn is(&self, event: &str) -> bool {
        self.event() == Some(event)
    }

    /// A text field (`holder`, `lease`, `identity`, ...), if present.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.json[name].as_str()
    }

    /// CLOCK_MONOTONIC when the line was written, in nanoseconds (`mono_ns`), if logged.
    pub fn mono_ns(&self) -> Option<u64> {
        self.json["mono_ns"].as_u64()
    }
}

/// A line of k8sensus's (JSON or plain) as an object, or `None` for anything else (a panic
/// message, kubectl's output, a blank line).
pub fn parse_line(text: &str) -> Option<Value> {
    let text = text.trim_end();
    if text.starts_with('{') {
        let mut value: Value = serde_json::from_str(text).ok()?;
        let object = value.as_object_mut()?;
        if let Some(Value::Object(fields)) = object.remove("fields") {
            for (k, v) in fields {
                object.entry(k).or_insert(v);
            }
        }
        // The fields of the spans the line was logged in (the elector's `election` span
        // carries `lease` and `identity`), as the plain format shows them too. The event's
        // own fields win; the span's name is not a field.
        let spans: Vec<Value> = match object.get("spans") {
            Some(Value::Array(spans)) => spans.clone(),
            _ => Vec::new(),
        };
        for span in spans {
            if let Value::Object(fields) = span {
                for (k, v) in fields {
                    if k != "name" {
                        object.entry(k).or_insert(v);
                    }
                }
            }
        }
        return Some(value);
    }
    parse_plain(text)
}

const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// `<timestamp> <LEVEL> [span{k=v}:]... <message> key=value ...`, tracing-subscriber's
/// default format: the message as written, then each field as `key=value`, a text value in
/// quotes with Rust's escapes (`key="a \"b\""`), a number or a `%`-formatted value bare.
fn parse_plain(text: &str) -> Option<Value> {
    let mut rest = text.trim_start();
    let (timestamp, after) = rest.split_once(char::is_whitespace)?;
    let after = after.trim_start();
    let (level, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
    if !LEVELS.contains(&level) || !timestamp.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    rest = after.trim_start();
    let mut object = Map::new();
    object.insert("timestamp".into(), timestamp.into());
    object.insert("level".into(), level.into());
    // Spans in scope print as `name{k=v ...}:` before the message; their fields count too.
    while let Some((fields, after)) = span_prefix(rest) {
        parse_fields(fields, &mut object);
        rest = after.trim_start();
    }
    let start = field_start(rest).unwrap_or(rest.len());
    object.insert("message".into(), rest[..start].trim_end().into());
    parse_fields(&rest[start..], &mut object);
    Some(Value::Object(object))
}

/// `name{fields}:` at the start of `text`: the fields' text and what follows the colon.
fn span_prefix(text: &str) -> Option<(&str, &str)> {
    let name_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))?;
    if name_end == 0 || !text[name_end..].starts_with('{') {
        return None;
    }
    let inner = &text[name_end + 1..];
    let close = closing_brace(inner)?;
    let after = inner[close + 1..].strip_prefix(':')?;
    Some((&inner[..close], after))
}

/// The index of the `}` that closes a span's fields, skipping quoted values.
fn closing_brace(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether `word` begins a field: `key=` with a key as tracing names fields.
fn is_key(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        k.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Where the first field begins: the first word that starts with `key=`.
fn field_start(text: &str) -> Option<usize> {
    let mut at = 0;
    for word in text.split(' ') {
        if is_key(word) {
            return Some(at);
        }
        at += word.len() + 1;
    }
    None
}

/// Where the next field after the first word begins (the space before it).
fn next_field(text: &str) -> Option<usize> {
    let mut at = 0;
    for (n, word) in text.split(' ').enumerate() {
        if n > 0 && is_key(word) {
            return Some(at - 1);
        }
        at += word.len() + 1;
    }
    None
}

/// `key=value key="quoted" ...` into `object`. A bare value runs to the next ` key=`, so a
/// `%`-formatted value with spaces in it stays whole.
fn parse_fields(mut text: &str, object: &mut Map<String, Value>) {
    loop {
        text = text.trim_start();
        let Some((key, after)) = text.split_once('=').filter(|_| is_key(text)) else {
            return;
        };
        let (value, rest) = if let Some(quoted) = after.strip_prefix('"') {
            let (value, len) = unquote(quoted);
            (Value::from(value), &quoted[len..])
        } else {
            let end = next_field(after).unwrap_or(after.len());
            (bare_value(after[..end].trim_end()), &after[end..])
        };
        object.insert(key.to_string(), value);
        text = rest;
    }
}

/// A quoted value's text (Rust's Debug escapes undone) and the bytes it took, closing quote
/// included.
fn unquote(text: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, i + 1),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, other)) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    (out, text.len())
}

/// A bare value: a number or a boolean when it reads as one, else text.
fn bare_value(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        Value::from(n)
    } else if let Ok(n) = text.parse::<u64>() {
        Value::from(n)
    } else if let Ok(b) = text.parse::<bool>() {
        Value::from(b)
    } else {
        Value::from(text)
    }
}
