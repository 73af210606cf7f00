//! The rules of the compatibility check, and the groups they fall in.
//!
//! [`Rule::def`] is the table: each rule's name, group and summary sit in
//! one arm of one exhaustive match, so a new rule cannot be added without
//! choosing its group.

/// What a change breaks, in buf's vocabulary. buf's breaking-change
/// categories run from strictest to most lenient: FILE and PACKAGE also
/// catch changes that break generated code; WIRE_JSON catches only changes
/// that break the binary or the JSON encoding; WIRE only the binary one.
///
/// Both encodings matter here (frames are binary, the handshake and the text
/// messages JSON), so [`Group::Wire`] holds what buf's WIRE_JSON would catch,
/// and [`Group::Name`] the name-only changes that only the stricter
/// categories catch: the bytes stay, generated code breaks. Checking `Wire`
/// alone is the lenient check, for a team that only cares about deployed
/// peers; checking `Name` as well is the strict one, for a team that also
/// ships code against the bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// Wire-breaking (buf's WIRE_JSON): a peer built from the old spec reads
    /// some frame, handshake or text message of the new one differently, or
    /// not at all.
    Wire,
    /// Name-only: the bytes are unchanged, but a name that code or bindings
    /// use changed or disappeared.
    Name,
}

impl Group {
    /// Every group: the changes that break peers, then those that break only code.
    pub const ALL: [Group; 2] = [Group::Wire, Group::Name];

    /// The upper-case name printed with each finding.
    pub fn name(self) -> &'static str {
        match self {
            Group::Wire => "WIRE",
            Group::Name => "NAME",
        }
    }

    /// What changes of this group do to peers.
    pub fn summary(self) -> &'static str {
        match self {
            Group::Wire => {
                "wire-breaking: peers built from the old spec misread or refuse frames or text messages"
            }
            Group::Name => "name-only: the bytes are the same, code built on the old names breaks",
        }
    }
}

/// The list of numbered things a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Ops and their codes.
    Op,
    /// Flags and their bits.
    Flag,
    /// Compression algorithms and their ids.
    Algorithm,
}

impl Kind {
    /// The YAML key of the live list.
    pub fn list(self) -> &'static str {
        match self {
            Kind::Op => "ops",
            Kind::Flag => "flags",
            Kind::Algorithm => "compression",
        }
    }

    /// The YAML key of the number.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Op => "code",
            Kind::Flag => "bit",
            Kind::Algorithm => "id",
        }
    }

    /// What one entry is called, with its article: "an op".
    pub fn a_what(self) -> &'static str {
        match self {
            Kind::Op => "an op",
            Kind::Flag => "a flag",
            Kind::Algorithm => "an algorithm",
        }
    }

    /// The number's name with its article: "a code".
    pub fn a_key(self) -> &'static str {
        match self {
            Kind::Op => "a code",
            Kind::Flag => "a bit",
            Kind::Algorithm => "an id",
        }
    }

    /// What one entry is called in messages.
    pub fn what(self) -> &'static str {
        match self {
            Kind::Op => "op",
            Kind::Flag => "flag",
            Kind::Algorithm => "algorithm",
        }
    }
}

/// One row of the rules table: what [`Rule::def`] says about a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDef {
    /// The name printed with each finding, buf style: `OP_CODE_CHANGED`.
    pub name: String,
    /// What a change of this kind breaks.
    pub group: Group,
    /// One line on what the rule catches.
    pub summary: String,
}

