//! The binding surface: the constants every language binding exports, built
//! once from the validated protocol.
//!
//! The Python and JavaScript emitters render this and nothing else of the
//! constants, so both bindings export the same names with the same values,
//! docs and order. Names are neutral SCREAMING_SNAKE (they are the names of
//! `hs_py.ws_codec` where it has them); each emitter passes them through its
//! own naming function. The header codec each binding writes in its own way
//! (Python `struct` layouts, JavaScript `DataView` functions) reads
//! [`Surface::header`].

use super::{Field, Message, Protocol, Retired, Scalar, UnusedBitsPolicy};

/// Names the header codecs refer to, defined once here.
pub mod names {
    /// The mask of the flag bits no flag names.
    pub const UNUSED_FLAG_MASK: &str = "UNUSED_FLAG_MASK";
    /// Whether a decoder refuses those bits.
    pub const REJECT_UNUSED_FLAG_BITS: &str = "REJECT_UNUSED_FLAG_BITS";
    /// Op names to op codes.
    pub const OP_CODES: &str = "OP_CODES";
    /// Op codes to op names.
    pub const CODE_OPS: &str = "CODE_OPS";
    /// The policy for unknown op codes.
    pub const UNKNOWN_OP_POLICY: &str = "UNKNOWN_OP_POLICY";
    /// The flags that make a frame with an unknown op no request.
    pub const UNKNOWN_OP_ANSWERED_UNLESS: &str = "UNKNOWN_OP_ANSWERED_UNLESS";
    /// Algorithm names to ids.
    pub const COMPRESSION_IDS: &str = "COMPRESSION_IDS";
    /// Algorithm ids to names.
    pub const COMPRESSION_NAMES: &str = "COMPRESSION_NAMES";
    /// The keys of every text message by its name.
    pub const MESSAGE_FIELDS: &str = "MESSAGE_FIELDS";
}

/// Everything a binding exports besides its header codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// The constants, by topic, in the order the bindings define them.
    pub groups: Vec<Group>,
    /// The header sections, in wire order, for the header codecs.
    pub header: Vec<HeaderSection>,
}

impl Surface {
    /// Every constant, in order.
    pub fn constants(&self) -> impl Iterator<Item = &Constant> {
        self.groups.iter().flat_map(|g| g.constants.iter())
    }
}

/// What a group of constants is about; emitters place their own code by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// The protocol version.
    Versions,
    /// The flag bits.
    Flags,
    /// The op codes.
    Ops,
    /// The compression algorithms.
    Compression,
    /// The header sections.
    Layout,
    /// Named defaults.
    Defaults,
    /// The capability handshake.
    Handshake,
    /// The JSON text messages.
    Messages,
}

/// A titled list of constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// What it is about.
    pub topic: Topic,
    /// Its heading.
    pub title: &'static str,
    /// Its constants, in order.
    pub constants: Vec<Constant>,
}

/// One exported constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    /// Its neutral SCREAMING_SNAKE name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// What it is, as prose (paragraphs separated by blank lines).
    pub doc: String,
}

/// How an integer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `12`.
    Decimal,
    /// `0x0C`: masks and flag bits.
    Hex,
}

/// The type of a value, for the languages that declare one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An integer.
    Int,
    /// A string.
    Str,
    /// A boolean.
    Bool,
    /// A list of this kind.
    List(Box<Kind>),
    /// A map from the first kind to the second.
    Map(Box<Kind>, Box<Kind>),
}

/// A constant's value, in no language's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(u64, Base),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A constant defined before this one, by name, and its value.
    Ref(String, Box<Value>),
    /// The bitwise or of constants defined before (flags), by name, and the result.
    Or(Vec<String>, u64),
    /// A list of values of one kind.
    List(Kind, Vec<Value>),
    /// Keys to values, in order.
    Map {
        /// The kind of the keys.
        key: Kind,
        /// The kind of the values.
        value: Kind,
        /// The entries.
        entries: Vec<(Value, Value)>,
    },
}

impl Value {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(..) | Value::Or(..) => Kind::Int,
            Value::Str(_) => Kind::Str,
            Value::Bool(_) => Kind::Bool,
            Value::Ref(_, v) => v.kind(),
            Value::List(k, _) => Kind::List(Box::new(k.clone())),
            Value::Map { key, value, .. } => Kind::Map(Box::new(key.clone()), Box::new(value.clone())),
        }
    }

    /// The value with every reference and `or` replaced by what it stands for.
    pub fn resolved(&self) -> Value {
        match self {
            Value::Ref(_, v) => v.resolved(),
            Value::Or(_, v) => Value::Int(*v, Base::Hex),
            Value::List(k, items) => Value::List(k.clone(), items.iter().map(Value::resolved).collect()),
            Value::Map { key, value, entries } => Value::Map {
                key: key.clone(),
                value: value.clone(),
                entries: entries
                    .iter()
                    .map(|(k, v)| (k.resolved(), v.resolved()))
                    .collect(),
            },
            other => other.clone(),
        }
    }
}

