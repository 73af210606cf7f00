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

    pub(super) fn algorithms(
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
}
