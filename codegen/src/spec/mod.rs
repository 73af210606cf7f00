//! The spec as written: serde types that mirror `protocol.yaml` one to one,
//! and the reading of the file into them.
//!
//! Nothing here is checked beyond what serde checks: shapes, unknown keys,
//! and the words of the fixed vocabularies (wire types, roles, units, JSON
//! shapes, senders, policies), which are enums from the start.
//! [`crate::validate`] turns a [`Spec`] into the [`crate::model::Protocol`] the
//! generators read.

mod parse;
mod vocabulary;

use serde::Deserialize;

pub use parse::{from_str, read};
pub use vocabulary::{
    JsonShape, MessageJson, Role, Sender, Unit, UnknownOpPolicy, UnusedBitsPolicy, WireType,
};

/// The whole of `protocol.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// A short identifier of the format.
    pub name: String,
    /// What the format is, for the top of the generated module.
    pub doc: String,
    /// The protocol versions, oldest first.
    pub versions: Vec<VersionSpec>,
    /// The named bits of the flags byte.
    pub flags: Vec<FlagSpec>,
    /// The bits no version assigns, and what a decoder does with them.
    pub unused_flag_bits: UnusedBitsSpec,
    /// How a receiver treats a frame whose op code it does not know. A spec
    /// written before the entry existed has none; it reads as `reject`, the
    /// behaviour of those releases.
    #[serde(default)]
    pub unknown_ops: Option<UnknownOpsSpec>,
    /// The operations and their codes.
    pub ops: Vec<OpSpec>,
    /// The compression algorithms and their ids.
    pub compression: Vec<AlgorithmSpec>,
    /// The header sections, in wire order.
    pub layout: Vec<SectionSpec>,
    /// Retired flag bits, op codes and algorithm ids, which nothing may reuse.
    pub reserved: ReservedSpec,
    /// Named default values.
    pub defaults: Vec<DefaultSpec>,
    /// The capability handshake.
    pub handshake: HandshakeSpec,
    /// The JSON text messages: envelopes, batches, JSON pushes and the login.
    /// A spec written before the entry existed has none.
    #[serde(default)]
    pub messages: Option<MessagesSpec>,
}

/// One protocol version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// The version number.
    pub version: u64,
    /// What this version adds.
    pub doc: String,
}

/// One flag bit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    /// The flag's name (snake_case).
    pub name: String,
    /// The bit number, 0 being the least significant.
    pub bit: u64,
    /// The version that introduced the flag.
    pub since: u64,
    /// What the flag means.
    pub doc: String,
}

/// The flag bits that carry no meaning yet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnusedBitsSpec {
    /// The bit numbers.
    pub bits: Vec<u64>,
    /// What a decoder does with them.
    pub policy: UnusedBitsPolicy,
    /// Why, and what peers do.
    pub doc: String,
}

/// What a receiver does with a frame whose op code it does not know.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnknownOpsSpec {
    /// What a receiver does with such a frame.
    pub policy: UnknownOpPolicy,
    /// Flag names any of which makes a frame something other than a request;
    /// under `answer`, such a frame is dropped instead of answered.
    #[serde(default)]
    pub answered_unless: Vec<String>,
    /// What receivers do, and why.
    pub doc: String,
}

/// One operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    /// The Haystack op name, exactly as peers spell it (camelCase).
    pub name: String,
    /// The op code on the wire.
    pub code: u64,
    /// What the operation does.
    pub doc: String,
}

/// One compression algorithm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmSpec {
    /// The name used in the capability handshake.
    pub name: String,
    /// The id in the algorithm byte.
    pub id: u64,
    /// What the algorithm is.
    pub doc: String,
    /// The settings both peers must use.
    #[serde(default)]
    pub parameters: Vec<ParameterSpec>,
}

/// One setting of a compression algorithm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// The parameter's name (snake_case).
    pub name: String,
    /// An integer or a string.
    pub value: ScalarSpec,
    /// What it sets.
    pub doc: String,
}

/// A parameter value as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ScalarSpec {
    /// A non-negative integer.
    Int(u64),
    /// A string.
    Str(String),
}

/// The retired entries of each numbered list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservedSpec {
    /// Why entries are retired rather than deleted.
    pub doc: String,
    /// Retired flag bits.
    #[serde(default)]
    pub flags: Vec<RetiredFlagSpec>,
    /// Retired op codes.
    #[serde(default)]
    pub ops: Vec<RetiredOpSpec>,
    /// Retired algorithm ids.
    #[serde(default)]
    pub compression: Vec<RetiredAlgorithmSpec>,
}

