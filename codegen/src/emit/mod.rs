//! Model → text: one generator per target, each reading the validated
//! [`crate::model::Protocol`] and nothing else.
//!
//! - [`rust`]: the `protocol` module that build.rs writes into `OUT_DIR`;
//! - [`python`]: the dependency-free Python module of constants;
//! - [`javascript`]: the ES module and its TypeScript declarations;
//! - [`markdown`]: the protocol reference for people.

pub mod javascript;
pub mod markdown;
pub mod python;
pub mod rust;

mod text;
