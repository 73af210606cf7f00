//! Spec → model: every rule the generators rely on, checked once, each failure
//! naming the YAML path and the offending value.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::{
    Algorithm, Default, Field, Flag, Handshake, HandshakeField, JsonShape, Login, Message, MessageField,
    MessageJson, Messages, Op, Parameter, Protocol, Reserved, Retired, Role, Scalar, Section, Sender, Unit,
    UnknownOpPolicy, UnknownOps, UnusedBits, UnusedBitsPolicy, Version, WireType,
};
use crate::spec::{self, Spec};
use crate::Error;

/// The bits of the flags byte.
const FLAG_BITS: u64 = 8;

/// Checks `spec` (read from `file`) and builds the model, or names the first rule it breaks.
pub fn validate(spec: &Spec, file: &Path) -> Result<Protocol, Error> {
    Checker { file }.protocol(spec)
}

struct Checker<'a> {
    file: &'a Path,
}

impl Checker<'_> {
    fn fail<T>(&self, path: impl Into<String>, problem: impl Into<String>) -> Result<T, Error> {
        Err(Error::Invalid {
            file: PathBuf::from(self.file),
            path: path.into(),
            problem: problem.into(),
        })
    }

    fn protocol(&self, spec: &Spec) -> Result<Protocol, Error> {
        self.doc("doc", &spec.doc)?;
        let versions = self.versions(&spec.versions)?;
        let reserved = self.reserved(&spec.reserved, &versions)?;
        let flags = self.flags(&spec.flags, &versions, &reserved.flags)?;
        let unused_bits = self.unused_bits(&spec.unused_flag_bits, &flags, &reserved.flags)?;
        let unknown_ops = self.unknown_ops(spec.unknown_ops.as_ref(), &flags)?;
        let ops = self.ops(&spec.ops, &reserved.ops)?;
        let algorithms = self.algorithms(&spec.compression, &reserved.algorithms)?;
        let sections = self.layout(&spec.layout, &flags)?;
        let defaults = self.defaults(&spec.defaults)?;
        let handshake = self.handshake(&spec.handshake, &versions)?;
        let messages = spec
            .messages
            .as_ref()
            .map(|messages| self.messages(messages, &handshake))
            .transpose()?;
        Ok(Protocol {
            name: spec.name.clone(),
            doc: spec.doc.trim().to_owned(),
            versions,
            flags,
            unused_bits,
            unknown_ops,
            ops,
            algorithms,
            sections,
            reserved,
            defaults,
            handshake,
            messages,
        })
    }

    fn doc(&self, path: &str, doc: &str) -> Result<String, Error> {
        if doc.trim().is_empty() {
            return self.fail(path, "every entry needs a doc string, and this one is empty");
        }
        Ok(doc.trim().to_owned())
    }

    /// Names become Rust identifiers and keys in other languages: ASCII letters,
    /// digits and underscores, starting with a lowercase letter.
    fn name(&self, path: &str, name: &str) -> Result<String, Error> {
        let mut chars = name.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return self.fail(
                path,
                format!(
                    "name `{name}` must start with a lowercase ASCII letter and hold only ASCII letters, digits and `_`"
                ),
            );
        }
        Ok(name.to_owned())
    }

    /// Fails when `key` was already seen in this list, naming both entries.
    fn unique<K: std::hash::Hash + Eq + std::fmt::Display>(
        &self,
        seen: &mut HashMap<K, String>,
        key: K,
        path: String,
        what: &str,
    ) -> Result<(), Error> {
        if let Some(first) = seen.get(&key) {
            return self.fail(path, format!("duplicate {what} `{key}`, already used by {first}"));
        }
        seen.insert(key, path);
        Ok(())
    }

    fn byte(&self, path: &str, what: &str, value: u64) -> Result<u8, Error> {
        u8::try_from(value)
            .or_else(|_| self.fail(path, format!("{what} {value} does not fit in one byte (0-255)")))
    }

    fn reserved(&self, reserved: &spec::ReservedSpec, versions: &[Version]) -> Result<Reserved, Error> {
        let flags = reserved
            .flags
            .iter()
            .map(|f| (f.name.as_str(), f.bit, f.retired, f.doc.as_str()));
        let ops = reserved
            .ops
            .iter()
            .map(|o| (o.name.as_str(), o.code, o.retired, o.doc.as_str()));
        let algorithms = reserved
            .compression
            .iter()
            .map(|a| (a.name.as_str(), a.id, a.retired, a.doc.as_str()));
        Ok(Reserved {
            doc: self.doc("reserved.doc", &reserved.doc)?,
            flags: self.retired("reserved.flags", "bit", FLAG_BITS, flags, versions)?,
            ops: self.retired("reserved.ops", "code", 256, ops, versions)?,
            algorithms: self.retired("reserved.compression", "id", 256, algorithms, versions)?,
        })
    }

    /// One list of retired entries: `(name, number, retired in, doc)` each,
    /// numbers below `bound` and unique, names unique, versions declared.
    fn retired<'s>(
        &self,
        list: &str,
        key: &str,
        bound: u64,
        entries: impl Iterator<Item = (&'s str, u64, u64, &'s str)>,
        versions: &[Version],
    ) -> Result<Vec<Retired>, Error> {
        let mut names = HashMap::new();
        let mut codes = HashMap::new();
        let mut out = Vec::new();
        for (i, (name, code, retired, doc)) in entries.enumerate() {
            let path = format!("{list}[{i}]");
            let name = self.name(&format!("{path}.name"), name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "retired name")?;
            if code >= bound {
                return self.fail(
                    format!("{path}.{key}"),
                    format!("{key} {code} is out of range (0-{})", bound - 1),
                );
            }
            self.unique(
                &mut codes,
                code,
                format!("{path}.{key}"),
                &format!("retired {key}"),
            )?;
            self.known_version(format!("{path}.retired"), retired, versions)?;
            out.push(Retired {
                name,
                code: code as u8,
                retired,
                doc: self.doc(&format!("{path}.doc"), doc)?,
            });
        }
        Ok(out)
    }

    /// Fails when a live entry takes the number or the name of a retired one.
    fn not_retired(
        &self,
        path: &str,
        what: &str,
        key: &str,
        name: &str,
        code: u64,
        retired: &[Retired],
    ) -> Result<(), Error> {
        if let Some(gone) = retired.iter().find(|r| u64::from(r.code) == code) {
            return self.fail(
                format!("{path}.{key}"),
                format!(
                    "{key} {code} belonged to {what} `{}`, retired in version {}; a retired {key} is never reused",
                    gone.name, gone.retired
                ),
            );
        }
        if let Some(gone) = retired.iter().find(|r| r.name == name) {
            return self.fail(
                format!("{path}.name"),
                format!(
                    "name `{name}` belonged to the {what} retired in version {} ({key} {}); a retired name is never reused",
                    gone.retired, gone.code
                ),
            );
        }
        Ok(())
    }

    fn versions(&self, versions: &[spec::VersionSpec]) -> Result<Vec<Version>, Error> {
        if versions.is_empty() {
            return self.fail("versions", "at least one version is needed");
        }
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            let path = format!("versions[{i}]");
            self.unique(&mut seen, v.version, format!("{path}.version"), "version")?;
            if let Some(prev) = out.last().map(|p: &Version| p.version) {
                if v.version < prev {
                    return self.fail(
                        format!("{path}.version"),
                        format!(
                            "version {} is listed after version {prev}; list versions oldest first",
                            v.version
                        ),
                    );
                }
            }
            out.push(Version {
                version: v.version,
                doc: self.doc(&format!("{path}.doc"), &v.doc)?,
            });
        }
        Ok(out)
    }

    fn known_version(&self, path: String, version: u64, versions: &[Version]) -> Result<(), Error> {
        if versions.iter().any(|v| v.version == version) {
            Ok(())
        } else {
            self.fail(
                path,
                format!("version {version} is not declared under `versions`"),
            )
        }
    }

    fn flags(
        &self,
        flags: &[spec::FlagSpec],
        versions: &[Version],
        retired: &[Retired],
    ) -> Result<Vec<Flag>, Error> {
        let mut names = HashMap::new();
        let mut bits = HashMap::new();
        let mut out = Vec::new();
        for (i, f) in flags.iter().enumerate() {
            let path = format!("flags[{i}]");
            let name = self.name(&format!("{path}.name"), &f.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "flag name")?;
            if f.bit >= FLAG_BITS {
                return self.fail(
                    format!("{path}.bit"),
                    format!("bit {} is outside the flags byte (0-7)", f.bit),
                );
            }
            self.unique(&mut bits, f.bit, format!("{path}.bit"), "flag bit")?;
            if let Some(prev) = out.last().filter(|p: &&Flag| u64::from(p.bit) > f.bit) {
                return self.fail(
                    format!("{path}.bit"),
                    format!(
                        "bit {} is listed after flag `{}` at bit {}; list flags by ascending bit",
                        f.bit, prev.name, prev.bit
                    ),
                );
            }
            self.not_retired(&path, "flag", "bit", &name, f.bit, retired)?;
            self.known_version(format!("{path}.since"), f.since, versions)?;
            out.push(Flag {
                name,
                bit: f.bit as u8,
                since: f.since,
                doc: self.doc(&format!("{path}.doc"), &f.doc)?,
            });
        }
        Ok(out)
    }

    fn unused_bits(
        &self,
        unused: &spec::UnusedBitsSpec,
        flags: &[Flag],
        retired: &[Retired],
    ) -> Result<UnusedBits, Error> {
        let mut seen = HashMap::new();
        for (i, &bit) in unused.bits.iter().enumerate() {
            let path = format!("unused_flag_bits.bits[{i}]");
            if bit >= FLAG_BITS {
                return self.fail(path, format!("bit {bit} is outside the flags byte (0-7)"));
            }
            if let Some(flag) = flags.iter().find(|f| u64::from(f.bit) == bit) {
                return self.fail(path, format!("bit {bit} is the bit of flag `{}`", flag.name));
            }
            if let Some(gone) = retired.iter().find(|r| u64::from(r.code) == bit) {
                return self.fail(
                    path,
                    format!(
                        "bit {bit} is the retired bit of flag `{}`; list it under `reserved.flags` only",
                        gone.name
                    ),
                );
            }
            self.unique(&mut seen, bit, path, "unused bit")?;
        }
        for bit in 0..FLAG_BITS {
            let named = flags.iter().any(|f| u64::from(f.bit) == bit);
            let gone = retired.iter().any(|r| u64::from(r.code) == bit);
            if !named && !gone && !unused.bits.contains(&bit) {
                return self.fail(
                    "unused_flag_bits.bits",
                    format!("bit {bit} is neither a flag, nor retired, nor listed as unused; every bit of the flags byte must be one of the three"),
                );
            }
        }
        let policy = match unused.policy.as_str() {
            "ignore" => UnusedBitsPolicy::Ignore,
            "reject" => UnusedBitsPolicy::Reject,
            other => {
                return self.fail(
                    "unused_flag_bits.policy",
                    format!("unknown policy `{other}`; expected `ignore` or `reject`"),
                )
            }
        };
        let mut bits: Vec<u8> = unused.bits.iter().map(|&b| b as u8).collect();
        bits.sort_unstable();
        Ok(UnusedBits {
            bits,
            policy,
            doc: self.doc("unused_flag_bits.doc", &unused.doc)?,
        })
    }

    /// A spec without the entry predates it and reads as `reject`, which is
    /// what every release before it did.
    fn unknown_ops(&self, entry: Option<&spec::UnknownOpsSpec>, flags: &[Flag]) -> Result<UnknownOps, Error> {
        let Some(entry) = entry else {
            return Ok(UnknownOps {
                policy: UnknownOpPolicy::Reject,
                answered_unless: Vec::new(),
                doc: "This spec does not say how a receiver treats an op code it does not know; \
                      it is read as `reject`, what releases before the `unknown_ops` entry did."
                    .to_owned(),
                stated: false,
            });
        };
        let Some(policy) = UnknownOpPolicy::ALL
            .iter()
            .find(|(n, _)| *n == entry.policy)
            .map(|(_, p)| *p)
        else {
            return self.fail(
                "unknown_ops.policy",
                format!("unknown policy `{}`; expected `answer` or `reject`", entry.policy),
            );
        };
        let mut seen = HashMap::new();
        for (i, name) in entry.answered_unless.iter().enumerate() {
            let path = format!("unknown_ops.answered_unless[{i}]");
            if !flags.iter().any(|f| &f.name == name) {
                return self.fail(path, format!("`{name}` is not a flag declared under `flags`"));
            }
            self.unique(&mut seen, name.clone(), path, "flag")?;
        }
        if policy == UnknownOpPolicy::Answer && entry.answered_unless.is_empty() {
            return self.fail(
                "unknown_ops.answered_unless",
                "policy `answer` needs the flags that mark a frame as a response or a push; without them, every frame with an unknown op would be answered, answers included",
            );
        }
        Ok(UnknownOps {
            policy,
            answered_unless: entry.answered_unless.clone(),
            doc: self.doc("unknown_ops.doc", &entry.doc)?,
            stated: true,
        })
    }

    fn ops(&self, ops: &[spec::OpSpec], retired: &[Retired]) -> Result<Vec<Op>, Error> {
        if ops.is_empty() {
            return self.fail("ops", "at least one op is needed");
        }
        let mut names = HashMap::new();
        let mut codes = HashMap::new();
        let mut out = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let path = format!("ops[{i}]");
            let name = self.name(&format!("{path}.name"), &op.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "op name")?;
            let code = self.byte(&format!("{path}.code"), "op code", op.code)?;
            self.unique(&mut codes, code, format!("{path}.code"), "op code")?;
            self.not_retired(&path, "op", "code", &name, op.code, retired)?;
            out.push(Op {
                name,
                code,
                doc: self.doc(&format!("{path}.doc"), &op.doc)?,
            });
        }
        Ok(out)
    }

    fn algorithms(
        &self,
        algorithms: &[spec::AlgorithmSpec],
        retired: &[Retired],
    ) -> Result<Vec<Algorithm>, Error> {
        let mut names = HashMap::new();
        let mut ids = HashMap::new();
        let mut out = Vec::new();
        for (i, a) in algorithms.iter().enumerate() {
            let path = format!("compression[{i}]");
            let name = self.name(&format!("{path}.name"), &a.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "algorithm name")?;
            let id = self.byte(&format!("{path}.id"), "algorithm id", a.id)?;
            self.unique(&mut ids, id, format!("{path}.id"), "algorithm id")?;
            self.not_retired(&path, "algorithm", "id", &name, a.id, retired)?;
            let mut param_names = HashMap::new();
            let mut parameters = Vec::new();
            for (j, p) in a.parameters.iter().enumerate() {
                let ppath = format!("{path}.parameters[{j}]");
                let pname = self.name(&format!("{ppath}.name"), &p.name)?;
                self.unique(
                    &mut param_names,
                    pname.clone(),
                    format!("{ppath}.name"),
                    "parameter name",
                )?;
                parameters.push(Parameter {
                    name: pname,
                    value: match &p.value {
                        spec::ScalarSpec::Int(v) => Scalar::Int(*v),
                        spec::ScalarSpec::Str(s) => Scalar::Str(s.clone()),
                    },
                    doc: self.doc(&format!("{ppath}.doc"), &p.doc)?,
                });
            }
            out.push(Algorithm {
                name,
                id,
                doc: self.doc(&format!("{path}.doc"), &a.doc)?,
                parameters,
            });
        }
        Ok(out)
    }

    fn layout(&self, sections: &[spec::SectionSpec], flags: &[Flag]) -> Result<Vec<Section>, Error> {
        let mut names = HashMap::new();
        let mut announcing = HashMap::new();
        let mut roles: HashMap<&str, String> = HashMap::new();
        let mut out = Vec::new();
        for (i, s) in sections.iter().enumerate() {
            let path = format!("layout[{i}]");
            let name = self.name(&format!("{path}.name"), &s.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "section name")?;
            match (&s.present_when, i) {
                (Some(_), 0) => return self.fail(
                    format!("{path}.present_when"),
                    "the first section is the base header and is always present; it cannot depend on a flag",
                ),
                (Some(flag), _) => {
                    if !flags.iter().any(|f| &f.name == flag) {
                        return self.fail(
                            format!("{path}.present_when"),
                            format!("`{flag}` is not a flag declared under `flags`"),
                        );
                    }
                    self.unique(
                        &mut announcing,
                        flag.clone(),
                        format!("{path}.present_when"),
                        "announcing flag",
                    )?;
                }
                (None, 0) => {}
                (None, _) => {
                    return self.fail(
                        format!("{path}.present_when"),
                        format!(
                        "section `{name}` follows the base header and must name the flag that announces it"
                    ),
                    )
                }
            }
            if s.fields.is_empty() {
                return self.fail(
                    format!("{path}.fields"),
                    format!("section `{name}` has no fields"),
                );
            }
            let mut field_names = HashMap::new();
            let mut fields: Vec<Field> = Vec::new();
            for (j, f) in s.fields.iter().enumerate() {
                let fpath = format!("{path}.fields[{j}]");
                let fname = self.name(&format!("{fpath}.name"), &f.name)?;
                self.unique(
                    &mut field_names,
                    fname.clone(),
                    format!("{fpath}.name"),
                    "field name",
                )?;
                let Some(ty) = WireType::ALL.iter().find(|(n, _)| *n == f.ty).map(|(_, t)| *t) else {
                    return self.fail(
                        format!("{fpath}.type"),
                        format!("unknown field type `{}`; expected one of u8, u16, u32", f.ty),
                    );
                };
                let Some(role) = Role::ALL.iter().find(|(n, _)| *n == f.role).map(|(_, r)| *r) else {
                    let known: Vec<&str> = Role::ALL.iter().map(|(n, _)| *n).collect();
                    return self.fail(
                        format!("{fpath}.role"),
                        format!("unknown role `{}`; expected one of {}", f.role, known.join(", ")),
                    );
                };
                if let Some(required) = role.required_type() {
                    if required != ty {
                        return self.fail(
                            format!("{fpath}.type"),
                            format!(
                                "a `{}` field must be {}, not {}",
                                role.name(),
                                required.name(),
                                ty.name()
                            ),
                        );
                    }
                }
                if role == Role::Flags && i != 0 {
                    return self.fail(
                        format!("{fpath}.role"),
                        "the flags field must be in the base header: the flags say which other sections are present",
                    );
                }
                if matches!(role, Role::Op | Role::RequestId) && i != 0 {
                    return self.fail(
                        format!("{fpath}.role"),
                        format!(
                            "the `{}` field must be in the base header: a receiver reads it, with the flags, from a frame whose op it does not know, to answer that frame",
                            role.name()
                        ),
                    );
                }
                self.unique(&mut roles, role.name(), format!("{fpath}.role"), "role")?;
                let offset = f.offset as usize;
                if let Some(prev) = fields.last() {
                    let prev_end = prev.offset + prev.ty.size();
                    if offset < prev.offset {
                        return self.fail(
                            format!("{fpath}.offset"),
                            format!(
                                "offset {offset} comes before field `{}` at offset {}; list fields in wire order",
                                prev.name, prev.offset
                            ),
                        );
                    }
                    if offset < prev_end {
                        return self.fail(
                            format!("{fpath}.offset"),
                            format!(
                                "offset {offset} overlaps field `{}` (bytes {}..{})",
                                prev.name, prev.offset, prev_end
                            ),
                        );
                    }
                    if offset > prev_end {
                        return self.fail(
                            format!("{fpath}.offset"),
                            format!(
                                "offset {offset} leaves a gap after field `{}`, which ends at {prev_end}; the wire has no padding",
                                prev.name
                            ),
                        );
                    }
                } else if offset != 0 {
                    return self.fail(
                        format!("{fpath}.offset"),
                        format!("the first field of a section starts at offset 0, not {offset}"),
                    );
                }
                fields.push(Field {
                    name: fname,
                    offset,
                    ty,
                    role,
                    doc: self.doc(&format!("{fpath}.doc"), &f.doc)?,
                });
            }
            out.push(Section {
                name,
                doc: self.doc(&format!("{path}.doc"), &s.doc)?,
                present_when: s.present_when.clone(),
                fields,
            });
        }
        for (role_name, role) in Role::ALL {
            if !roles.contains_key(role_name) {
                return self.fail(
                    "layout",
                    format!("no field has the role `{}`; the codec needs one", role.name()),
                );
            }
        }
        Ok(out)
    }

    fn defaults(&self, defaults: &[spec::DefaultSpec]) -> Result<Vec<Default>, Error> {
        let mut names = HashMap::new();
        let mut out = Vec::new();
        for (i, d) in defaults.iter().enumerate() {
            let path = format!("defaults[{i}]");
            let name = self.name(&format!("{path}.name"), &d.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "default name")?;
            let Some(unit) = Unit::ALL.iter().find(|(n, _)| *n == d.unit).map(|(_, u)| *u) else {
                let known: Vec<&str> = Unit::ALL.iter().map(|(n, _)| *n).collect();
                return self.fail(
                    format!("{path}.unit"),
                    format!("unknown unit `{}`; expected one of {}", d.unit, known.join(", ")),
                );
            };
            if unit == Unit::RequestId && u16::try_from(d.value).is_err() {
                return self.fail(
                    format!("{path}.value"),
                    format!(
                        "request id {} does not fit in the request id field (0-65535)",
                        d.value
                    ),
                );
            }
            out.push(Default {
                name,
                value: d.value,
                unit,
                doc: self.doc(&format!("{path}.doc"), &d.doc)?,
            });
        }
        Ok(out)
    }

    fn handshake(&self, h: &spec::HandshakeSpec, versions: &[Version]) -> Result<Handshake, Error> {
        self.known_version("handshake.version".into(), h.version, versions)?;
        let mut names = HashMap::new();
        let mut fields = Vec::new();
        for (i, f) in h.fields.iter().enumerate() {
            let path = format!("handshake.fields[{i}]");
            let name = self.name(&format!("{path}.name"), &f.name)?;
            self.unique(
                &mut names,
                name.clone(),
                format!("{path}.name"),
                "handshake field",
            )?;
            let Some(json) = JsonShape::ALL.iter().find(|(n, _)| *n == f.json).map(|(_, s)| *s) else {
                return self.fail(
                    format!("{path}.json"),
                    format!(
                        "unknown JSON shape `{}`; expected string, algorithms, bool or version",
                        f.json
                    ),
                );
            };
            fields.push(HandshakeField {
                name,
                json,
                doc: self.doc(&format!("{path}.doc"), &f.doc)?,
            });
        }
        Ok(Handshake {
            doc: self.doc("handshake.doc", &h.doc)?,
            ty: h.ty.clone(),
            version: h.version,
            fallback_timeout_seconds: h.fallback_timeout_seconds,
            subprotocol: h.subprotocol.name.clone(),
            subprotocol_doc: self.doc("handshake.subprotocol.doc", &h.subprotocol.doc)?,
            auth_field: h.auth.field.clone(),
            auth_doc: self.doc("handshake.auth.doc", &h.auth.doc)?,
            fields,
        })
    }

    fn messages(&self, m: &spec::MessagesSpec, handshake: &Handshake) -> Result<Messages, Error> {
        let type_field = self.json_key("messages.type_field", &m.type_field)?;
        if m.batch.max_items == 0 || m.batch.max_items > u64::from(u32::MAX) {
            return self.fail(
                "messages.batch.max_items",
                format!(
                    "a batch cap of {} cannot be met; give a count from 1 to {}",
                    m.batch.max_items,
                    u32::MAX
                ),
            );
        }
        let mut names = HashMap::new();
        let mut list = Vec::new();
        for (i, message) in m.list.iter().enumerate() {
            let path = format!("messages.list[{i}]");
            let name = self.name(&format!("{path}.name"), &message.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "message")?;
            let Some(sender) = Sender::ALL
                .iter()
                .find(|(n, _)| *n == message.sender)
                .map(|(_, s)| *s)
            else {
                return self.fail(
                    format!("{path}.sender"),
                    format!("unknown sender `{}`; expected client or server", message.sender),
                );
            };
            let mut keys = HashMap::new();
            let mut fields = Vec::new();
            for (k, f) in message.fields.iter().enumerate() {
                let fpath = format!("{path}.fields[{k}]");
                let key = self.json_key(&format!("{fpath}.name"), &f.name)?;
                self.unique(&mut keys, key.clone(), format!("{fpath}.name"), "field")?;
                let Some(json) = MessageJson::ALL
                    .iter()
                    .find(|(n, _)| *n == f.json)
                    .map(|(_, s)| *s)
                else {
                    return self.fail(
                        format!("{fpath}.json"),
                        format!(
                            "unknown JSON shape `{}`; expected string, base64url, grid or any",
                            f.json
                        ),
                    );
                };
                fields.push(MessageField {
                    name: key,
                    json,
                    required: f.required,
                    doc: self.doc(&format!("{fpath}.doc"), &f.doc)?,
                });
            }
            if let Some(ty) = &message.ty {
                self.json_key(&format!("{path}.type"), ty)?;
                let typed = fields
                    .iter()
                    .any(|f| f.name == type_field && f.required && f.json == MessageJson::String);
                if !typed {
                    return self.fail(
                        format!("{path}.fields"),
                        format!(
                            "message `{name}` has type `{ty}` but no required string field `{type_field}` to carry it"
                        ),
                    );
                }
                if *ty == handshake.ty {
                    return self.fail(
                        format!("{path}.type"),
                        format!(
                            "type `{ty}` is the capability handshake's; a reader could not tell them apart"
                        ),
                    );
                }
            }
            list.push(Message {
                name,
                ty: message.ty.clone(),
                sender,
                doc: self.doc(&format!("{path}.doc"), &message.doc)?,
                fields,
            });
        }
        let login = self.login(&m.login, &list)?;
        Ok(Messages {
            doc: self.doc("messages.doc", &m.doc)?,
            type_field,
            batch_max_items: m.batch.max_items,
            batch_doc: self.doc("messages.batch.doc", &m.batch.doc)?,
            list,
            login,
        })
    }

    /// The login's steps name messages of the list, alternate from the
    /// client, and end with the server; the refusal is a server's message.
    fn login(&self, l: &spec::LoginSpec, list: &[Message]) -> Result<Login, Error> {
        let find = |path: String, name: &str| match list.iter().find(|m| m.name == name) {
            Some(message) => Ok(message),
            None => self.fail(path, format!("`{name}` is not a message of `messages.list`")),
        };
        if l.steps.is_empty() {
            return self.fail("messages.login.steps", "a login needs at least one step");
        }
        for (i, step) in l.steps.iter().enumerate() {
            let message = find(format!("messages.login.steps[{i}]"), step)?;
            let expected = if i % 2 == 0 {
                Sender::Client
            } else {
                Sender::Server
            };
            if message.sender != expected {
                return self.fail(
                    format!("messages.login.steps[{i}]"),
                    format!(
                        "step {i} `{step}` is sent by the {}; the login alternates, client first",
                        if message.sender == Sender::Client {
                            "client"
                        } else {
                            "server"
                        }
                    ),
                );
            }
        }
        if !l.steps.len().is_multiple_of(2) {
            return self.fail(
                "messages.login.steps",
                "the login must end with a server's step, which says it succeeded",
            );
        }
        let refusal = find("messages.login.refusal".into(), &l.refusal)?;
        if refusal.sender != Sender::Server {
            return self.fail(
                "messages.login.refusal",
                format!("the refusal `{}` must be a server's message", l.refusal),
            );
        }
        if l.hash.trim().is_empty() {
            return self.fail("messages.login.hash", "the hash function needs a name");
        }
        Ok(Login {
            hash: l.hash.clone(),
            steps: l.steps.clone(),
            refusal: l.refusal.clone(),
            doc: self.doc("messages.login.doc", &l.doc)?,
        })
    }

    /// A JSON key the generators can turn into a constant name: ASCII
    /// letters and digits, starting with a lowercase letter (camelCase allowed).
    fn json_key(&self, path: &str, key: &str) -> Result<String, Error> {
        let mut chars = key.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric()) {
            return self.fail(
                path,
                format!("JSON key `{key}` must start with a lowercase ASCII letter and hold only ASCII letters and digits"),
            );
        }
        Ok(key.to_owned())
    }
}
