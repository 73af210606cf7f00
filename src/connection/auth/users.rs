//! An in-memory user store and its file: a JSON array of the reference's
//! user records (`hs_py.user.user_to_dict`), so that a user the reference
//! made can log in here, and the other way round.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::credentials::{CredentialStore, CredentialsError, Lookup, Role, ScramCredentials, UserRecord};
use super::scram::{ScramLimits, KEY_LEN};

/// The keys of a record this store reads; any other key is kept as it is.
mod key {
    pub const USERNAME: &str = "username";
    pub const SALT: &str = "salt";
    pub const ITERATIONS: &str = "iterations";
    pub const STORED_KEY: &str = "stored_key";
    pub const SERVER_KEY: &str = "server_key";
    pub const ROLE: &str = "role";
    pub const ENABLED: &str = "enabled";
    pub const ALL: [&str; 7] = [USERNAME, SALT, ITERATIONS, STORED_KEY, SERVER_KEY, ROLE, ENABLED];
}

/// What is wrong with a users file, or with a user being added.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file could not be read.
    #[error("cannot read the users file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write the users file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not JSON.
    #[error("{origin} is not valid JSON: {source}")]
    Json {
        /// The file, or "users JSON" for text.
        origin: String,
        /// Where and why.
        source: serde_json::Error,
    },
    /// The JSON is not an array of records.
    #[error("{origin} is not a JSON array of user records")]
    NotAnArray {
        /// The file, or "users JSON" for text.
        origin: String,
    },
    /// A record is not a JSON object.
    #[error("{origin}: record {index} is not a JSON object")]
    NotAnObject {
        /// The file, or "users JSON" for text.
        origin: String,
        /// The record's index in the array, from 0.
        index: usize,
    },
    /// A field of a record is missing or wrong.
    #[error("{origin}: record {index}: field {field:?}: {problem}")]
    Field {
        /// The file, or "users JSON" for text.
        origin: String,
        /// The record's index in the array, from 0.
        index: usize,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Two records have the same user name.
    #[error("{origin}: record {index} repeats the user name {username:?}")]
    Duplicate {
        /// The file, or "users JSON" for text.
        origin: String,
        /// The index of the second record, from 0.
        index: usize,
        /// The name.
        username: String,
    },
    /// A user name must not be empty.
    #[error("the user name is empty")]
    EmptyUsername,
    /// A password must not be empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// The user is already in the store.
    #[error("the user {0:?} already exists")]
    Exists(String),
    /// Too few iterations for clients to accept.
    #[error("{iterations} iterations are fewer than clients accept ({min})")]
    TooFewIterations {
        /// The count given.
        iterations: u32,
        /// The fewest clients accept.
        min: u32,
    },
    /// The credentials could not be derived.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

/// One user of a [`Users`] store, with the keys of its record this store
/// does not read (names, e-mail, dates), kept for writing it back.
#[derive(Debug, Clone)]
struct Entry {
    username: String,
    record: UserRecord,
    other: Map<String, Value>,
}

/// An in-memory [`CredentialStore`], read from and written to a users file.
///
/// The file is a JSON array of records as `hs_py.user.user_to_dict` writes
/// them: `username`, `salt` (standard base64), `iterations`, `stored_key`
/// and `server_key` (standard base64, 32 bytes each), `role` (`viewer`,
/// `operator` or `admin`; viewer when absent) and `enabled` (true when
/// absent). Other keys, such as `first_name` or `created_at`, are kept as
/// they are but not used. No password is ever in the file.
#[derive(Debug, Clone, Default)]
pub struct Users {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Users {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a users file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, UsersError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Reads the text of a users file.
    pub fn from_json(text: &str) -> Result<Self, UsersError> {
        Self::parse(text, "users JSON")
    }

    /// Writes the store to a users file, replacing it.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), UsersError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|source| UsersError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// The store as the text of a users file, in the order users were read
    /// or added.
    pub fn to_json(&self) -> String {
        let records: Vec<Value> = self.entries.iter().map(Entry::to_value).collect();
        format!("{:#}\n", Value::Array(records))
    }

    /// Adds a user with credentials derived from `password` (a random salt,
    /// `iterations` rounds), enabled. Refuses an empty name or password, a
    /// name already taken, and fewer iterations than clients accept by
    /// default ([`ScramLimits`]).
    pub fn add(
        &mut self,
        username: &str,
        password: &str,
        role: Role,
        iterations: u32,
    ) -> Result<(), UsersError> {
        if username.is_empty() {
            return Err(UsersError::EmptyUsername);
        }
        if password.is_empty() {
            return Err(UsersError::EmptyPassword);
        }
        if self.index.contains_key(username) {
            return Err(UsersError::Exists(username.to_owned()));
        }
        let min = ScramLimits::default().min_iterations;
        if iterations < min {
            return Err(UsersError::TooFewIterations { iterations, min });
        }
        let credentials = ScramCredentials::derive(password, iterations)?;
        self.insert(
            username,
            UserRecord {
                credentials,
                role,
                enabled: true,
            },
        );
        Ok(())
    }

    /// Puts a user's record in the store, replacing and returning any it
    /// had.
    pub fn insert(&mut self, username: &str, record: UserRecord) -> Option<UserRecord> {
        if let Some(&at) = self.index.get(username) {
            return Some(std::mem::replace(&mut self.entries[at].record, record));
        }
        self.index.insert(username.to_owned(), self.entries.len());
        self.entries.push(Entry {
            username: username.to_owned(),
            record,
            other: Map::new(),
        });
        None
    }

    /// Takes a user out of the store.
    pub fn remove(&mut self, username: &str) -> Option<UserRecord> {
        let at = self.index.remove(username)?;
        let entry = self.entries.remove(at);
        for position in self.index.values_mut() {
            if *position > at {
                *position -= 1;
            }
        }
        Some(entry.record)
    }

    /// The record of `username`.
    pub fn get(&self, username: &str) -> Option<&UserRecord> {
        self.index.get(username).map(|&at| &self.entries[at].record)
    }

    /// The user names, in the store's order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.username.as_str())
    }

    /// How many users the store holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds no user.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The iteration count most users have (the lowest among equally
    /// common ones), to give [`FakeCredentials`](super::FakeCredentials) so
    /// that unknown users look like the others; `None` when empty.
    pub fn common_iterations(&self) -> Option<u32> {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for entry in &self.entries {
            *counts.entry(entry.record.credentials.iterations).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(iterations, _)| iterations)
    }

    fn parse(text: &str, origin: &str) -> Result<Self, UsersError> {
        let value: Value = serde_json::from_str(text).map_err(|source| UsersError::Json {
            origin: origin.to_owned(),
            source,
        })?;
        let Value::Array(records) = value else {
            return Err(UsersError::NotAnArray {
                origin: origin.to_owned(),
            });
        };
        let mut users = Self::new();
        for (index, record) in records.into_iter().enumerate() {
            let Value::Object(object) = record else {
                return Err(UsersError::NotAnObject {
                    origin: origin.to_owned(),
                    index,
                });
            };
            let entry = Entry::read(object).map_err(|(field, problem)| UsersError::Field {
                origin: origin.to_owned(),
                index,
                field,
                problem,
            })?;
            if users.index.contains_key(&entry.username) {
                return Err(UsersError::Duplicate {
                    origin: origin.to_owned(),
                    index,
                    username: entry.username,
                });
            }
            users.index.insert(entry.username.clone(), users.entries.len());
            users.entries.push(entry);
        }
        Ok(users)
    }
}

impl CredentialStore for Users {
    fn user<'a>(&'a self, username: &'a str) -> Lookup<'a> {
        let found = self.get(username).cloned();
        Box::pin(std::future::ready(found))
    }
}

type FieldFault = (&'static str, String);

impl Entry {
    fn read(mut object: Map<String, Value>) -> Result<Self, FieldFault> {
        let username = match object.get(key::USERNAME) {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            Some(Value::String(_)) => return Err((key::USERNAME, "is empty".into())),
            other => return Err((key::USERNAME, expected("a string", other))),
        };
        let salt = bytes(&object, key::SALT)?;
        if salt.is_empty() {
            return Err((key::SALT, "is empty".into()));
        }
        let iterations = match object.get(key::ITERATIONS) {
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => n,
                _ => return Err((key::ITERATIONS, format!("{n} is not a count in 1..={}", u32::MAX))),
            },
            other => return Err((key::ITERATIONS, expected("a number", other))),
        };
        let stored_key = key_bytes(&object, key::STORED_KEY)?;
        let server_key = key_bytes(&object, key::SERVER_KEY)?;
        let role = match object.get(key::ROLE) {
            None => Role::default(),
            Some(Value::String(name)) => name.parse().map_err(|e| (key::ROLE, format!("{e}")))?,
            other => return Err((key::ROLE, expected("a string", other))),
        };
        let enabled = match object.get(key::ENABLED) {
            None => true,
            Some(Value::Bool(enabled)) => *enabled,
            other => return Err((key::ENABLED, expected("true or false", other))),
        };
        for known in key::ALL {
            object.remove(known);
        }
        Ok(Self {
            username,
            record: UserRecord {
                credentials: ScramCredentials {
                    salt,
                    iterations,
                    stored_key,
                    server_key,
                },
                role,
                enabled,
            },
            other: object,
        })
    }

    fn to_value(&self) -> Value {
        let credentials = &self.record.credentials;
        let mut object = Map::new();
        object.insert(key::USERNAME.into(), self.username.clone().into());
        object.insert(key::SALT.into(), STANDARD.encode(&credentials.salt).into());
        object.insert(key::ITERATIONS.into(), credentials.iterations.into());
        object.insert(
            key::STORED_KEY.into(),
            STANDARD.encode(credentials.stored_key).into(),
        );
        object.insert(
            key::SERVER_KEY.into(),
            STANDARD.encode(credentials.server_key).into(),
        );
        object.insert(key::ROLE.into(), self.record.role.name().into());
        object.insert(key::ENABLED.into(), self.record.enabled.into());
        for (name, value) in &self.other {
            object.insert(name.clone(), value.clone());
        }
        Value::Object(object)
    }
}

fn bytes(object: &Map<String, Value>, field: &'static str) -> Result<Vec<u8>, FieldFault> {
    match object.get(field) {
        Some(Value::String(text)) => STANDARD
            .decode(text)
            .map_err(|e| (field, format!("is not standard base64: {e}"))),
        other => Err((field, expected("a base64 string", other))),
    }
}

fn key_bytes(object: &Map<String, Value>, field: &'static str) -> Result<[u8; KEY_LEN], FieldFault> {
    let decoded = bytes(object, field)?;
    <[u8; KEY_LEN]>::try_from(decoded.as_slice())
        .map_err(|_| (field, format!("is {} bytes, not {KEY_LEN}", decoded.len())))
}

fn expected(what: &str, found: Option<&Value>) -> String {
    match found {
        None => "is missing".into(),
        Some(value) => format!("is not {what} ({})", json_kind(value)),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
