//! Answers kept for the requests that come again: `hswire serve` answers a
//! read it has answered before, while the site's records are unchanged, with
//! the same payload, so the filter is not parsed and evaluated again, the
//! grid not built and encoded again, and the server frames (and compresses)
//! the bytes once per kind of session rather than once per request.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use haystack_wire::connection::Payload;

/// Answers kept at most: a site serves a handful of distinct reads over and
/// over (a page's table, a benchmark's filter); past that, the oldest
/// version's answers make room.
const MAX_ANSWERS: usize = 64;

/// Bytes of answers kept at most, payloads and request keys counted. The
/// whole benchmark site read as one grid is about 1.2 MB; 64 MiB keeps
/// dozens of such answers while bounding what a client asking for many
/// distinct large reads can make the server hold (the frames made of a kept
/// answer are held with it, at most a few times its size).
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The longest request kept as a key: a read's filter is at most 10,240 characters, and a
/// longer request (a long list of ids) is rarely asked twice; hashing it would cost more
/// than it saves.
const MAX_KEY: usize = 64 * 1024;

/// Answers by request payload, each with the site version it was made at.
#[derive(Default)]
pub struct Answers {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_request: HashMap<Vec<u8>, (u64, Payload)>,
    bytes: usize,
}

impl Answers {
    /// The answer kept for `request` if it was made at `version`.
    pub fn get(&self, request: &[u8], version: u64) -> Option<Payload> {
        if request.len() > MAX_KEY {
            return None;
        }
        let kept = self.lock();
        match kept.by_request.get(request) {
            Some((made_at, payload)) if *made_at == version => Some(payload.clone()),
            _ => None,
        }
    }

    /// Keeps `payload` as the answer to `request` made at `version`, unless
    /// it alone is over the bound; answers made at other versions go first
    /// when room is needed, then all of them.
    pub fn keep(&self, request: &[u8], version: u64, payload: &Payload) {
        let size = request.len() + payload.len();
        if size > MAX_BYTES || request.len() > MAX_KEY {
            return;
        }
        let mut kept = self.lock();
        if let Some((_, old)) = kept.by_request.remove(request) {
            kept.bytes -= request.len() + old.len();
        }
        if kept.by_request.len() >= MAX_ANSWERS || kept.bytes + size > MAX_BYTES {
            kept.by_request.retain(|_, (made_at, _)| *made_at == version);
            kept.bytes = kept
                .by_request
                .iter()
                .map(|(key, (_, answer))| key.len() + answer.len())
                .sum();
        }
        if kept.by_request.len() >= MAX_ANSWERS || kept.bytes + size > MAX_BYTES {
            kept.by_request.clear();
            kept.bytes = 0;
        }
        kept.by_request
            .insert(request.to_vec(), (version, payload.clone()));
        kept.bytes += size;
    }

    /// How many answers are kept, and their bytes.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let kept = self.lock();
        (kept.by_request.len(), kept.bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        // Every update is a whole insert, remove or clear, with the count of
        // bytes set after it: a panic elsewhere leaves nothing half done.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_given_again_only_at_the_version_it_was_made_at() {
        let answers = Answers::default();
        let answer = Payload::shared(b"{\"rows\":[]}".to_vec());
        answers.keep(b"read a", 3, &answer);
        let again = answers.get(b"read a", 3).expect("kept");
        assert_eq!(again.bytes(), answer.bytes());
        assert!(answers.get(b"read a", 4).is_none(), "the records changed since");
        assert!(answers.get(b"read b", 3).is_none(), "another request");
    }

    #[test]
    fn keeping_an_answer_again_replaces_it_and_counts_its_bytes_once() {
        let answers = Answers::default();
        answers.keep(b"r", 1, &Payload::shared(vec![0; 100]));
        answers.keep(b"r", 2, &Payload::shared(vec![0; 10]));
        assert_eq!(answers.held(), (1, 11));
        assert_eq!(answers.get(b"r", 2).map(|answer| answer.len()), Some(10));
    }

    #[test]
    fn the_answers_kept_stay_within_their_count_and_bytes_whatever_is_asked() {
        let answers = Answers::default();
        for n in 0..1000u32 {
            answers.keep(
                &n.to_be_bytes(),
                u64::from(n % 3),
                &Payload::shared(vec![0; 3 * 1024 * 1024]),
            );
            let (count, bytes) = answers.held();
            assert!(
                count <= MAX_ANSWERS && bytes <= MAX_BYTES,
                "{count} answers, {bytes} bytes"
            );
        }
        answers.keep(b"too big", 0, &Payload::shared(vec![0; MAX_BYTES]));
        assert!(
            answers.get(b"too big", 0).is_none(),
            "an answer over the bound alone is not kept"
        );
        let long_request = vec![b'x'; MAX_KEY + 1];
        answers.keep(&long_request, 0, &Payload::shared(vec![0; 10]));
        assert!(
            answers.get(&long_request, 0).is_none(),
            "a request over the key bound is not kept"
        );
    }

    #[test]
    fn answers_of_other_versions_make_room_first() {
        let answers = Answers::default();
        for n in 0..MAX_ANSWERS as u32 {
            answers.keep(&n.to_be_bytes(), u64::from(n % 2), &Payload::shared(vec![0; 10]));
        }
        answers.keep(b"new", 1, &Payload::shared(vec![0; 10]));
        assert!(
            answers.get(&1u32.to_be_bytes(), 1).is_some(),
            "same version: kept"
        );
        assert!(
            answers.get(&0u32.to_be_bytes(), 0).is_none(),
            "older version: made room"
        );
        assert!(answers.get(b"new", 1).is_some());
    }
}