/// A retired flag: the bit and the name it had, and when it went.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredFlagSpec {
    /// The name the flag had.
    pub name: String,
    /// The bit it used.
    pub bit: u64,
    /// The version that retired it.
    pub retired: u64,
    /// What it was, and why it went.
    pub doc: String,
}

/// A retired op: the code and the name it had, and when it went.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredOpSpec {
    /// The name the op had.
    pub name: String,
    /// The code it used.
    pub code: u64,
    /// The version that retired it.
    pub retired: u64,
    /// What it was, and why it went.
    pub doc: String,
}

/// A retired algorithm: the id and the name it had, and when it went.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredAlgorithmSpec {
    /// The name the algorithm had.
    pub name: String,
    /// The id it used.
    pub id: u64,
    /// The version that retired it.
    pub retired: u64,
    /// What it was, and why it went.
    pub doc: String,
}

/// One header section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    /// The section's name (snake_case).
    pub name: String,
    /// What the section is for.
    pub doc: String,
    /// The flag whose bit announces the section; absent for the base header.
    #[serde(default)]
    pub present_when: Option<String>,
    /// The fields, in wire order.
    pub fields: Vec<FieldSpec>,
}

/// One field of a header section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's name (snake_case).
    pub name: String,
    /// The byte offset from the start of its section.
    pub offset: u64,
    /// The wire type: `u8`, `u16` or `u32`, big-endian.
    #[serde(rename = "type")]
    pub ty: WireType,
    /// What the field holds, as far as the codec is concerned.
    pub role: Role,
    /// What the field means.
    pub doc: String,
}

/// One named default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSpec {
    /// The default's name (snake_case).
    pub name: String,
    /// Its value.
    pub value: u64,
    /// What the value counts.
    pub unit: Unit,
    /// What it is for.
    pub doc: String,
}

/// The capability handshake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeSpec {
    /// How the handshake goes.
    pub doc: String,
    /// The value of the `type` field.
    #[serde(rename = "type")]
    pub ty: String,
    /// The version both messages carry.
    pub version: u64,
    /// How long a client waits for the answer before falling back to v1.
    pub fallback_timeout_seconds: u64,
    /// The WebSocket subprotocol of the connection.
    pub subprotocol: SubprotocolSpec,
    /// The optional token message sent before the handshake.
    pub auth: AuthSpec,
    /// The JSON fields of both messages.
    pub fields: Vec<HandshakeFieldSpec>,
}

/// The WebSocket subprotocol.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubprotocolSpec {
    /// The name in `Sec-WebSocket-Protocol`.
    pub name: String,
    /// Why and when it is named.
    pub doc: String,
}

/// The token message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// The JSON field that carries the token.
    pub field: String,
    /// When it is sent.
    pub doc: String,
}

/// One JSON field of the handshake messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeFieldSpec {
    /// The JSON key.
    pub name: String,
    /// The JSON shape.
    pub json: JsonShape,
    /// What the field says in the offer and in the answer.
    pub doc: String,
}

/// The JSON text messages besides the capability handshake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesSpec {
    /// What the messages are and how they mix with frames.
    pub doc: String,
    /// The JSON key that names the kind of the messages that have a `type`.
    pub type_field: String,
    /// The batch form and its cap.
    pub batch: BatchSpec,
    /// Every message.
    pub list: Vec<MessageSpec>,
    /// The login exchange.
    pub login: LoginSpec,
}

/// The batch form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// The most requests one batch may hold.
    pub max_items: u64,
    /// How batches go and what happens over the cap.
    pub doc: String,
}

/// One JSON text message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// The message's name in the spec (snake_case).
    pub name: String,
    /// The value of the type field, for messages that carry one.
    #[serde(rename = "type", default)]
    pub ty: Option<String>,
    /// Which peer sends it.
    pub sender: Sender,
    /// What the message is for.
    pub doc: String,
    /// Its JSON fields, in the order they are written.
    pub fields: Vec<MessageFieldSpec>,
}

/// One JSON field of a text message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFieldSpec {
    /// The JSON key.
    pub name: String,
    /// The JSON shape.
    pub json: MessageJson,
    /// Whether every message of this kind has it.
    pub required: bool,
    /// What it holds.
    pub doc: String,
}

/// The login exchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSpec {
    /// The hash function both sides name.
    pub hash: String,
    /// The messages of a successful login, in order, client first.
    pub steps: Vec<String>,
    /// The message a server sends instead of its next step when the login fails.
    pub refusal: String,
    /// How the login goes.
    pub doc: String,
}
