//! The validated protocol: what the generators read.
//!
//! Every value here has passed [`crate::validate`]: names are unique and
//! well-formed, numbers fit their wire width, the layout is contiguous and each
//! field role the codec relies on appears exactly once.
//!
//! [`bindings`] turns the protocol into the language-neutral list of
//! constants that the Python and JavaScript bindings both export.
//!
//! The words of the spec's fixed vocabularies are the spec's own enums,
//! re-exported here with what they mean to the generators.

pub mod bindings;

pub use crate::spec::{
    JsonShape, MessageJson, Role, Sender, Unit, UnknownOpPolicy, UnusedBitsPolicy, WireType,
};

/// The whole protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// A short identifier of the format.
    pub name: String,
    /// What the format is.
    pub doc: String,
    /// The versions, oldest first.
    pub versions: Vec<Version>,
    /// The named flag bits, by ascending bit (the spec lists them so).
    pub flags: Vec<Flag>,
    /// The bits no version assigns.
    pub unused_bits: UnusedBits,
    /// What a receiver does with an op code it does not know.
    pub unknown_ops: UnknownOps,
    /// The operations, in the spec's order.
    pub ops: Vec<Op>,
    /// The compression algorithms, in the spec's order.
    pub algorithms: Vec<Algorithm>,
    /// The header sections, in wire order; the first is always present.
    pub sections: Vec<Section>,
    /// Retired flag bits, op codes and algorithm ids.
    pub reserved: Reserved,
    /// Named defaults.
    pub defaults: Vec<DefaultValue>,
    /// The capability handshake.
    pub handshake: Handshake,
    /// The JSON text messages; `None` for a spec written before they were.
    pub messages: Option<Messages>,
}

impl Protocol {
    /// The newest version.
    pub fn latest_version(&self) -> u64 {
        self.versions.iter().map(|v| v.version).max().unwrap_or(0)
    }

    /// The bits no flag names, unused and retired alike: a decoder gives
    /// them no meaning.
    pub fn unassigned_flag_mask(&self) -> u8 {
        self.unused_bits.mask() | self.reserved.flag_mask()
    }

    /// The mask of the flags that make a frame something other than a
    /// request, as far as unknown op codes are concerned.
    pub fn unanswered_mask(&self) -> u8 {
        self.unknown_ops
            .answered_unless
            .iter()
            .filter_map(|name| self.flag(name))
            .fold(0, |m, f| m | f.mask())
    }

    /// The flag with this name.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// The section holding the field with this role, and the field.
    pub fn field_with_role(&self, role: Role) -> Option<(&Section, &Field)> {
        self.sections
            .iter()
            .find_map(|s| s.fields.iter().find(|f| f.role == role).map(|f| (s, f)))
    }
}

/// Entries a released version used and a later one retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    /// Why they stay retired.
    pub doc: String,
    /// Retired flags; `code` is the bit number.
    pub flags: Vec<Retired>,
    /// Retired ops; `code` is the op code.
    pub ops: Vec<Retired>,
    /// Retired algorithms; `code` is the algorithm id.
    pub algorithms: Vec<Retired>,
}

/// One retired entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// The name it had.
    pub name: String,
    /// The bit, code or id it used.
    pub code: u8,
    /// The version that retired it.
    pub retired: u64,
    /// What it was.
    pub doc: String,
}

impl Reserved {
    /// The mask of the retired flag bits.
    pub fn flag_mask(&self) -> u8 {
        self.flags.iter().fold(0, |m, f| m | (1 << f.code))
    }
}

/// One protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The version number.
    pub version: u64,
    /// What it adds.
    pub doc: String,
}

/// One flag bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// snake_case name.
    pub name: String,
    /// Bit number, 0 to 7.
    pub bit: u8,
    /// The version that introduced it.
    pub since: u64,
    /// What it means.
    pub doc: String,
}

impl Flag {
    /// The flag's mask in the flags byte.
    pub fn mask(&self) -> u8 {
        1 << self.bit
    }
}

/// The bits of the flags byte that carry no meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusedBits {
    /// The bit numbers, ascending.
    pub bits: Vec<u8>,
    /// What a decoder does with them.
    pub policy: UnusedBitsPolicy,
    /// Why.
    pub doc: String,
}

impl UnusedBits {
    /// The mask of all unused bits.
    pub fn mask(&self) -> u8 {
        self.bits.iter().fold(0, |m, b| m | (1 << b))
    }
}

/// How unknown op codes are treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOps {
    /// What a receiver does.
    pub policy: UnknownOpPolicy,
    /// The names of the flags any of which makes a frame something other
    /// than a request (declared flags, each once).
    pub answered_unless: Vec<String>,
    /// Why, and what peers do.
    pub doc: String,
    /// Whether the spec has the entry; one written before it existed does
    /// not, and reads as [`UnknownOpPolicy::Reject`].
    pub stated: bool,
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The Haystack name (camelCase).
    pub name: String,
    /// The op code.
    pub code: u8,
    /// What it does.
    pub doc: String,
}

/// One compression algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithm {
    /// The negotiation name.
    pub name: String,
    /// The id in the algorithm byte.
    pub id: u8,
    /// What it is.
    pub doc: String,
    /// The settings both peers use.
    pub parameters: Vec<Parameter>,
}

