//! The wire-compatibility check: what an edit of the spec does to peers built
//! from the previous one.
//!
//! Both specs are validated models; the check compares them entry by entry.
//! Numbered entries (ops, flags, algorithms) are matched by number first and
//! by name second, so a renumbering, a rename, a removal and a reuse are told
//! apart. Header fields are matched by role, sections by name (or, failing
//! that, by the flag that announces them). Additions are never findings.
//!
//! The `unknown_ops` policy is compared by direction. A receiver that starts
//! answering requests with unknown op codes (`reject` to `answer`) is an
//! addition, like a new op: no peer of the old spec reads any frame
//! differently, since it sends only ops the new spec still knows and gets
//! an ordinary error response back; peers of the new spec cannot count on an
//! answer from peers of the old one, as they cannot count on those knowing a
//! new op. The other way, or a change of the flags that tell a request
//! under `answer`, breaks what peers of the old spec were promised. A spec
//! without the entry predates it and reads as `reject`, which is what those
//! releases did, so moving from it to `answer` is an addition as well.
//!
//! Text messages are matched by name, or, failing that, by a new message of
//! the same `type` value, sender and keys (a rename, name-only: message
//! names are not on the wire); their fields by JSON key, the type field
//! following `messages.type_field`. A spec without the `messages` entry
//! predates it, so adding the entry is an addition, as are a new message and
//! a new optional field: receivers of the old spec ignore keys they do not
//! know. Every change of what a receiver requires breaks the wire in one
//! direction or the other: a field made required (old senders omit it), a
//! field made optional (old receivers still require it), a new required
//! field, and the batch cap moved either way.

mod rules;

use std::fmt;

pub use rules::{Group, Kind, Rule, RuleDef};

use crate::model::{Message, Messages, Protocol, Retired, Section, UnknownOpPolicy};

/// Which of the two specs a finding's path points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The old spec: the entry is gone from the new one.
    Base,
    /// The new spec.
    New,
}

/// One incompatible change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule it breaks.
    pub rule: Rule,
    /// The spec the path points into.
    pub side: Side,
    /// The YAML path of the entry, e.g. `ops[4].code`.
    pub path: String,
    /// What changed, with the old and new values.
    pub message: String,
}

impl Finding {
    /// The finding's group.
    pub fn group(&self) -> Group {
        self.rule.group()
    }
}

impl fmt::Display for Finding {
    /// `ops[4].code: OP_CODE_CHANGED [WIRE] op `read` ...`, without the file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [{}] {}",
            self.path,
            self.rule.name(),
            self.group().name(),
            self.message
        )
    }
}

/// Every incompatible change from `base` to `new`, in the order of [`Rule::ALL`]'s
/// areas: ops, flags, algorithms, layout, versions, handshake, defaults,
/// unknown op codes, text messages.
pub fn check(base: &Protocol, new: &Protocol) -> Vec<Finding> {
    let mut out = Findings(Vec::new());
    for kind in [Kind::Op, Kind::Flag, Kind::Algorithm] {
        out.numbered(kind, base, new);
    }
    out.parameters(base, new);
    out.layout(base, new);
    out.versions(base, new);
    out.handshake(base, new);
    out.defaults(base, new);
    out.unknown_ops(base, new);
    out.messages(base, new);
    out.0
}

/// A live or retired entry of a numbered list, reduced to what the check compares.
struct Entry<'a> {
    name: &'a str,
    code: u8,
}

fn live(protocol: &Protocol, kind: Kind) -> Vec<Entry<'_>> {
    match kind {
        Kind::Op => protocol
            .ops
            .iter()
            .map(|o| Entry {
                name: &o.name,
                code: o.code,
            })
            .collect(),
        Kind::Flag => protocol
            .flags
            .iter()
            .map(|f| Entry {
                name: &f.name,
                code: f.bit,
            })
            .collect(),
        Kind::Algorithm => protocol
            .algorithms
            .iter()
            .map(|a| Entry {
                name: &a.name,
                code: a.id,
            })
            .collect(),
    }
}

