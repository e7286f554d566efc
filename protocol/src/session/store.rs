//! Where queries made ahead of time wait until they are spent: batches of pieces, grouped
//! by owner (the peer they were made with), each batch with a header that says what it
//! was made for.
//!
//! The rule every store keeps: a piece is *taken* (gone for good) before its bytes are
//! handed out, so no crash, kill or retry can spend it twice (reused one-time material
//! leaks what it masks). The binaries keep batches in the state folder
//! (`veil_net::Store`); [`MemStore`] keeps them in memory, for tests of the precompute
//! rules.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::SessionError;
use crate::wire::BatchId;

/// A store of batches.
pub trait KeptStore {
    /// One batch of this store.
    type Batch: KeptBatch;
    /// Starts a new batch for `owner`, described by `header`.
    fn create(&self, owner: &str, id: BatchId, header: &[u8]) -> Result<Self::Batch, SessionError>;
    /// The batch `id` of `owner`, if it exists.
    fn batch(&self, owner: &str, id: BatchId) -> Result<Option<Self::Batch>, SessionError>;
    /// Every batch of `owner` that still holds a piece, in id order.
    fn batches(&self, owner: &str) -> Result<Vec<Self::Batch>, SessionError>;
}

/// One batch: the pieces made in one session.
pub trait KeptBatch {
    /// The batch's id.
    fn id(&self) -> BatchId;
    /// What the batch was made for, as its creator wrote it.
    fn header(&self) -> &[u8];
    /// Stores piece `index`, durably; `Ok(false)` if that index is already there.
    fn put(&self, index: u32, bytes: &[u8]) -> Result<bool, SessionError>;
    /// Takes piece `index`: removes it for good, then returns its bytes (`None` if it is
    /// not there: never made, or already taken).
    fn take(&self, index: u32) -> Result<Option<Vec<u8>>, SessionError>;
    /// The indices of the pieces not yet taken, in order.
    fn pieces(&self) -> Result<Vec<u32>, SessionError>;
    /// Removes the batch with whatever pieces it still holds.
    fn remove(self);

    /// Takes the piece with the lowest index, if any is left.
    fn take_first(&self) -> Result<Option<(u32, Vec<u8>)>, SessionError> {
        for index in self.pieces()? {
            if let Some(bytes) = self.take(index)? {
                return Ok(Some((index, bytes)));
            }
        }
        Ok(None)
    }
}

/// One batch's header and pieces.
struct Stored {
    header: Vec<u8>,
    pieces: BTreeMap<u32, Vec<u8>>,
}

/// A batch's key: its owner and its id.
type Key = (String, [u8; 16]);

/// A store in memory, shared by its clones.
#[derive(Clone, Default)]
pub struct MemStore {
    batches: Arc<Mutex<BTreeMap<Key, Stored>>>,
}

/// A batch of a [`MemStore`].
pub struct MemBatch {
    store: MemStore,
    key: Key,
    header: Vec<u8>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, Stored>> {
        self.batches.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, key: Key, header: Vec<u8>) -> MemBatch {
        MemBatch {
            store: self.clone(),
            key,
            header,
        }
    }
}

impl KeptStore for MemStore {
    type Batch = MemBatch;

    fn create(&self, owner: &str, id: BatchId, header: &[u8]) -> Result<MemBatch, SessionError> {
        let key = (owner.to_string(), id.0);
        let stored = Stored {
            header: header.to_vec(),
            pieces: BTreeMap::new(),
        };
        if self.lock().insert(key.clone(), stored).is_some() {
            return Err(SessionError::Internal("a batch id was drawn twice"));
        }
        Ok(self.handle(key, header.to_vec()))
    }

    fn batch(&self, owner: &str, id: BatchId) -> Result<Option<MemBatch>, SessionError> {
        let key = (owner.to_string(), id.0);
        let header = self.lock().get(&key).map(|b| b.header.clone());
        Ok(header.map(|h| self.handle(key, h)))
    }

    fn batches(&self, owner: &str) -> Result<Vec<MemBatch>, SessionError> {
        let mut table = self.lock();
        table.retain(|(o, _), b| o != owner || !b.pieces.is_empty());
        let found = table
            .iter()
            .filter(|((o, _), _)| o == owner)
            .map(|(key, b)| (key.clone(), b.header.clone()))
            .collect::<Vec<_>>();
        drop(table);
        Ok(found.into_iter().map(|(k, h)| self.handle(k, h)).collect())
    }
}

impl KeptBatch for MemBatch {
    fn id(&self) -> BatchId {
        BatchId(self.key.1)
    }

    fn header(&self) -> &[u8] {
        &self.header
    }

    fn put(&self, index: u32, bytes: &[u8]) -> Result<bool, SessionError> {
        let mut table = self.store.lock();
        let Some(batch) = table.get_mut(&self.key) else {
            return Err(SessionError::local("the batch was removed"));
        };
        if batch.pieces.contains_key(&index) {
            return Ok(false);
        }
        batch.pieces.insert(index, bytes.to_vec());
        Ok(true)
    }

    fn take(&self, index: u32) -> Result<Option<Vec<u8>>, SessionError> {
        let mut table = self.store.lock();
        Ok(table
            .get_mut(&self.key)
            .and_then(|b| b.pieces.remove(&index)))
    }

    fn pieces(&self) -> Result<Vec<u32>, SessionError> {
        let table = self.store.lock();
        Ok(table
            .get(&self.key)
            .map(|b| b.pieces.keys().copied().collect())
            .unwrap_or_default())
    }

    fn remove(self) {
        self.store.lock().remove(&self.key);
    }
}