/// One rule: a kind of change the check reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// An entry is gone and its number is not retired.
    Removed(Kind),
    /// An entry kept its name and took another number.
    NumberChanged(Kind),
    /// A live entry took a number the old spec retired or gave to another entry.
    NumberReused(Kind),
    /// An entry kept its number and took another name.
    Renamed(Kind),
    /// A retired number is no longer listed as retired.
    RetirementDeleted(Kind),
    /// A parameter of an algorithm changed value or disappeared.
    AlgorithmParameterChanged,
    /// A header field is gone.
    FieldRemoved,
    /// A header field starts at another offset or in another section.
    FieldMoved,
    /// A header field has another width.
    FieldResized,
    /// Header fields swapped places.
    FieldReordered,
    /// A header field has another name.
    FieldRenamed,
    /// A header section is gone.
    SectionRemoved,
    /// A section is announced by another flag, or by one where it was not, or the reverse.
    SectionConditionChanged,
    /// Sections swapped places, or a new one sits before an old one.
    SectionReordered,
    /// A section gained fields, which moves whatever follows it.
    SectionResized,
    /// A header section has another name.
    SectionRenamed,
    /// A protocol version is gone.
    VersionRemoved,
    /// The handshake's type, subprotocol, auth field or a field's shape changed, or a field is gone.
    HandshakeChanged,
    /// A default that is a value on the wire (the push request id) changed.
    WireDefaultChanged,
    /// A default is gone, and with it a constant of every binding.
    DefaultRemoved,
    /// Receivers stop answering requests with unknown op codes, or answer
    /// other frames than before.
    UnknownOpPolicyChanged,
    /// The text messages are gone from a spec that had them.
    MessagesRemoved,
    /// A text message is gone.
    MessageRemoved,
    /// A text message has another name; its kind, sender and keys are the same.
    MessageRenamed,
    /// A text message's `type` value changed, or it gained or lost one.
    MessageTypeChanged,
    /// A text message is sent by the other peer.
    MessageSenderChanged,
    /// A field of a text message is gone.
    MessageFieldRemoved,
    /// A field of a text message has another key.
    MessageFieldRenamed,
    /// A field of a text message has another JSON shape.
    MessageFieldShapeChanged,
    /// An optional field of a text message became required.
    MessageFieldMadeRequired,
    /// A required field of a text message became optional.
    MessageFieldMadeOptional,
    /// A text message of the old spec gained a required field.
    MessageRequiredFieldAdded,
    /// The JSON key that carries a message's `type` changed.
    MessageTypeFieldChanged,
    /// The most requests a batch may hold changed.
    BatchCapChanged,
    /// The login's hash function, steps or refusal changed.
    LoginChanged,
}

impl Rule {
    /// Every rule, in the order the check runs them.
    pub const ALL: [Rule; 45] = [
        Rule::Removed(Kind::Op),
        Rule::NumberChanged(Kind::Op),
        Rule::NumberReused(Kind::Op),
        Rule::RetirementDeleted(Kind::Op),
        Rule::Renamed(Kind::Op),
        Rule::Removed(Kind::Flag),
        Rule::NumberChanged(Kind::Flag),
        Rule::NumberReused(Kind::Flag),
        Rule::RetirementDeleted(Kind::Flag),
        Rule::Renamed(Kind::Flag),
        Rule::Removed(Kind::Algorithm),
        Rule::NumberChanged(Kind::Algorithm),
        Rule::NumberReused(Kind::Algorithm),
        Rule::RetirementDeleted(Kind::Algorithm),
        Rule::Renamed(Kind::Algorithm),
        Rule::AlgorithmParameterChanged,
        Rule::FieldRemoved,
        Rule::FieldMoved,
        Rule::FieldResized,
        Rule::FieldReordered,
        Rule::FieldRenamed,
        Rule::SectionRemoved,
        Rule::SectionConditionChanged,
        Rule::SectionReordered,
        Rule::SectionResized,
        Rule::SectionRenamed,
        Rule::VersionRemoved,
        Rule::HandshakeChanged,
        Rule::WireDefaultChanged,
        Rule::DefaultRemoved,
        Rule::UnknownOpPolicyChanged,
        Rule::MessagesRemoved,
        Rule::MessageTypeFieldChanged,
        Rule::BatchCapChanged,
        Rule::MessageRemoved,
        Rule::MessageRenamed,
        Rule::MessageTypeChanged,
        Rule::MessageSenderChanged,
        Rule::MessageFieldRemoved,
        Rule::MessageFieldRenamed,
        Rule::MessageFieldShapeChanged,
        Rule::MessageFieldMadeRequired,
        Rule::MessageFieldMadeOptional,
        Rule::MessageRequiredFieldAdded,
        Rule::LoginChanged,
    ];

