//! The named defaults and their units.

use std::collections::HashMap;

use super::Checker;
use crate::model::{DefaultValue, Unit};
use crate::spec;
use crate::Error;

impl Checker<'_> {
    pub(super) fn defaults(&self, defaults: &[spec::DefaultSpec]) -> Result<Vec<DefaultValue>, Error> {
        let mut names = HashMap::new();
        let mut out = Vec::new();
        for (i, d) in defaults.iter().enumerate() {
            let path = format!("defaults[{i}]");
            let name = self.name(&format!("{path}.name"), &d.name)?;
            self.unique(&mut names, name.clone(), format!("{path}.name"), "default name")?;
            let unit = d.unit;
            if unit == Unit::RequestId && u16::try_from(d.value).is_err() {
                return self.fail(
                    format!("{path}.value"),
                    format!(
                        "request id {} does not fit in the request id field (0-65535)",
                        d.value
                    ),
                );
            }
            out.push(DefaultValue {
                name,
                value: d.value,
                unit,
                doc: self.doc(&format!("{path}.doc"), &d.doc)?,
            });
        }
        Ok(out)
    }
}