/// One algorithm setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// snake_case name.
    pub name: String,
    /// Its value.
    pub value: Scalar,
    /// What it sets.
    pub doc: String,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// An integer.
    Int(u64),
    /// A string.
    Str(String),
}

/// A header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// snake_case name.
    pub name: String,
    /// What it is for.
    pub doc: String,
    /// The flag announcing it; `None` for the base header.
    pub present_when: Option<String>,
    /// The fields, by ascending offset, without gaps.
    pub fields: Vec<Field>,
}

impl Section {
    /// The section's length in bytes.
    pub fn len(&self) -> usize {
        self.fields.last().map_or(0, |f| f.offset + f.ty.size())
    }

    /// Whether the section has no fields (never true once validated).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// snake_case name.
    pub name: String,
    /// Byte offset from the start of its section.
    pub offset: usize,
    /// Wire type.
    pub ty: WireType,
    /// What the codec uses it for.
    pub role: Role,
    /// What it means.
    pub doc: String,
}

impl WireType {
    /// Size in bytes.
    pub fn size(self) -> usize {
        match self {
            WireType::U8 => 1,
            WireType::U16 => 2,
            WireType::U32 => 4,
        }
    }
}

impl Role {
    /// The only wire type the role allows, when it is restricted: the flags,
    /// op codes and algorithm ids are one byte each.
    pub fn required_type(self) -> Option<WireType> {
        match self {
            Role::Flags | Role::Op | Role::Compression => Some(WireType::U8),
            Role::RequestId | Role::ChunkIndex | Role::ChunkTotal => None,
        }
    }
}

/// A named default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultValue {
    /// snake_case name.
    pub name: String,
    /// The value.
    pub value: u64,
    /// Its unit.
    pub unit: Unit,
    /// What it is for.
    pub doc: String,
}

impl Unit {
    /// The sentence that follows a default's doc in the bindings, if any.
    pub fn note(self) -> &'static str {
        match self {
            Unit::Bytes => " In bytes.",
            Unit::Seconds => " In seconds.",
            Unit::Count | Unit::RequestId => "",
        }
    }
}

/// The capability handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// How it goes.
    pub doc: String,
    /// The `type` value.
    pub ty: String,
    /// The version both messages carry.
    pub version: u64,
    /// Seconds a client waits before falling back to v1.
    pub fallback_timeout_seconds: u64,
    /// The WebSocket subprotocol both peers name.
    pub subprotocol: String,
    /// What the subprotocol is for.
    pub subprotocol_doc: String,
    /// The token field of the auth message.
    pub auth_field: String,
    /// What the auth message is.
    pub auth_doc: String,
    /// The JSON fields.
    pub fields: Vec<HandshakeField>,
}

/// One JSON field of the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeField {
    /// The JSON key.
    pub name: String,
    /// The JSON shape.
    pub json: JsonShape,
    /// What it says.
    pub doc: String,
}

/// The JSON text messages besides the capability handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messages {
    /// What they are.
    pub doc: String,
    /// The JSON key of the `type` of messages that have one.
    pub type_field: String,
    /// The most requests a batch may hold.
    pub batch_max_items: u64,
    /// How batches go.
    pub batch_doc: String,
    /// Every message, in spec order.
    pub list: Vec<Message>,
    /// The login exchange.
    pub login: Login,
}

/// One JSON text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its name in the spec (snake_case).
    pub name: String,
    /// The value of the type field, if it has one.
    pub ty: Option<String>,
    /// Which peer sends it.
    pub sender: Sender,
    /// What it is for.
    pub doc: String,
    /// Its fields, in writing order.
    pub fields: Vec<MessageField>,
}

/// One JSON field of a text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageField {
    /// The JSON key.
    pub name: String,
    /// The JSON shape.
    pub json: MessageJson,
    /// Whether every message of its kind has it.
    pub required: bool,
    /// What it holds.
    pub doc: String,
}

impl MessageJson {
    /// What the shape is, in words for docs.
    pub fn words(self) -> &'static str {
        match self {
            MessageJson::String => "string",
            MessageJson::Base64Url => "string, unpadded base64url",
            MessageJson::Grid => "Haystack 4 JSON grid",
            MessageJson::Any => "any JSON value",
        }
    }
}

impl Message {
    /// Its doc, who sends it, its `type` value and each field, for the
    /// bindings' doc comments.
    pub fn description(&self, type_field: &str) -> String {
        let kind = match &self.ty {
            Some(ty) => format!("`{type_field}` is `{ty}`"),
            None => format!("it has no `{type_field}`"),
        };
        let mut text = format!("{}\n\nSent by the {}; {kind}.", self.doc, self.sender.name());
        for f in &self.fields {
            let presence = if f.required { "required" } else { "optional" };
            text.push_str(&format!(
                "\n\n`{}` ({}, {presence}): {}",
                f.name,
                f.json.words(),
                f.doc
            ));
        }
        text
    }

    /// The keys of its fields, in writing order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// The keys of its required fields, in writing order.
    pub fn required_keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter(|f| f.required).map(|f| f.name.as_str())
    }
}

/// The login exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The hash function.
    pub hash: String,
    /// The message names of a successful login, in order.
    pub steps: Vec<String>,
    /// The refusal message's name.
    pub refusal: String,
    /// How it goes.
    pub doc: String,
}
