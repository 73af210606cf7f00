//! What a request or response carries: raw bytes, JSON, or a libhaystack grid.

use serde_json::Value;

/// A payload could not be made from, or read into, the caller's type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The payload is not the JSON the caller expected.
    #[error("payload is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The payload is not a Haystack 4 JSON grid.
    #[cfg(feature = "libhaystack")]
    #[error("payload is not a Haystack grid: {0}")]
    Grid(#[from] crate::hayson::HaysonError),
}

/// A type a request or response payload can be made from and read into.
///
/// Implemented for `Vec<u8>` (the payload as it is), for
/// [`serde_json::Value`], and, with the `libhaystack` feature, for
/// [`libhaystack::val::Grid`], which reads numbers the reference sends as
/// `"NaN"`, `"INF"` and `"-INF"`.
pub trait Body: Sized {
    /// The payload bytes of `self`.
    fn to_payload(&self) -> Result<Vec<u8>, BodyError>;
    /// Reads a payload.
    fn from_payload(payload: Vec<u8>) -> Result<Self, BodyError>;
}

impl Body for Vec<u8> {
    fn to_payload(&self) -> Result<Vec<u8>, BodyError> {
        Ok(self.clone())
    }

    fn from_payload(payload: Vec<u8>) -> Result<Self, BodyError> {
        Ok(payload)
    }
}

impl Body for Value {
    fn to_payload(&self) -> Result<Vec<u8>, BodyError> {
        Ok(serde_json::to_vec(self)?)
    }

    fn from_payload(payload: Vec<u8>) -> Result<Self, BodyError> {
        Ok(serde_json::from_slice(&payload)?)
    }
}

#[cfg(feature = "libhaystack")]
impl Body for libhaystack::val::Grid {
    fn to_payload(&self) -> Result<Vec<u8>, BodyError> {
        Ok(crate::hayson::encode_grid(self))
    }

    fn from_payload(payload: Vec<u8>) -> Result<Self, BodyError> {
        Ok(crate::hayson::decode_grid(&payload)?)
    }
}