/// A header section, as the codecs read and write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSection {
    /// snake_case name.
    pub name: String,
    /// What it is for.
    pub doc: String,
    /// Its length in bytes.
    pub size: usize,
    /// The constant holding its length (`BASE_HEADER_SIZE`).
    pub size_constant: String,
    /// The flag announcing it; `None` for the base header.
    pub flag: Option<SectionFlag>,
    /// The fields, by ascending offset.
    pub fields: Vec<Field>,
}

impl HeaderSection {
    /// `BASE_HEADER`, `CHUNK_HEADER`: the prefix of the section's constants
    /// (the reference calls its layouts `_HEADER` and `_CHUNK_HEADER`).
    pub fn prefix(&self) -> String {
        section_prefix(&self.name)
    }
}

/// The flag that announces a header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionFlag {
    /// The flag's constant (`FLAG_COMPRESSED`).
    pub flag: String,
    /// The section's constant naming it (`ALGORITHM_HEADER_FLAG`).
    pub constant: String,
}

/// The neutral name of a spec name: `hisRead` → `HIS_READ`, `chunk_size` →
/// `CHUNK_SIZE`.
pub fn shouty(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `FLAG_COMPRESSED` for the flag `compressed`.
pub fn flag_constant(name: &str) -> String {
    format!("FLAG_{}", shouty(name))
}

/// `COMP_ZLIB` for the algorithm `zlib`.
fn algorithm_constant(name: &str) -> String {
    format!("COMP_{}", shouty(name))
}

/// `BASE_HEADER` for the section `base`.
fn section_prefix(name: &str) -> String {
    format!("{}_HEADER", shouty(name))
}

/// `MESSAGE_WATCH_PUSH_FIELDS`: the keys of one text message.
fn message_constant(message: &Message) -> String {
    format!("MESSAGE_{}_FIELDS", shouty(&message.name))
}

/// The constants being built, each group in turn.
struct Builder {
    groups: Vec<Group>,
}

impl Builder {
    fn group(&mut self, topic: Topic, title: &'static str) {
        self.groups.push(Group {
            topic,
            title,
            constants: Vec::new(),
        });
    }

    fn push(&mut self, name: impl Into<String>, value: Value, doc: impl Into<String>) {
        if let Some(group) = self.groups.last_mut() {
            group.constants.push(Constant {
                name: name.into(),
                value,
                doc: doc.into(),
            });
        }
    }

    /// A reference to the constant `name` defined before.
    fn reference(&self, name: &str) -> Value {
        let value = self
            .groups
            .iter()
            .flat_map(|g| g.constants.iter())
            .find(|c| c.name == name)
            .map_or(Value::Int(0, Base::Decimal), |c| c.value.clone());
        Value::Ref(name.to_owned(), Box::new(value))
    }
}

fn int(v: impl Into<u64>) -> Value {
    Value::Int(v.into(), Base::Decimal)
}

fn hex(v: impl Into<u64>) -> Value {
    Value::Int(v.into(), Base::Hex)
}

fn string(s: &str) -> Value {
    Value::Str(s.to_owned())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::List(Kind::Str, items.into_iter().map(string).collect())
}

fn map(key: Kind, value: Kind, entries: Vec<(Value, Value)>) -> Value {
    Value::Map { key, value, entries }
}

/// Retired codes to the names they had, and the doc listing them.
fn retired(list: &[Retired], what: &str) -> (Value, String) {
    let entries = list.iter().map(|r| (int(r.code), string(&r.name))).collect();
    let mut doc = format!("Retired {what} and the names they had; never reused.");
    for r in list {
        doc.push_str(&format!(
            "\n\n{} `{}`, retired in v{}: {}",
            r.code, r.name, r.retired, r.doc
        ));
    }
    (map(Kind::Int, Kind::Str, entries), doc)
}

impl Protocol {
    /// The binding surface of this protocol.
    pub fn surface(&self) -> Surface {
        let mut b = Builder { groups: Vec::new() };
        versions(&mut b, self);
        flags(&mut b, self);
        ops(&mut b, self);
        compression(&mut b, self);
        let header = layout(&mut b, self);
        defaults(&mut b, self);
        handshake(&mut b, self);
        messages(&mut b, self);
        Surface {
            groups: b.groups,
            header,
        }
    }
}

fn versions(b: &mut Builder, p: &Protocol) {
    b.group(Topic::Versions, "Versions");
    b.push(
        "PROTOCOL_VERSION",
        int(p.latest_version()),
        "The newest protocol version.",
    );
}

fn flags(b: &mut Builder, p: &Protocol) {
    b.group(Topic::Flags, "Flags");
    for f in &p.flags {
        b.push(
            flag_constant(&f.name),
            hex(f.mask()),
            format!("Bit {}, since v{}: {}", f.bit, f.since, f.doc),
        );
    }
    let named = p
        .flags
        .iter()
        .map(|f| (string(&f.name), b.reference(&flag_constant(&f.name))))
        .collect();
    b.push(
        "FLAGS",
        map(Kind::Str, Kind::Int, named),
        "Every named flag by its name in protocol.yaml.",
    );
    b.push(
        names::UNUSED_FLAG_MASK,
        hex(p.unassigned_flag_mask()),
        format!(
            "The bits no flag names (unused and retired ones): {}",
            p.unused_bits.doc
        ),
    );
    b.push(
        names::REJECT_UNUSED_FLAG_BITS,
        Value::Bool(p.unused_bits.policy == UnusedBitsPolicy::Reject),
        format!(
            "Whether a decoder refuses a frame that sets a bit of `{}`.",
            names::UNUSED_FLAG_MASK
        ),
    );
    let (value, doc) = retired(&p.reserved.flags, "flag bits");
    b.push("RETIRED_FLAG_BITS", value, doc);
}

fn ops(b: &mut Builder, p: &Protocol) {
    b.group(Topic::Ops, "Op codes");
    let codes = p.ops.iter().map(|o| (string(&o.name), int(o.code))).collect();
    b.push(
        names::OP_CODES,
        map(Kind::Str, Kind::Int, codes),
        "Haystack op names to op codes.",
    );
    let names = p.ops.iter().map(|o| (int(o.code), string(&o.name))).collect();
    b.push(
        names::CODE_OPS,
        map(Kind::Int, Kind::Str, names),
        "Op codes to Haystack op names.",
    );
    let (value, doc) = retired(&p.reserved.ops, "op codes");
    b.push("RETIRED_OP_CODES", value, doc);
    b.push(
        names::UNKNOWN_OP_POLICY,
        string(p.unknown_ops.policy.name()),
        format!(
            "The spec's `unknown_ops` policy, `answer` or `reject`. {}",
            p.unknown_ops.doc
        ),
    );
    let unanswered = p
        .unknown_ops
        .answered_unless
        .iter()
        .map(|f| flag_constant(f))
        .collect();
    b.push(
        names::UNKNOWN_OP_ANSWERED_UNLESS,
        Value::Or(unanswered, u64::from(p.unanswered_mask())),
        "A frame with an unknown op code and any of these flags is no request: under \
         `answer`, it is dropped instead of answered.",
    );
}

fn compression(b: &mut Builder, p: &Protocol) {
    b.group(Topic::Compression, "Compression");
    for a in &p.algorithms {
        b.push(algorithm_constant(&a.name), int(a.id), a.doc.clone());
    }
    for a in &p.algorithms {
        for param in &a.parameters {
            let value = match &param.value {
                Scalar::Int(v) => int(*v),
                Scalar::Str(s) => string(s),
            };
            b.push(
                format!("{}_{}", shouty(&a.name), shouty(&param.name)),
                value,
                format!("`{}`: {}", a.name, param.doc),
            );
        }
    }
    let ids = p
        .algorithms
        .iter()
        .map(|a| (string(&a.name), b.reference(&algorithm_constant(&a.name))))
        .collect();
    b.push(
        names::COMPRESSION_IDS,
        map(Kind::Str, Kind::Int, ids),
        "Algorithm names, as the capability handshake spells them, to algorithm ids.",
    );
    let names = p
        .algorithms
        .iter()
        .map(|a| (b.reference(&algorithm_constant(&a.name)), string(&a.name)))
        .collect();
    b.push(
        names::COMPRESSION_NAMES,
        map(Kind::Int, Kind::Str, names),
        "Algorithm ids to names.",
    );
    let (value, doc) = retired(&p.reserved.algorithms, "algorithm ids");
    b.push("RETIRED_COMPRESSION_IDS", value, doc);
}

fn layout(b: &mut Builder, p: &Protocol) -> Vec<HeaderSection> {
    b.group(Topic::Layout, "Header layout");
    let mut header = Vec::new();
    for s in &p.sections {
        let prefix = section_prefix(&s.name);
        let flag = s.present_when.as_ref().map(|f| SectionFlag {
            flag: flag_constant(f),
            constant: format!("{prefix}_FLAG"),
        });
        let when = match &flag {
            None => "always present".to_owned(),
            Some(f) => format!("present when `{}` is set", f.flag),
        };
        let size_constant = format!("{prefix}_SIZE");
        b.push(
            size_constant.clone(),
            int(s.len() as u64),
            format!("The length in bytes of the {} section, {when}. {}", s.name, s.doc),
        );
        if let Some(f) = &flag {
            let value = b.reference(&f.flag);
            b.push(
                f.constant.clone(),
                value,
                format!("The flag that announces the {} section.", s.name),
            );
        }
        header.push(HeaderSection {
            name: s.name.clone(),
            doc: s.doc.clone(),
            size: s.len(),
            size_constant,
            flag,
            fields: s.fields.clone(),
        });
    }
    header
}

fn defaults(b: &mut Builder, p: &Protocol) {
    b.group(Topic::Defaults, "Defaults");
    for d in &p.defaults {
        b.push(
            shouty(&d.name),
            int(d.value),
            format!("{}{}", d.doc, d.unit.note()),
        );
    }
}

fn handshake(b: &mut Builder, p: &Protocol) {
    let h = &p.handshake;
    b.group(Topic::Handshake, "Capability handshake");
    b.push("HANDSHAKE_TYPE", string(&h.ty), h.doc.clone());
    b.push(
        "HANDSHAKE_VERSION",
        int(h.version),
        "The version both handshake messages carry.",
    );
    b.push(
        "HANDSHAKE_FALLBACK_TIMEOUT",
        int(h.fallback_timeout_seconds),
        "Seconds a client waits for the answer before it falls back to v1.",
    );
    let field_docs: Vec<String> = h
        .fields
        .iter()
        .map(|f| format!("`{}`: {}", f.name, f.doc))
        .collect();
    b.push(
        "HANDSHAKE_FIELDS",
        strings(h.fields.iter().map(|f| f.name.as_str())),
        format!("The JSON keys of both messages.\n\n{}", field_docs.join("\n\n")),
    );
    b.push("SUBPROTOCOL", string(&h.subprotocol), h.subprotocol_doc.clone());
    b.push("AUTH_TOKEN_FIELD", string(&h.auth_field), h.auth_doc.clone());
}

fn messages(b: &mut Builder, p: &Protocol) {
    let Some(m) = &p.messages else {
        return;
    };
    b.group(Topic::Messages, "Text messages");
    b.push(
        "MESSAGE_TYPE_FIELD",
        string(&m.type_field),
        format!(
            "The JSON key that names the kind of the text messages that have one (see \
             `MESSAGE_TYPES`).\n\n{}",
            m.doc
        ),
    );
    b.push(
        "MAX_BATCH_SIZE",
        int(m.batch_max_items),
        format!(
            "The most requests one batch may hold (the reference's \
             `hs_py.ws_server._MAX_BATCH_SIZE`). {}",
            m.batch_doc
        ),
    );
    for message in &m.list {
        b.push(
            message_constant(message),
            strings(message.keys()),
            format!(
                "The JSON keys of `{}`, in the order they are written. {}",
                message.name,
                message.description(&m.type_field)
            ),
        );
    }
    let keys = Kind::List(Box::new(Kind::Str));
    let fields = m
        .list
        .iter()
        .map(|message| (string(&message.name), b.reference(&message_constant(message))))
        .collect();
    b.push(
        names::MESSAGE_FIELDS,
        map(Kind::Str, keys.clone(), fields),
        "The JSON keys of every text message by its name in protocol.yaml, in the order \
         they are written.",
    );
    let required = m
        .list
        .iter()
        .map(|message| (string(&message.name), strings(message.required_keys())))
        .collect();
    b.push(
        "MESSAGE_REQUIRED_FIELDS",
        map(Kind::Str, keys, required),
        "The keys every message of its kind has; the others are optional.",
    );
    let types = m
        .list
        .iter()
        .filter_map(|message| Some((string(&message.name), string(message.ty.as_ref()?))))
        .collect();
    b.push(
        "MESSAGE_TYPES",
        map(Kind::Str, Kind::Str, types),
        "The value of `MESSAGE_TYPE_FIELD` of the messages that have one. A value may \
         mark a message of each sender, or several steps of the login.",
    );
    let senders = m
        .list
        .iter()
        .map(|message| (string(&message.name), string(message.sender.name())))
        .collect();
    b.push(
        "MESSAGE_SENDERS",
        map(Kind::Str, Kind::Str, senders),
        "Which peer sends each message: `client` or `server`.",
    );
    let l = &m.login;
    b.push(
        "LOGIN_HASH",
        string(&l.hash),
        "The hash function both sides name in the login.",
    );
    b.push(
        "LOGIN_STEPS",
        strings(l.steps.iter().map(String::as_str)),
        format!(
            "The messages of a login that succeeds, in order, client first (names of \
             `{}`). {}",
            names::MESSAGE_FIELDS,
            l.doc
        ),
    );
    b.push(
        "LOGIN_REFUSAL",
        string(&l.refusal),
        "What the server sends in place of its next step when the login fails.",
    );
}