    /// The rule's row of the table: its name, group and summary.
    ///
    /// Algorithms are negotiated by name in the handshake, so their names are
    /// on the wire; op, flag, field and section names are not, nor are the
    /// names of text messages (their `type` values and JSON keys are).
    pub fn def(self) -> RuleDef {
        use Group::{Name, Wire};
        let row = |name: &str, group: Group, summary: &str| RuleDef {
            name: name.to_owned(),
            group,
            summary: summary.to_owned(),
        };
        let kind = |k: Kind| k.what().to_ascii_uppercase();
        let number = |k: Kind| k.key().to_ascii_uppercase();
        match self {
            Rule::Removed(k) => RuleDef {
                name: format!("{}_REMOVED", kind(k)),
                group: Wire,
                summary: format!(
                    "{} is gone and its {} is not listed under `reserved.{}`",
                    k.a_what(),
                    k.key(),
                    k.list()
                ),
            },
            Rule::NumberChanged(k) => RuleDef {
                name: format!("{}_{}_CHANGED", kind(k), number(k)),
                group: Wire,
                summary: format!("{} keeps its name and takes another {}", k.a_what(), k.key()),
            },
            Rule::NumberReused(k) => RuleDef {
                name: format!("{}_{}_REUSED", kind(k), number(k)),
                group: Wire,
                summary: format!(
                    "{} takes {} that the old spec retired or gave to another {}",
                    k.a_what(),
                    k.a_key(),
                    k.what()
                ),
            },
            Rule::Renamed(k) => RuleDef {
                name: format!("{}_RENAMED", kind(k)),
                group: match k {
                    Kind::Algorithm => Wire,
                    Kind::Op | Kind::Flag => Name,
                },
                summary: format!("{} keeps its {} and takes another name", k.a_what(), k.key()),
            },
            Rule::RetirementDeleted(k) => RuleDef {
                name: format!("RETIRED_{}_{}_DELETED", kind(k), number(k)),
                group: Wire,
                summary: format!(
                    "a retired {} {} is no longer listed as retired, so nothing stops its reuse",
                    k.what(),
                    k.key()
                ),
            },
            Rule::AlgorithmParameterChanged => row(
                "ALGORITHM_PARAMETER_CHANGED",
                Wire,
                "a parameter of an algorithm changes value or disappears",
            ),
            Rule::FieldRemoved => row("FIELD_REMOVED", Wire, "a header field is gone"),
            Rule::FieldMoved => row(
                "FIELD_MOVED",
                Wire,
                "a header field starts at another offset or in another section",
            ),
            Rule::FieldResized => row("FIELD_RESIZED", Wire, "a header field changes width"),
            Rule::FieldReordered => row("FIELD_REORDERED", Wire, "header fields swap places"),
            Rule::FieldRenamed => row("FIELD_RENAMED", Name, "a header field takes another name"),
            Rule::SectionRemoved => row("SECTION_REMOVED", Wire, "a header section is gone"),
            Rule::SectionConditionChanged => row(
                "SECTION_CONDITION_CHANGED",
                Wire,
                "a header section is announced by another flag, or by none",
            ),
            Rule::SectionReordered => row(
                "SECTION_REORDERED",
                Wire,
                "header sections swap places, or a new one is placed before an old one",
            ),
            Rule::SectionResized => row(
                "SECTION_RESIZED",
                Wire,
                "a header section gains fields, moving everything after it",
            ),
            Rule::SectionRenamed => row("SECTION_RENAMED", Name, "a header section takes another name"),
            Rule::VersionRemoved => row("VERSION_REMOVED", Wire, "a protocol version is gone"),
            Rule::HandshakeChanged => row(
                "HANDSHAKE_CHANGED",
                Wire,
                "the handshake's type, WebSocket subprotocol, auth field, a field's JSON shape, or a field changes or goes",
            ),
            Rule::WireDefaultChanged => row(
                "WIRE_DEFAULT_CHANGED",
                Wire,
                "a default that is a value on the wire (a request id) changes",
            ),
            Rule::DefaultRemoved => row(
                "DEFAULT_REMOVED",
                Name,
                "a default is gone, and with it a constant of every binding",
            ),
            Rule::UnknownOpPolicyChanged => row(
                "UNKNOWN_OP_POLICY_CHANGED",
                Wire,
                "receivers stop answering requests with unknown op codes, or the flags that mark a frame as no request change",
            ),
            Rule::MessagesRemoved => row(
                "MESSAGES_REMOVED",
                Wire,
                "the text messages are gone from the spec",
            ),
            Rule::MessageRemoved => row("MESSAGE_REMOVED", Wire, "a text message is gone"),
            Rule::MessageRenamed => row(
                "MESSAGE_RENAMED",
                Name,
                "a text message takes another name, keeping its type value, sender and keys",
            ),
            Rule::MessageTypeChanged => row(
                "MESSAGE_TYPE_CHANGED",
                Wire,
                "a text message's type value changes, or the message gains or loses one",
            ),
            Rule::MessageSenderChanged => row(
                "MESSAGE_SENDER_CHANGED",
                Wire,
                "a text message is sent by the other peer",
            ),
            Rule::MessageFieldRemoved => row(
                "MESSAGE_FIELD_REMOVED",
                Wire,
                "a field of a text message is gone",
            ),
            Rule::MessageFieldRenamed => row(
                "MESSAGE_FIELD_RENAMED",
                Wire,
                "a field of a text message takes another JSON key",
            ),
            Rule::MessageFieldShapeChanged => row(
                "MESSAGE_FIELD_SHAPE_CHANGED",
                Wire,
                "a field of a text message takes another JSON shape",
            ),
            Rule::MessageFieldMadeRequired => row(
                "MESSAGE_FIELD_MADE_REQUIRED",
                Wire,
                "an optional field becomes required: receivers refuse old senders' messages without it",
            ),
            Rule::MessageFieldMadeOptional => row(
                "MESSAGE_FIELD_MADE_OPTIONAL",
                Wire,
                "a required field becomes optional: old receivers refuse new senders' messages without it",
            ),
            Rule::MessageRequiredFieldAdded => row(
                "MESSAGE_REQUIRED_FIELD_ADDED",
                Wire,
                "a text message gains a required field, which old senders never write",
            ),
            Rule::MessageTypeFieldChanged => row(
                "MESSAGE_TYPE_FIELD_CHANGED",
                Wire,
                "the JSON key that carries a message's type changes",
            ),
            Rule::BatchCapChanged => row(
                "BATCH_CAP_CHANGED",
                Wire,
                "the batch cap changes: one side refuses batches the other may send",
            ),
            Rule::LoginChanged => row(
                "LOGIN_CHANGED",
                Wire,
                "the login's hash function, steps or refusal change",
            ),
        }
    }

