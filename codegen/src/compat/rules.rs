//! The rules of the compatibility check, and the groups they fall in.

/// How bad a change is. Like buf's breaking-change categories, the groups
/// are ordered from strict to lax: a team that only cares about deployed
/// peers checks `Wire`; one that also ships code against the bindings checks
/// `Name` as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// A peer built from the old spec reads some frame, handshake or text
    /// message of the new one differently, or not at all.
    Wire,
    /// The bytes are unchanged, but a name that code or bindings use changed
    /// or disappeared.
    Name,
}

impl Group {
    /// Every group, strictest first.
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

    /// The rule's name, as printed (buf style: `OP_CODE_CHANGED`).
    pub fn name(self) -> String {
        let kind = |k: Kind| k.what().to_ascii_uppercase();
        let number = |k: Kind| k.key().to_ascii_uppercase();
        match self {
            Rule::Removed(k) => format!("{}_REMOVED", kind(k)),
            Rule::NumberChanged(k) => format!("{}_{}_CHANGED", kind(k), number(k)),
            Rule::NumberReused(k) => format!("{}_{}_REUSED", kind(k), number(k)),
            Rule::Renamed(k) => format!("{}_RENAMED", kind(k)),
            Rule::RetirementDeleted(k) => format!("RETIRED_{}_{}_DELETED", kind(k), number(k)),
            Rule::AlgorithmParameterChanged => "ALGORITHM_PARAMETER_CHANGED".into(),
            Rule::FieldRemoved => "FIELD_REMOVED".into(),
            Rule::FieldMoved => "FIELD_MOVED".into(),
            Rule::FieldResized => "FIELD_RESIZED".into(),
            Rule::FieldReordered => "FIELD_REORDERED".into(),
            Rule::FieldRenamed => "FIELD_RENAMED".into(),
            Rule::SectionRemoved => "SECTION_REMOVED".into(),
            Rule::SectionConditionChanged => "SECTION_CONDITION_CHANGED".into(),
            Rule::SectionReordered => "SECTION_REORDERED".into(),
            Rule::SectionResized => "SECTION_RESIZED".into(),
            Rule::SectionRenamed => "SECTION_RENAMED".into(),
            Rule::VersionRemoved => "VERSION_REMOVED".into(),
            Rule::HandshakeChanged => "HANDSHAKE_CHANGED".into(),
            Rule::WireDefaultChanged => "WIRE_DEFAULT_CHANGED".into(),
            Rule::DefaultRemoved => "DEFAULT_REMOVED".into(),
            Rule::UnknownOpPolicyChanged => "UNKNOWN_OP_POLICY_CHANGED".into(),
            Rule::MessagesRemoved => "MESSAGES_REMOVED".into(),
            Rule::MessageRemoved => "MESSAGE_REMOVED".into(),
            Rule::MessageRenamed => "MESSAGE_RENAMED".into(),
            Rule::MessageTypeChanged => "MESSAGE_TYPE_CHANGED".into(),
            Rule::MessageSenderChanged => "MESSAGE_SENDER_CHANGED".into(),
            Rule::MessageFieldRemoved => "MESSAGE_FIELD_REMOVED".into(),
            Rule::MessageFieldRenamed => "MESSAGE_FIELD_RENAMED".into(),
            Rule::MessageFieldShapeChanged => "MESSAGE_FIELD_SHAPE_CHANGED".into(),
            Rule::MessageFieldMadeRequired => "MESSAGE_FIELD_MADE_REQUIRED".into(),
            Rule::MessageFieldMadeOptional => "MESSAGE_FIELD_MADE_OPTIONAL".into(),
            Rule::MessageRequiredFieldAdded => "MESSAGE_REQUIRED_FIELD_ADDED".into(),
            Rule::MessageTypeFieldChanged => "MESSAGE_TYPE_FIELD_CHANGED".into(),
            Rule::BatchCapChanged => "BATCH_CAP_CHANGED".into(),
            Rule::LoginChanged => "LOGIN_CHANGED".into(),
        }
    }

