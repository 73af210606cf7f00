//! The numbered lists: versions, flags and their unused bits, ops, the
//! policy for unknown op codes, compression algorithms, and the retired
//! entries of each.

use std::collections::HashMap;

use super::{Checker, FLAG_BITS};
use crate::model::{
    Algorithm, Flag, Op, Parameter, Reserved, Retired, Scalar, UnknownOpPolicy, UnknownOps, UnusedBits,
    Version,
};
use crate::spec;
use crate::Error;

/// A numbered list of the spec, or the retired entries of one: how the
/// checks every such list shares name its entries and bound its numbers.
#[derive(Clone, Copy)]
struct NumberedList {
    /// The YAML path of the list.
    path: &'static str,
    /// What an entry is called in messages.
    what: &'static str,
    /// The YAML key of the number.
    key: &'static str,
    /// The numbers run from 0 to one less than this.
    bound: u64,
    /// What a number past the bound is, in words.
    range: &'static str,
}

/// The named bits of the flags byte.
const FLAGS: NumberedList = NumberedList {
    path: "flags",
    what: "flag",
    key: "bit",
    bound: FLAG_BITS,
    range: "is outside the flags byte",
};

/// The op codes of the op byte.
const OPS: NumberedList = NumberedList {
    path: "ops",
    what: "op",
    key: "code",
    bound: 1 << 8,
    range: "does not fit in one byte",
};

/// The algorithm ids of the algorithm byte.
const ALGORITHMS: NumberedList = NumberedList {
    path: "compression",
    what: "algorithm",
    key: "id",
    bound: 1 << 8,
    range: "does not fit in one byte",
};

/// The retired flag bits.
const RETIRED_FLAGS: NumberedList = NumberedList {
    path: "reserved.flags",
    what: "retired",
    range: "is out of range",
    ..FLAGS
};

/// The retired op codes.
const RETIRED_OPS: NumberedList = NumberedList {
    path: "reserved.ops",
    what: "retired",
    range: "is out of range",
    ..OPS
};

/// The retired algorithm ids.
const RETIRED_ALGORITHMS: NumberedList = NumberedList {
    path: "reserved.compression",
    what: "retired",
    range: "is out of range",
    ..ALGORITHMS
};

