//! Helpers shared by the spec tests: the committed spec, edited in place.

#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;

use haystack_wire_codegen::{parse, Protocol};
use serde_norway::Value;

/// protocol.yaml as committed.
pub const SPEC: &str = include_str!("../../../protocol.yaml");

/// The real spec with one edit applied, as YAML text.
pub fn edited(edit: impl FnOnce(&mut Value)) -> String {
    let mut spec: Value = serde_norway::from_str(SPEC).expect("protocol.yaml parses");
    edit(&mut spec);
    serde_norway::to_string(&spec).expect("a YAML value serializes")
}

/// The real spec with one edit applied, validated; panics if it does not validate.
pub fn edited_protocol(edit: impl FnOnce(&mut Value)) -> Protocol {
    parse(&edited(edit), Path::new("protocol.yaml")).expect("the edited spec is valid")
}

/// `spec[key][index]`, mutably.
pub fn entry<'a>(spec: &'a mut Value, key: &str, index: usize) -> &'a mut Value {
    &mut spec[key][index]
}

/// Sets `value[key]`.
pub fn set(value: &mut Value, key: &str, to: impl Into<Value>) {
    value[key] = to.into();
}

/// A retired entry as the YAML spells it; `key` is `bit`, `code` or `id`.
pub fn retired(name: &str, key: &str, code: u64, version: u64) -> Value {
    let mut entry = serde_norway::Mapping::new();
    entry.insert("name".into(), name.into());
    entry.insert(key.into(), code.into());
    entry.insert("retired".into(), version.into());
    entry.insert("doc".into(), "Retired for a test.".into());
    Value::Mapping(entry)
}

/// A new op as the YAML spells it.
pub fn op(name: &str, code: u64) -> Value {
    let mut entry = serde_norway::Mapping::new();
    entry.insert("name".into(), name.into());
    entry.insert("code".into(), code.into());
    entry.insert("doc".into(), "An op added for a test.".into());
    Value::Mapping(entry)
}

/// Retires bit 7: it leaves the unused list and enters `reserved.flags`.
pub fn retire_bit_7(s: &mut Value) {
    s["unused_flag_bits"]["bits"] = Value::from(vec![5, 6]);
    s["reserved"]["flags"] = Value::Sequence(vec![retired("priority", "bit", 7, 2)]);
}
