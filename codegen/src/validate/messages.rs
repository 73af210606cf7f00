//! The JSON text messages and the login.

use std::collections::HashMap;

use super::Checker;
use crate::model::{Handshake, Login, Message, MessageField, MessageJson, Messages, Sender};
use crate::spec;
use crate::Error;

impl Checker<'_> {
    pub(super) fn messages(&self, m: &spec::MessagesSpec, handshake: &Handshake) -> Result<Messages, Error> {
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
            let mut keys = HashMap::new();
            let mut fields = Vec::new();
            for (k, f) in message.fields.iter().enumerate() {
                let fpath = format!("{path}.fields[{k}]");
                let key = self.json_key(&format!("{fpath}.name"), &f.name)?;
                self.unique(&mut keys, key.clone(), format!("{fpath}.name"), "field")?;
                fields.push(MessageField {
                    name: key,
                    json: f.json,
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
                sender: message.sender,
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
}
