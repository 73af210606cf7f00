//! The filter resolver: libhaystack's `PathResolver` over the site's records, so that a
//! filter's ref paths (`equipRef->siteRef->geoCity`) follow refs from record to record.

use std::collections::HashMap;
use std::sync::Arc;

use libhaystack::filter::path::Path;
use libhaystack::filter::PathResolver;
use libhaystack::val::{Dict, Ref, Value};

/// Follows ref paths (`equipRef->siteRef->dis`) through the site's records, which
/// libhaystack's own dict resolver cannot do.
pub struct RecordResolver<'a> {
    /// Every record of the site.
    pub records: &'a [Arc<Dict>],
    /// Record position by id (without the `@`).
    pub index: &'a HashMap<String, usize>,
}

impl RecordResolver<'_> {
    fn lookup(&self, id: &str) -> Option<&Dict> {
        self.records.get(*self.index.get(id)?).map(|record| &**record)
    }
}

impl PathResolver for RecordResolver<'_> {
    fn resolve_for(&self, root: &Dict, path: &Path) -> Value {
        let mut current = root;
        let last = path.len().saturating_sub(1);
        for (i, segment) in path.iter().enumerate() {
            let Some(value) = current.get(&segment.to_string()) else {
                return Value::Null;
            };
            if i == last {
                return value.clone();
            }
            current = match value {
                Value::Ref(next) => match self.lookup(next.value()) {
                    Some(record) => record,
                    None => return Value::Null,
                },
                Value::Dict(inner) => inner,
                _ => return Value::Null,
            };
        }
        Value::Null
    }

    fn resolve(&self, _path: &Path) -> Value {
        // Evaluation always resolves against the record being tested (`resolve_for`); a
        // resolver over many records has no single root of its own.
        Value::Null
    }

    fn resolve_ref(&self, reference: &Ref) -> Option<Dict> {
        self.lookup(reference.value()).cloned()
    }
}
