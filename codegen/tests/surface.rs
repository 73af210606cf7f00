//! The Python and JavaScript bindings export the same constants with the same
//! values: both are read back from their generated text and compared with
//! each other and with the binding surface they were rendered from.
//!
//! The literals both languages use here (integers, strings, booleans, names
//! of earlier constants, `|`, tuples and arrays, dicts and objects,
//! `Object.freeze`) are read by one small reader below; anything else reads as
//! opaque.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use haystack_wire_codegen::emit::{javascript, python};
use haystack_wire_codegen::model::bindings::{Surface, Value};
use haystack_wire_codegen::{parse, Protocol};
use serde_norway::Value as Yaml;

/// A value read back from a generated module.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    Int(u64),
    Str(String),
    Bool(bool),
    List(Vec<Read>),
    Map(Vec<(Read, Read)>),
    /// An expression the reader does not evaluate (`struct.Struct(...)`).
    Opaque,
}

/// What a surface value reads back as.
fn expected(value: &Value) -> Read {
    match value.resolved() {
        Value::Int(v, _) | Value::Or(_, v) => Read::Int(v),
        Value::Str(s) => Read::Str(s),
        Value::Bool(b) => Read::Bool(b),
        Value::List(_, items) => Read::List(items.iter().map(expected).collect()),
        Value::Map { entries, .. } => {
            Read::Map(entries.iter().map(|(k, v)| (expected(k), expected(v))).collect())
        }
        Value::Ref(_, v) => expected(&v),
    }
}

/// Reads one expression at the start of `text`, names resolved in `env`.
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    env: &'a BTreeMap<String, Read>,
    /// Whether a bare object key is a string (JavaScript) rather than a
    /// name (Python).
    bare_keys: bool,
}

impl Reader<'_> {
    fn skip(&mut self) {
        while self.at < self.text.len() && self.text[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip();
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// `a | b | ...`.
    fn expression(&mut self) -> Read {
        let mut value = self.primary();
        while self.eat(b'|') {
            let right = self.primary();
            value = match (value, right) {
                (Read::Int(a), Read::Int(b)) => Read::Int(a | b),
                _ => Read::Opaque,
            };
        }
        value
    }

    fn primary(&mut self) -> Read {
        match self.peek() {
            Some(b'"') => Read::Str(self.string()),
            Some(b'(') | Some(b'[') => self.sequence(),
            Some(b'{') => self.map(),
            Some(c) if c.is_ascii_digit() => Read::Int(self.number()),
            Some(_) => self.name(),
            None => Read::Opaque,
        }
    }

    fn string(&mut self) -> String {
        self.at += 1;
        let mut out = String::new();
        while let Some(&c) = self.text.get(self.at) {
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let escaped = self.text.get(self.at).copied().unwrap_or(b'\\');
                    self.at += 1;
                    out.push(match escaped {
                        b'n' => '\n',
                        other => char::from(other),
                    });
                }
                _ => out.push(char::from(c)),
            }
        }
        out
    }

    fn number(&mut self) -> u64 {
        let start = self.at;
        while self.text.get(self.at).is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.at += 1;
        }
        let word = std::str::from_utf8(&self.text[start..self.at]).expect("ASCII");
        match word.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).expect("a hex literal"),
            None => word.parse().expect("a decimal literal"),
        }
    }

    fn word(&mut self) -> String {
        self.skip();
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.text[start..self.at]).into_owned()
    }

    /// A name, `True`/`true`, or a call: `Object.freeze(x)` is `x`.
    fn name(&mut self) -> Read {
        let word = self.word();
        if self.eat(b'(') {
            let inner = self.expression();
            assert!(self.eat(b')'), "an unclosed call of {word}");
            return if word == "Object.freeze" {
                inner
            } else {
                Read::Opaque
            };
        }
        match word.as_str() {
            "True" | "true" => Read::Bool(true),
            "False" | "false" => Read::Bool(false),
            _ => self
                .env
                .get(&word)
                .cloned()
                .unwrap_or_else(|| panic!("`{word}` is used before it is defined")),
        }
    }

    /// `(a, b)`, `(a,)`, `[a, b]`; `(a)` is `a`.
    fn sequence(&mut self) -> Read {
        let close = if self.text[self.at] == b'(' { b')' } else { b']' };
        self.at += 1;
        let mut items = Vec::new();
        let mut comma = false;
        while !self.eat(close) {
            items.push(self.expression());
            comma = self.eat(b',') || comma;
        }
        if close == b')' && !comma && items.len() == 1 {
            return items.pop().unwrap_or(Read::Opaque);
        }
        Read::List(items)
    }

    /// `{k: v, ...}`; a bare key is a string.
    fn map(&mut self) -> Read {
        self.at += 1;
        let mut entries = Vec::new();
        while !self.eat(b'}') {
            let key = match self.peek() {
                Some(c) if self.bare_keys && c.is_ascii_alphabetic() => Read::Str(self.word()),
                _ => self.expression(),
            };
            assert!(self.eat(b':'), "a key without a value");
            entries.push((key, self.expression()));
            self.eat(b',');
        }
        Read::Map(entries)
    }
}

