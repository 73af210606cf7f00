//! The capability handshake.

use std::collections::HashMap;

use super::Checker;
use crate::model::{Handshake, HandshakeField, Version};
use crate::spec;
use crate::Error;

impl Checker<'_> {
    pub(super) fn handshake(
        &self,
        h: &spec::HandshakeSpec,
        versions: &[Version],
    ) -> Result<Handshake, Error> {
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
            fields.push(HandshakeField {
                name,
                json: f.json,
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
}