    /// The rule's name, as printed (buf style: `OP_CODE_CHANGED`).
    pub fn name(self) -> String {
        self.def().name
    }

    /// The group the rule belongs to.
    pub fn group(self) -> Group {
        self.def().group
    }

    /// One line on what the rule catches.
    pub fn summary(self) -> String {
        self.def().summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_unique_and_every_rule_is_listed_once() {
        let names: Vec<String> = Rule::ALL.into_iter().map(Rule::name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.contains(&"OP_CODE_CHANGED".to_owned()));
        assert!(names.contains(&"FLAG_BIT_REUSED".to_owned()));
        assert!(names.contains(&"RETIRED_ALGORITHM_ID_DELETED".to_owned()));
    }

    #[test]
    fn renames_are_name_only_except_for_negotiated_algorithms() {
        assert_eq!(Rule::Renamed(Kind::Op).group(), Group::Name);
        assert_eq!(Rule::Renamed(Kind::Flag).group(), Group::Name);
        assert_eq!(Rule::Renamed(Kind::Algorithm).group(), Group::Wire);
        assert_eq!(Rule::NumberChanged(Kind::Op).group(), Group::Wire);
    }

    #[test]
    fn a_renamed_text_message_is_name_only_and_its_keys_and_types_are_wire() {
        assert_eq!(Rule::MessageRenamed.group(), Group::Name);
        assert_eq!(Rule::MessageFieldRenamed.group(), Group::Wire);
        assert_eq!(Rule::MessageTypeChanged.group(), Group::Wire);
        assert_eq!(Rule::MessageFieldMadeOptional.group(), Group::Wire);
    }
}