impl Checker<'_> {
    pub(super) fn reserved(
        &self,
        reserved: &spec::ReservedSpec,
        versions: &[Version],
    ) -> Result<Reserved, Error> {
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
            flags: self.retired(&RETIRED_FLAGS, flags, versions)?,
            ops: self.retired(&RETIRED_OPS, ops, versions)?,
            algorithms: self.retired(&RETIRED_ALGORITHMS, algorithms, versions)?,
        })
    }

    /// One list of retired entries: `(name, number, retired in, doc)` each,
    /// checked as a numbered list, with their versions declared.
    fn retired<'s>(
        &self,
        list: &NumberedList,
        entries: impl Iterator<Item = (&'s str, u64, u64, &'s str)> + Clone,
        versions: &[Version],
    ) -> Result<Vec<Retired>, Error> {
        let checked = self.numbered(list, &[], entries.clone().map(|(name, code, ..)| (name, code)))?;
        let mut out = Vec::new();
        for (i, ((name, code), (_, _, retired, doc))) in checked.into_iter().zip(entries).enumerate() {
            let path = format!("{}[{i}]", list.path);
            self.known_version(format!("{path}.retired"), retired, versions)?;
            out.push(Retired {
                name,
                code,
                retired,
                doc: self.doc(&format!("{path}.doc"), doc)?,
            });
        }
        Ok(out)
    }

    /// The checks every numbered list shares, `(name, number)` an entry in
    /// order: names well-formed and unique, numbers in range and unique, and,
    /// for a live list, neither taken from one of its `retired` entries.
    /// Returns the names and numbers, checked.
    fn numbered<'s>(
        &self,
        list: &NumberedList,
        retired: &[Retired],
        entries: impl Iterator<Item = (&'s str, u64)>,
    ) -> Result<Vec<(String, u8)>, Error> {
        let NumberedList { what, key, .. } = *list;
        let mut names = HashMap::new();
        let mut numbers = HashMap::new();
        let mut out = Vec::new();
        for (i, (name, number)) in entries.enumerate() {
            let path = format!("{}[{i}]", list.path);
            let name = self.name(&format!("{path}.name"), name)?;
            self.unique(
                &mut names,
                name.clone(),
                format!("{path}.name"),
                &format!("{what} name"),
            )?;
            let code = match u8::try_from(number) {
                Ok(code) if number < list.bound => code,
                _ => {
                    return self.fail(
                        format!("{path}.{key}"),
                        format!("{what} {key} {number} {} (0-{})", list.range, list.bound - 1),
                    )
                }
            };
            self.unique(
                &mut numbers,
                code,
                format!("{path}.{key}"),
                &format!("{what} {key}"),
            )?;
            self.not_retired(&path, list, &name, code, retired)?;
            out.push((name, code));
        }
        Ok(out)
    }

    /// Fails when a live entry takes the number or the name of a retired one.
    fn not_retired(
        &self,
        path: &str,
        list: &NumberedList,
        name: &str,
        code: u8,
        retired: &[Retired],
    ) -> Result<(), Error> {
        let NumberedList { what, key, .. } = *list;
        if let Some(gone) = retired.iter().find(|r| r.code == code) {
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

    pub(super) fn versions(&self, versions: &[spec::VersionSpec]) -> Result<Vec<Version>, Error> {
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

    pub(super) fn flags(
        &self,
        flags: &[spec::FlagSpec],
        versions: &[Version],
        retired: &[Retired],
    ) -> Result<Vec<Flag>, Error> {
        let checked = self.numbered(&FLAGS, retired, flags.iter().map(|f| (f.name.as_str(), f.bit)))?;
        let mut out: Vec<Flag> = Vec::new();
        for (i, ((name, bit), f)) in checked.into_iter().zip(flags).enumerate() {
            let path = format!("flags[{i}]");
            if let Some(prev) = out.last().filter(|p| p.bit > bit) {
                return self.fail(
                    format!("{path}.bit"),
                    format!(
                        "bit {bit} is listed after flag `{}` at bit {}; list flags by ascending bit",
                        prev.name, prev.bit
                    ),
                );
            }
            self.known_version(format!("{path}.since"), f.since, versions)?;
            out.push(Flag {
                name,
                bit,
                since: f.since,
                doc: self.doc(&format!("{path}.doc"), &f.doc)?,
            });
        }
        Ok(out)
    }

    pub(super) fn unused_bits(
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
        let mut bits: Vec<u8> = unused.bits.iter().map(|&b| b as u8).collect();
        bits.sort_unstable();
        Ok(UnusedBits {
            bits,
            policy: unused.policy,
            doc: self.doc("unused_flag_bits.doc", &unused.doc)?,
        })
    }

    /// A spec without the entry predates it and reads as `reject`, which is
    /// what every release before it did.
    pub(super) fn unknown_ops(
        &self,
        entry: Option<&spec::UnknownOpsSpec>,
        flags: &[Flag],
    ) -> Result<UnknownOps, Error> {
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
        let policy = entry.policy;
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

    pub(super) fn ops(&self, ops: &[spec::OpSpec], retired: &[Retired]) -> Result<Vec<Op>, Error> {
        if ops.is_empty() {
            return self.fail("ops", "at least one op is needed");
        }
        let checked = self.numbered(&OPS, retired, ops.iter().map(|o| (o.name.as_str(), o.code)))?;
        let mut out = Vec::new();
        for (i, ((name, code), op)) in checked.into_iter().zip(ops).enumerate() {
            out.push(Op {
                name,
                code,
                doc: self.doc(&format!("ops[{i}].doc"), &op.doc)?,
            });
        }
        Ok(out)
    }

    pub(super) fn algorithms(
        &self,
        algorithms: &[spec::AlgorithmSpec],
        retired: &[Retired],
    ) -> Result<Vec<Algorithm>, Error> {
        let checked = self.numbered(
            &ALGORITHMS,
            retired,
            algorithms.iter().map(|a| (a.name.as_str(), a.id)),
        )?;
        let mut out = Vec::new();
        for (i, ((name, id), a)) in checked.into_iter().zip(algorithms).enumerate() {
            let path = format!("compression[{i}]");
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
}