/// The constants a module defines at its top level, by name, in order: each
/// line for which `definition` gives a name starts one, its value follows
/// the first ` = `.
fn constants(text: &str, definition: impl Fn(&str) -> Option<&str>, bare_keys: bool) -> Vec<(String, Read)> {
    let mut env = BTreeMap::new();
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(name) = definition(line) else {
            continue;
        };
        let value_start = start + line.find(" = ").expect("a definition has a value") + 3;
        let value = Reader {
            text: &text.as_bytes()[value_start..],
            at: 0,
            env: &env,
            bare_keys,
        }
        .expression();
        env.insert(name.to_owned(), value.clone());
        out.push((name.to_owned(), value));
    }
    out
}

/// `NAME: type = value`.
fn python_definition(line: &str) -> Option<&str> {
    let (name, _) = line.split_once(": ")?;
    let constant = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    constant.then_some(name)
}

/// `export const NAME = value;`.
fn javascript_definition(line: &str) -> Option<&str> {
    line.strip_prefix("export const ")?.split(' ').next()
}

fn python_constants(protocol: &Protocol) -> Vec<(String, Read)> {
    constants(&python::generate(protocol), python_definition, false)
}

fn javascript_constants(protocol: &Protocol) -> Vec<(String, Read)> {
    constants(&javascript::generate_js(protocol), javascript_definition, true)
}

fn declared_names(protocol: &Protocol) -> Vec<String> {
    javascript::generate_dts(protocol)
        .lines()
        .filter_map(|l| l.strip_prefix("export declare const "))
        .map(|l| l.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

/// Checks both bindings of `protocol` against its surface and each other.
fn both_bindings_export_the_surface(protocol: &Protocol) {
    let surface: Surface = protocol.surface();
    let py = python_constants(protocol);
    let js = javascript_constants(protocol);
    let py_codec = python::codec_names(&surface);

    // Python: the surface, then its own `struct` codec; nothing else.
    let py_names: Vec<&str> = py.iter().map(|(n, _)| n.as_str()).collect();
    let mut wanted: Vec<String> = surface
        .constants()
        .map(|c| python::constant_name(&c.name))
        .collect();
    wanted.extend(py_codec.iter().cloned());
    let mut sorted_py = py_names.clone();
    sorted_py.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(sorted_py, wanted, "the Python constants are not the surface's");

    // JavaScript: exactly the surface, in the module and its declarations.
    let js_names: Vec<String> = js.iter().map(|(n, _)| n.clone()).collect();
    let surface_js: Vec<String> = surface
        .constants()
        .map(|c| javascript::constant_name(&c.name))
        .collect();
    assert_eq!(
        js_names, surface_js,
        "the JavaScript constants are not the surface's"
    );
    assert_eq!(
        declared_names(protocol),
        surface_js,
        "the declarations differ from the module"
    );

    // Same values, each as the surface has it.
    let py: BTreeMap<String, Read> = py.into_iter().collect();
    let js: BTreeMap<String, Read> = js.into_iter().collect();
    for c in surface.constants() {
        let in_py = &py[&python::constant_name(&c.name)];
        let in_js = &js[&javascript::constant_name(&c.name)];
        assert_eq!(in_py, in_js, "{} differs between Python and JavaScript", c.name);
        assert_eq!(
            in_py,
            &expected(&c.value),
            "{} is not the surface's value",
            c.name
        );
    }
}

#[test]
fn both_bindings_export_the_same_constants_with_the_same_values() {
    let protocol = parse(common::SPEC, Path::new("protocol.yaml")).expect("protocol.yaml is valid");
    both_bindings_export_the_surface(&protocol);
    // The reference's names are among them.
    let names: Vec<String> = protocol.surface().constants().map(|c| c.name.clone()).collect();
    for name in [
        "FLAG_RESPONSE",
        "COMP_ZLIB",
        "OP_CODES",
        "CODE_OPS",
        "COMPRESS_THRESHOLD",
        "CHUNK_SIZE",
        "CHUNK_THRESHOLD",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} is not on the surface");
    }
}

#[test]
fn retired_entries_reach_both_bindings_alike() {
    let protocol = common::edited_protocol(|spec| {
        common::retire_bit_7(spec);
        spec["reserved"]["ops"] = Yaml::Sequence(vec![common::retired("legacy", "code", 99, 2)]);
    });
    assert!(
        !protocol.reserved.ops.is_empty() && !protocol.reserved.flags.is_empty(),
        "the edit retired nothing"
    );
    both_bindings_export_the_surface(&protocol);
}