    /// The group the rule belongs to.
    pub fn group(self) -> Group {
        match self {
            // Algorithms are negotiated by name in the handshake, so their
            // names are on the wire; op, flag, field and section names are not,
            // nor are the names of text messages (their `type` values and
            // JSON keys are).
            Rule::Renamed(Kind::Op | Kind::Flag)
            | Rule::FieldRenamed
            | Rule::SectionRenamed
            | Rule::DefaultRemoved
            | Rule::MessageRenamed => Group::Name,
            _ => Group::Wire,
        }
    }

    /// One line on what the rule catches.
    pub fn summary(self) -> String {
        match self {
            Rule::Removed(k) => format!(
                "{} is gone and its {} is not listed under `reserved.{}`",
                k.a_what(),
                k.key(),
                k.list()
            ),
            Rule::NumberChanged(k) => format!("{} keeps its name and takes another {}", k.a_what(), k.key()),
            Rule::NumberReused(k) => format!(
                "{} takes {} that the old spec retired or gave to another {}",
                k.a_what(),
                k.a_key(),
                k.what()
            ),
            Rule::Renamed(k) => format!("{} keeps its {} and takes another name", k.a_what(), k.key()),
            Rule::RetirementDeleted(k) => format!(
                "a retired {} {} is no longer listed as retired, so nothing stops its reuse",
                k.what(),
                k.key()
            ),
            Rule::AlgorithmParameterChanged => {
                "a parameter of an algorithm changes value or disappears".into()
            }
            Rule::FieldRemoved => "a header field is gone".into(),
            Rule::FieldMoved => "a header field starts at another offset or in another section".into(),
            Rule::FieldResized => "a header field changes width".into(),
            Rule::FieldReordered => "header fields swap places".into(),
            Rule::FieldRenamed => "a header field takes another name".into(),
            Rule::SectionRemoved => "a header section is gone".into(),
            Rule::SectionConditionChanged => {
                "a header section is announced by another flag, or by none".into()
            }
            Rule::SectionReordered => {
                "header sections swap places, or a new one is placed before an old one".into()
            }
            Rule::SectionResized => "a header section gains fields, moving everything after it".into(),
            Rule::SectionRenamed => "a header section takes another name".into(),
            Rule::VersionRemoved => "a protocol version is gone".into(),
            Rule::HandshakeChanged => {
                "the handshake's type, WebSocket subprotocol, auth field, a field's JSON shape, or a field changes or goes".into()
            }
            Rule::WireDefaultChanged => "a default that is a value on the wire (a request id) changes".into(),
            Rule::DefaultRemoved => "a default is gone, and with it a constant of every binding".into(),
            Rule::UnknownOpPolicyChanged => {
                "receivers stop answering requests with unknown op codes, or the flags that mark a frame as no request change".into()
            }
            Rule::MessagesRemoved => "the text messages are gone from the spec".into(),
            Rule::MessageRemoved => "a text message is gone".into(),
            Rule::MessageRenamed => {
                "a text message takes another name, keeping its type value, sender and keys".into()
            }
            Rule::MessageTypeChanged => {
                "a text message's type value changes, or the message gains or loses one".into()
            }
            Rule::MessageSenderChanged => "a text message is sent by the other peer".into(),
            Rule::MessageFieldRemoved => "a field of a text message is gone".into(),
            Rule::MessageFieldRenamed => "a field of a text message takes another JSON key".into(),
            Rule::MessageFieldShapeChanged => "a field of a text message takes another JSON shape".into(),
            Rule::MessageFieldMadeRequired => {
                "an optional field becomes required: receivers refuse old senders' messages without it".into()
            }
            Rule::MessageFieldMadeOptional => {
                "a required field becomes optional: old receivers refuse new senders' messages without it".into()
            }
            Rule::MessageRequiredFieldAdded => {
                "a text message gains a required field, which old senders never write".into()
            }
            Rule::MessageTypeFieldChanged => "the JSON key that carries a message's type changes".into(),
            Rule::BatchCapChanged => {
                "the batch cap changes: one side refuses batches the other may send".into()
            }
            Rule::LoginChanged => "the login's hash function, steps or refusal change".into(),
        }
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
