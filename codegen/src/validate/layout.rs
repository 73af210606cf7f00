//! The header layout: sections, their fields, offsets and roles.

use std::collections::HashMap;

use super::Checker;
use crate::model::{Field, Flag, Role, Section};
use crate::spec;
use crate::Error;

impl Checker<'_> {
    pub(super) fn layout(
        &self,
        sections: &[spec::SectionSpec],
        flags: &[Flag],
    ) -> Result<Vec<Section>, Error> {
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
                let (ty, role) = (f.ty, f.role);
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
        for role in Role::ALL {
            if !roles.contains_key(role.name()) {
                return self.fail(
                    "layout",
                    format!("no field has the role `{}`; the codec needs one", role.name()),
                );
            }
        }
        Ok(out)
    }
}
