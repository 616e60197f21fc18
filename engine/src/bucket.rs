//! Time buckets and the per-bucket key table.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::key::KeySchema;

/// Start (ms) of the bucket of `size_ms` that holds `time_ms`: floor
/// division, so negative times fall into the bucket before zero.
#[inline]
pub(crate) fn bucket_start(time_ms: i64, size_ms: i64) -> i64 {
    time_ms.div_euclid(size_ms).saturating_mul(size_ms)
}

/// The keys of one bucket and each key's state.
pub(crate) struct Bucket<S> {
    /// Encoded key to index into `states`.
    index: HashMap<Box<[u8]>, usize, RandomState>,
    /// Per-key state, in order of first appearance.
    pub(crate) states: Vec<S>,
}

impl<S> Bucket<S> {
    /// An empty bucket.
    pub(crate) fn new() -> Self {
        Bucket {
            index: HashMap::default(),
            states: Vec::new(),
        }
    }

    /// The index of `key`'s state, adding it with `new()` when the bucket has
    /// fewer than `limit` keys; `None` when the key is new and the bucket full.
    #[inline]
    pub(crate) fn find_or_insert(
        &mut self,
        key: &[u8],
        limit: usize,
        new: impl FnOnce() -> S,
    ) -> Option<usize> {
        if let Some(&i) = self.index.get(key) {
            return Some(i);
        }
        if self.states.len() >= limit {
            return None;
        }
        let i = self.states.len();
        self.states.push(new());
        self.index.insert(key.into(), i);
        Some(i)
    }

    /// The decoded keys and copies of their states, sorted by key.
    pub(crate) fn entries(&self, schema: &KeySchema) -> Vec<(Vec<String>, S)>
    where
        S: Clone,
    {
        let mut entries: Vec<(Vec<String>, S)> = self
            .index
            .iter()
            .map(|(k, &i)| (schema.decode(k), self.states[i].clone()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_division() {
        assert_eq!(bucket_start(0, 60_000), 0);
        assert_eq!(bucket_start(59_999, 60_000), 0);
        assert_eq!(bucket_start(60_000, 60_000), 60_000);
        assert_eq!(bucket_start(-1, 60_000), -60_000);
        assert_eq!(bucket_start(-60_000, 60_000), -60_000);
        assert_eq!(bucket_start(-1_001, 1_000), -2_000);
    }
}
