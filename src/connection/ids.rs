//! Request ids: 16 bits on the wire, so a long-lived connection wraps them.

use crate::protocol::defaults;

/// Hands out request ids for one connection.
///
/// Ids go up by one, wrap within `u16`, and skip both the push request id
/// (a response carrying it could be mistaken for a push by a careless peer)
/// and every id still waiting for its response, so a slow request is never
/// answered with another's payload. The reference's client instead counts
/// past `u16::MAX` and fails on its 65,536th request.
///
/// ```
/// use haystack_wire::connection::RequestIds;
///
/// let mut ids = RequestIds::starting_at(u16::MAX);
/// let pending = [1u16];
/// assert_eq!(ids.allocate(|id| pending.contains(&id)), Some(u16::MAX));
/// // 0 is the push request id and 1 is still pending.
/// assert_eq!(ids.allocate(|id| pending.contains(&id)), Some(2));
/// ```
#[derive(Debug, Clone)]
pub struct RequestIds {
    next: u16,
}

impl RequestIds {
    /// Ids starting right after the push request id.
    pub fn new() -> Self {
        RequestIds::starting_at(defaults::PUSH_REQUEST_ID.wrapping_add(1))
    }

    /// Ids starting at `first` (or the next usable one).
    pub fn starting_at(first: u16) -> Self {
        RequestIds { next: first }
    }

    /// The next id that is not the push id and for which `in_use` is false,
    /// or `None` when every id is in use.
    pub fn allocate(&mut self, in_use: impl Fn(u16) -> bool) -> Option<u16> {
        // At most one full turn: past that, every id has been looked at.
        for _ in 0..=u16::MAX {
            let id = self.next;
            self.next = id.wrapping_add(1);
            if id != defaults::PUSH_REQUEST_ID && !in_use(id) {
                return Some(id);
            }
        }
        None
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_wrap_and_skip_the_push_id() {
        let mut ids = RequestIds::new();
        let first: Vec<u16> = (0..3).map(|_| ids.allocate(|_| false).unwrap()).collect();
        assert_eq!(first, [1, 2, 3]);
        let mut ids = RequestIds::starting_at(u16::MAX - 1);
        let around: Vec<u16> = (0..4).map(|_| ids.allocate(|_| false).unwrap()).collect();
        assert_eq!(around, [u16::MAX - 1, u16::MAX, 1, 2]);
    }

    #[test]
    fn seventy_thousand_ids_never_repeat_a_pending_one() {
        let mut ids = RequestIds::new();
        let mut pending = HashSet::new();
        // One request stays pending for the whole run, as a slow one would.
        let slow = ids.allocate(|_| false).unwrap();
        pending.insert(slow);
        for _ in 0..70_000 {
            let id = ids.allocate(|id| pending.contains(&id)).unwrap();
            assert_ne!(id, slow);
            assert_ne!(id, defaults::PUSH_REQUEST_ID);
        }
    }

    #[test]
    fn a_full_table_is_refused() {
        let mut ids = RequestIds::new();
        assert_eq!(ids.allocate(|_| true), None);
        assert_eq!(ids.allocate(|id| id != 40_000), Some(40_000));
    }
}