fn retired(protocol: &Protocol, kind: Kind) -> &[Retired] {
    match kind {
        Kind::Op => &protocol.reserved.ops,
        Kind::Flag => &protocol.reserved.flags,
        Kind::Algorithm => &protocol.reserved.algorithms,
    }
}

/// The bit of the flag announcing `section`, `None` for the base header.
fn condition(protocol: &Protocol, section: &Section) -> Option<u8> {
    section
        .present_when
        .as_deref()
        .and_then(|name| protocol.flag(name))
        .map(|f| f.bit)
}

fn describe_condition(protocol: &Protocol, section: &Section) -> String {
    match (&section.present_when, condition(protocol, section)) {
        (Some(name), Some(bit)) => format!("flag `{name}` (bit {bit})"),
        _ => "no flag (always present)".to_owned(),
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, rule: Rule, side: Side, path: String, message: String) {
        self.0.push(Finding {
            rule,
            side,
            path,
            message,
        });
    }

    fn numbered(&mut self, kind: Kind, base: &Protocol, new: &Protocol) {
        let (list, key, what) = (kind.list(), kind.key(), kind.what());
        let (old, now) = (live(base, kind), live(new, kind));
        let now_retired = retired(new, kind);
        for (i, b) in old.iter().enumerate() {
            let same_code = now.iter().position(|n| n.code == b.code);
            let same_name = now.iter().position(|n| n.name == b.name);
            match (same_code, same_name) {
                (Some(j), Some(k)) if j == k => {}
                (_, Some(k)) => self.push(
                    Rule::NumberChanged(kind),
                    Side::New,
                    format!("{list}[{k}].{key}"),
                    format!(
                        "{what} `{}` moved from {key} {} to {key} {}; peers of the old spec no longer recognise it",
                        b.name, b.code, now[k].code
                    ),
                ),
                (Some(j), None) => self.push(
                    Rule::Renamed(kind),
                    Side::New,
                    format!("{list}[{j}].name"),
                    format!(
                        "{what} at {key} {} renamed from `{}` to `{}`",
                        b.code, b.name, now[j].name
                    ),
                ),
                (None, None) if now_retired.iter().any(|r| r.code == b.code) => {}
                (None, None) => self.push(
                    Rule::Removed(kind),
                    Side::Base,
                    format!("{list}[{i}]"),
                    format!(
                        "{what} `{}` ({key} {}) is gone without being listed under `reserved.{list}`",
                        b.name, b.code
                    ),
                ),
            }
            if let (Some(j), Some(k)) = (same_code, same_name) {
                if j != k {
                    self.push(
                        Rule::NumberReused(kind),
                        Side::New,
                        format!("{list}[{j}].{key}"),
                        format!(
                            "{what} `{}` takes {key} {}, which the old spec gave to `{}`",
                            now[j].name, b.code, b.name
                        ),
                    );
                }
            }
        }
        for (i, r) in retired(base, kind).iter().enumerate() {
            if let Some(j) = now.iter().position(|n| n.code == r.code) {
                self.push(
                    Rule::NumberReused(kind),
                    Side::New,
                    format!("{list}[{j}].{key}"),
                    format!(
                        "{what} `{}` takes {key} {}, retired in version {} (it was `{}`)",
                        now[j].name, r.code, r.retired, r.name
                    ),
                );
            } else if !now_retired.iter().any(|n| n.code == r.code) {
                self.push(
                    Rule::RetirementDeleted(kind),
                    Side::Base,
                    format!("reserved.{list}[{i}]"),
                    format!(
                        "{key} {} (`{}`, retired in version {}) is no longer listed as retired",
                        r.code, r.name, r.retired
                    ),
                );
            }
        }
    }

    fn parameters(&mut self, base: &Protocol, new: &Protocol) {
        for b in &base.algorithms {
            let Some((j, n)) = new.algorithms.iter().enumerate().find(|(_, n)| n.id == b.id) else {
                continue;
            };
            for p in &b.parameters {
                match n.parameters.iter().position(|q| q.name == p.name) {
                    None => self.push(
                        Rule::AlgorithmParameterChanged,
                        Side::New,
                        format!("compression[{j}].parameters"),
                        format!("algorithm `{}` lost its parameter `{}`", n.name, p.name),
                    ),
                    Some(k) if n.parameters[k].value != p.value => self.push(
                        Rule::AlgorithmParameterChanged,
                        Side::New,
                        format!("compression[{j}].parameters[{k}].value"),
                        format!(
                            "parameter `{}` of algorithm `{}` changed from {:?} to {:?}; peers of the old spec make or expect other bytes",
                            p.name, n.name, p.value, n.parameters[k].value
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    fn layout(&mut self, base: &Protocol, new: &Protocol) {
        // Match sections: by name, else by the flag that announces them.
        let matched: Vec<Option<usize>> = base
            .sections
            .iter()
            .map(|b| {
                new.sections.iter().position(|n| n.name == b.name).or_else(|| {
                    new.sections.iter().position(|n| {
                        condition(new, n) == condition(base, b)
                            && !base.sections.iter().any(|o| o.name == n.name)
                    })
                })
            })
            .collect();

        for (i, (b, m)) in base.sections.iter().zip(&matched).enumerate() {
            let Some(j) = *m else {
                self.push(
                    Rule::SectionRemoved,
                    Side::Base,
                    format!("layout[{i}]"),
                    format!("section `{}` is gone", b.name),
                );
                continue;
            };
            let n = &new.sections[j];
            if n.name != b.name {
                self.push(
                    Rule::SectionRenamed,
                    Side::New,
                    format!("layout[{j}].name"),
                    format!("section `{}` renamed to `{}`", b.name, n.name),
                );
            }
            if condition(base, b) != condition(new, n) {
                self.push(
                    Rule::SectionConditionChanged,
                    Side::New,
                    format!("layout[{j}].present_when"),
                    format!(
                        "section `{}` was announced by {}, now by {}",
                        n.name,
                        describe_condition(base, b),
                        describe_condition(new, n)
                    ),
                );
            }
            let added: Vec<&str> = n
                .fields
                .iter()
                .filter(|f| !b.fields.iter().any(|g| g.role == f.role))
                .map(|f| f.name.as_str())
                .collect();
            if !added.is_empty() {
                self.push(
                    Rule::SectionResized,
                    Side::New,
                    format!("layout[{j}].fields"),
                    format!(
                        "section `{}` gains {} and grows from {} to {} bytes; what follows it moves",
                        n.name,
                        added
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        b.len(),
                        n.len()
                    ),
                );
            }
        }

        // Section order: matched sections keep their relative order, and no
        // new section is placed before an old one.
        let mut furthest: Option<(usize, &str)> = None;
        for (b, m) in base.sections.iter().zip(&matched) {
            let Some(j) = *m else { continue };
            match furthest {
                Some((prev, prev_name)) if prev > j => self.push(
                    Rule::SectionReordered,
                    Side::New,
                    format!("layout[{j}]"),
                    format!("section `{}` now comes before section `{prev_name}`", b.name),
                ),
                _ => furthest = Some((j, &new.sections[j].name)),
            }
        }
        let last_old = matched.iter().flatten().max().copied();
        for (j, n) in new.sections.iter().enumerate() {
            let is_new = !matched.contains(&Some(j));
            if let Some(last_old) = last_old.filter(|&l| is_new && j < l) {
                self.push(
                    Rule::SectionReordered,
                    Side::New,
                    format!("layout[{j}]"),
                    format!(
                        "new section `{}` is placed before section `{}`; peers of the old spec read its bytes as that section's",
                        n.name, new.sections[last_old].name
                    ),
                );
            }
        }

        self.fields(base, new, &matched);
    }

    fn fields(&mut self, base: &Protocol, new: &Protocol, matched: &[Option<usize>]) {
        for (i, b) in base.sections.iter().enumerate() {
            for (fi, f) in b.fields.iter().enumerate() {
                let Some((j, fj, g)) = new.sections.iter().enumerate().find_map(|(j, s)| {
                    s.fields
                        .iter()
                        .enumerate()
                        .find(|(_, g)| g.role == f.role)
                        .map(|(fj, g)| (j, fj, g))
                }) else {
                    self.push(
                        Rule::FieldRemoved,
                        Side::Base,
                        format!("layout[{i}].fields[{fi}]"),
                        format!("field `{}` of section `{}` is gone", f.name, b.name),
                    );
                    continue;
                };
                let n = &new.sections[j];
                let path = format!("layout[{j}].fields[{fj}]");
                if g.name != f.name {
                    self.push(
                        Rule::FieldRenamed,
                        Side::New,
                        format!("{path}.name"),
                        format!("field `{}` renamed to `{}`", f.name, g.name),
                    );
                }
                if g.ty != f.ty {
                    self.push(
                        Rule::FieldResized,
                        Side::New,
                        format!("{path}.type"),
                        format!(
                            "field `{}` changed from {} to {}",
                            g.name,
                            f.ty.name(),
                            g.ty.name()
                        ),
                    );
                }
                if matched[i] != Some(j) {
                    self.push(
                        Rule::FieldMoved,
                        Side::New,
                        path,
                        format!(
                            "field `{}` moved from section `{}` to section `{}`",
                            g.name, b.name, n.name
                        ),
                    );
                } else if let Some((other, side)) = swapped_with(b, n, fi, fj) {
                    self.push(
                        Rule::FieldReordered,
                        Side::New,
                        format!("{path}.offset"),
                        format!("field `{}` now comes {side} field `{other}`", g.name),
                    );
                } else if g.offset != f.offset {
                    self.push(
                        Rule::FieldMoved,
                        Side::New,
                        format!("{path}.offset"),
                        format!(
                            "field `{}` moved from offset {} to offset {} of section `{}`",
                            g.name, f.offset, g.offset, n.name
                        ),
                    );
                }
            }
        }
    }

    fn versions(&mut self, base: &Protocol, new: &Protocol) {
        for (i, v) in base.versions.iter().enumerate() {
            if !new.versions.iter().any(|w| w.version == v.version) {
                self.push(
                    Rule::VersionRemoved,
                    Side::Base,
                    format!("versions[{i}]"),
                    format!("version {} is gone", v.version),
                );
            }
        }
    }

    fn handshake(&mut self, base: &Protocol, new: &Protocol) {
        let (b, n) = (&base.handshake, &new.handshake);
        if b.ty != n.ty {
            self.push(
                Rule::HandshakeChanged,
                Side::New,
                "handshake.type".into(),
                format!("the handshake type changed from `{}` to `{}`", b.ty, n.ty),
            );
        }
        if b.subprotocol != n.subprotocol {
            self.push(
                Rule::HandshakeChanged,
                Side::New,
                "handshake.subprotocol.name".into(),
                format!(
                    "the WebSocket subprotocol changed from `{}` to `{}`",
                    b.subprotocol, n.subprotocol
                ),
            );
        }
        if b.auth_field != n.auth_field {
            self.push(
                Rule::HandshakeChanged,
                Side::New,
                "handshake.auth.field".into(),
                format!(
                    "the token field changed from `{}` to `{}`",
                    b.auth_field, n.auth_field
                ),
            );
        }
        for (i, f) in b.fields.iter().enumerate() {
            match n.fields.iter().position(|g| g.name == f.name) {
                None => self.push(
                    Rule::HandshakeChanged,
                    Side::Base,
                    format!("handshake.fields[{i}]"),
                    format!("handshake field `{}` is gone", f.name),
                ),
                Some(k) if n.fields[k].json != f.json => self.push(
                    Rule::HandshakeChanged,
                    Side::New,
                    format!("handshake.fields[{k}].json"),
                    format!(
                        "handshake field `{}` changed shape from {:?} to {:?}",
                        f.name, f.json, n.fields[k].json
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    fn defaults(&mut self, base: &Protocol, new: &Protocol) {
        for (i, d) in base.defaults.iter().enumerate() {
            match new.defaults.iter().position(|e| e.name == d.name) {
                None => self.push(
                    Rule::DefaultRemoved,
                    Side::Base,
                    format!("defaults[{i}]"),
                    format!("default `{}` is gone", d.name),
                ),
                Some(k) if d.unit == crate::model::Unit::RequestId && new.defaults[k].value != d.value => {
                    self.push(
                        Rule::WireDefaultChanged,
                        Side::New,
                        format!("defaults[{k}].value"),
                        format!(
                            "`{}` changed from {} to {}; peers of the old spec look for the old value",
                            d.name, d.value, new.defaults[k].value
                        ),
                    )
                }
                Some(_) => {}
            }
        }
    }
}

impl Findings {
    fn unknown_ops(&mut self, base: &Protocol, new: &Protocol) {
        let (b, n) = (&base.unknown_ops, &new.unknown_ops);
        if b.policy != UnknownOpPolicy::Answer {
            return;
        }
        if n.policy != UnknownOpPolicy::Answer {
            let (side, path) = if n.stated {
                (Side::New, "unknown_ops.policy")
            } else {
                (Side::Base, "unknown_ops")
            };
            let now = if n.stated {
                format!("`{}`", n.policy.name())
            } else {
                "unstated (read as `reject`)".to_owned()
            };
            self.push(
                Rule::UnknownOpPolicyChanged,
                side,
                path.into(),
                format!(
                    "the policy for unknown op codes changed from `answer` to {now}; peers of the old spec expect an error response to a request whose op the receiver does not know, and lose the connection instead"
                ),
            );
            return;
        }
        if base.unanswered_mask() != new.unanswered_mask() {
            let names = |p: &Protocol| {
                p.unknown_ops
                    .answered_unless
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.push(
                Rule::UnknownOpPolicyChanged,
                Side::New,
                "unknown_ops.answered_unless".into(),
                format!(
                    "the flags that make a frame with an unknown op no request changed from {} to {}; receivers answer other frames than peers of the old spec expect",
                    names(base),
                    names(new)
                ),
            );
        }
    }
}

impl Findings {
    fn messages(&mut self, base: &Protocol, new: &Protocol) {
        // A spec without the entry predates the text messages: adding them is an addition.
        let Some(b) = &base.messages else {
            return;
        };
        let Some(n) = &new.messages else {
            self.push(
                Rule::MessagesRemoved,
                Side::Base,
                "messages".into(),
                "the text messages are gone; peers of the old spec still send and expect them".into(),
            );
            return;
        };
        if b.type_field != n.type_field {
            self.push(
                Rule::MessageTypeFieldChanged,
                Side::New,
                "messages.type_field".into(),
                format!(
                    "the key that carries a message's type changed from `{}` to `{}`; peers of the old spec no longer tell the messages apart",
                    b.type_field, n.type_field
                ),
            );
        }
        if b.batch_max_items != n.batch_max_items {
            let (old, now) = (b.batch_max_items, n.batch_max_items);
            let who = if now < old {
                format!("receivers of the new spec refuse batches of {} to {old} items that senders of the old spec may send", now + 1)
            } else {
                format!("receivers of the old spec refuse batches of {} to {now} items that senders of the new spec may send", old + 1)
            };
            self.push(
                Rule::BatchCapChanged,
                Side::New,
                "messages.batch.max_items".into(),
                format!("the batch cap changed from {old} to {now}; {who}"),
            );
        }
        let matched = match_messages(b, n);
        for (i, (bm, m)) in b.list.iter().zip(&matched).enumerate() {
            let Some(j) = *m else {
                self.push(
                    Rule::MessageRemoved,
                    Side::Base,
                    format!("messages.list[{i}]"),
                    format!("message `{}` is gone", bm.name),
                );
                continue;
            };
            let nm = &n.list[j];
            let path = format!("messages.list[{j}]");
            if nm.name != bm.name {
                self.push(
                    Rule::MessageRenamed,
                    Side::New,
                    format!("{path}.name"),
                    format!("message `{}` renamed to `{}`", bm.name, nm.name),
                );
            }
            if nm.ty != bm.ty {
                let kind = |ty: &Option<String>| match ty {
                    Some(ty) => format!("`{ty}`"),
                    None => "none".to_owned(),
                };
                self.push(
                    Rule::MessageTypeChanged,
                    Side::New,
                    format!("{path}.type"),
                    format!(
                        "message `{}` changed its type from {} to {}",
                        nm.name,
                        kind(&bm.ty),
                        kind(&nm.ty)
                    ),
                );
            }
            if nm.sender != bm.sender {
                self.push(
                    Rule::MessageSenderChanged,
                    Side::New,
                    format!("{path}.sender"),
                    format!(
                        "message `{}` was sent by the {}, now by the {}",
                        nm.name,
                        bm.sender.name(),
                        nm.sender.name()
                    ),
                );
            }
            self.message_fields(b, n, (i, bm), (j, nm));
        }
        self.login(b, n, &matched);
    }

    /// The fields of message `bm` (at `i` of the old list) and `nm` (at `j` of the new one).
    fn message_fields(
        &mut self,
        b: &Messages,
        n: &Messages,
        (i, bm): (usize, &Message),
        (j, nm): (usize, &Message),
    ) {
        // The type field keeps its place when `type_field` is renamed.
        let key_now = |key: &str| -> String {
            if key == b.type_field {
                n.type_field.clone()
            } else {
                key.to_owned()
            }
        };
        let in_base = |key: &str| bm.fields.iter().any(|f| key_now(&f.name) == key);
        let mut renamed = Vec::new();
        for (k, f) in bm.fields.iter().enumerate() {
            let key = key_now(&f.name);
            let Some(l) = nm.fields.iter().position(|g| g.name == key) else {
                match nm.fields.get(k).filter(|g| !in_base(&g.name)) {
                    Some(g) => {
                        renamed.push(k);
                        self.push(
                            Rule::MessageFieldRenamed,
                            Side::New,
                            format!("messages.list[{j}].fields[{k}].name"),
                            format!(
                                "field `{}` of message `{}` renamed to `{}`; peers of the old spec look for the old key",
                                f.name, nm.name, g.name
                            ),
                        );
                    }
                    None => self.push(
                        Rule::MessageFieldRemoved,
                        Side::Base,
                        format!("messages.list[{i}].fields[{k}]"),
                        format!("field `{}` of message `{}` is gone", f.name, bm.name),
                    ),
                }
                continue;
            };
            let g = &nm.fields[l];
            let path = format!("messages.list[{j}].fields[{l}]");
            if g.json != f.json {
                self.push(
                    Rule::MessageFieldShapeChanged,
                    Side::New,
                    format!("{path}.json"),
                    format!(
                        "field `{}` of message `{}` changed shape from {:?} to {:?}",
                        g.name, nm.name, f.json, g.json
                    ),
                );
            }
            match (f.required, g.required) {
                (false, true) => self.push(
                    Rule::MessageFieldMadeRequired,
                    Side::New,
                    format!("{path}.required"),
                    format!(
                        "field `{}` of message `{}` became required; receivers of the new spec refuse messages of old {}s, which may omit it",
                        g.name,
                        nm.name,
                        nm.sender.name()
                    ),
                ),
                (true, false) => self.push(
                    Rule::MessageFieldMadeOptional,
                    Side::New,
                    format!("{path}.required"),
                    format!(
                        "field `{}` of message `{}` became optional; receivers of the old spec refuse messages of new {}s that omit it",
                        g.name,
                        nm.name,
                        nm.sender.name()
                    ),
                ),
                _ => {}
            }
        }
        for (l, g) in nm.fields.iter().enumerate() {
            if g.required && !in_base(&g.name) && !renamed.contains(&l) {
                self.push(
                    Rule::MessageRequiredFieldAdded,
                    Side::New,
                    format!("messages.list[{j}].fields[{l}]"),
                    format!(
                        "message `{}` gained the required field `{}`; {}s of the old spec never write it",
                        nm.name,
                        g.name,
                        nm.sender.name()
                    ),
                );
            }
        }
    }

    /// The login, its steps and refusal compared through the messages' matches.
    fn login(&mut self, b: &Messages, n: &Messages, matched: &[Option<usize>]) {
        let (bl, nl) = (&b.login, &n.login);
        if bl.hash != nl.hash {
            self.push(
                Rule::LoginChanged,
                Side::New,
                "messages.login.hash".into(),
                format!(
                    "the login's hash function changed from `{}` to `{}`",
                    bl.hash, nl.hash
                ),
            );
        }
        // A step's name as the new spec calls the same message; `None` when it is gone.
        let now = |name: &str| -> Option<&str> {
            let i = b.list.iter().position(|m| m.name == name)?;
            matched[i].map(|j| n.list[j].name.as_str())
        };
        let steps: Vec<Option<&str>> = bl.steps.iter().map(|s| now(s)).collect();
        let new_steps: Vec<Option<&str>> = nl.steps.iter().map(|s| Some(s.as_str())).collect();
        if steps != new_steps {
            self.push(
                Rule::LoginChanged,
                Side::New,
                "messages.login.steps".into(),
                format!(
                    "the login's steps changed from [{}] to [{}]",
                    bl.steps.join(", "),
                    nl.steps.join(", ")
                ),
            );
        }
        if now(&bl.refusal) != Some(nl.refusal.as_str()) {
            self.push(
                Rule::LoginChanged,
                Side::New,
                "messages.login.refusal".into(),
                format!(
                    "the login's refusal changed from `{}` to `{}`",
                    bl.refusal, nl.refusal
                ),
            );
        }
    }
}

/// For each message of `b`, its index in `n`: the message of the same name,
/// else the one new message of the same type value, sender and keys.
fn match_messages(b: &Messages, n: &Messages) -> Vec<Option<usize>> {
    let keys = |messages: &Messages, m: &Message| -> Vec<String> {
        m.fields
            .iter()
            .map(|f| {
                if f.name == messages.type_field {
                    String::new()
                } else {
                    f.name.clone()
                }
            })
            .collect()
    };
    b.list
        .iter()
        .map(|bm| {
            if let Some(j) = n.list.iter().position(|nm| nm.name == bm.name) {
                return Some(j);
            }
            let mut candidates = n.list.iter().enumerate().filter(|(_, nm)| {
                !b.list.iter().any(|o| o.name == nm.name)
                    && nm.ty == bm.ty
                    && nm.sender == bm.sender
                    && keys(n, nm) == keys(b, bm)
            });
            match (candidates.next(), candidates.next()) {
                (Some((j, _)), None) => Some(j),
                _ => None,
            }
        })
        .collect()
}

/// A field of `old` that changed sides with field `fi` (now at `fj` of `new`),
/// and whether field `fi` now comes "before" or "after" it.
fn swapped_with<'a>(
    old: &'a Section,
    new: &Section,
    fi: usize,
    fj: usize,
) -> Option<(&'a str, &'static str)> {
    old.fields.iter().enumerate().find_map(|(oi, o)| {
        let nj = new.fields.iter().position(|g| g.role == o.role)?;
        match (oi < fi, nj < fj) {
            (true, false) if oi != fi => Some((o.name.as_str(), "before")),
            (false, true) if oi != fi => Some((o.name.as_str(), "after")),
            _ => None,
        }
    })
}
