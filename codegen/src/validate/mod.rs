//! Spec → model: every rule the generators rely on, checked once, each failure
//! naming the YAML path and the offending value.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod defaults;
mod handshake;
mod layout;
mod messages;
mod numbered;

use crate::model::{Protocol, Version};
use crate::spec::Spec;
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
