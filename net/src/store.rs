//! Queries made ahead of time (`veil-client precompute`), waiting in the state folder
//! until they are spent.
//!
//! Layout: `<root>/<owner>/<batch>/` holds a `header` and one `<index>.piece` per query.
//! A piece is *taken* before it is used: its file is removed and the removal made
//! durable (the folder synced) before its bytes are handed out. A process killed after
//! taking never sees the piece again; one killed before has used nothing. So no crash,
//! kill or retry spends a piece twice (reused one-time material leaks what it masks).
//! Every file ends with the SHA-256 of its contents: a damaged piece is removed and
//! reported, never used.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use veil_protocol::session::{KeptBatch, KeptStore, SessionError};
use veil_protocol::wire::BatchId;

use crate::state::{ensure_dir, io_err, write_new};
use crate::NetError;

/// Reads a batch folder's name ([`BatchId`]'s hex).
fn parse_id(s: &str) -> Option<BatchId> {
    Some(BatchId(hex::decode(s).ok()?.try_into().ok()?))
}

/// The folder of stored batches, grouped by owner (the peer they were made with).
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// One batch: the queries made in one session, with the header that says for what.
#[derive(Debug)]
pub struct Batch {
    dir: PathBuf,
    id: BatchId,
    header: Vec<u8>,
}

const HEADER: &str = "header";
const PIECE: &str = "piece";
/// Mode of every file: the pieces are secret shares.
const PRIVATE: u32 = 0o600;

impl Store {
    /// The store under `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Where the store lives.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn owner_dir(&self, owner: &str) -> PathBuf {
        // Owners are peer names or fingerprints: keep them to safe file-name characters.
        let safe: String = owner
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
                _ => '_',
            })
            .collect();
        // Never `.` or `..`, nor a hidden name.
        match safe.starts_with('.') || safe.is_empty() {
            true => self.root.join(format!("_{safe}")),
            false => self.root.join(safe),
        }
    }
}

impl KeptStore for Store {
    type Batch = Batch;

    /// Starts a new batch for `owner`, described by `header`.
    fn create(&self, owner: &str, id: BatchId, header: &[u8]) -> Result<Batch, SessionError> {
        let owner = self.owner_dir(owner);
        ensure_dir(&owner)?;
        let dir = owner.join(id.to_string());
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| io_err(&dir, e))?;
        let path = dir.join(HEADER);
        write_new(&path, &sealed(header), PRIVATE)?;
        sync_dir(&dir)?;
        Ok(Batch {
            dir,
            id,
            header: header.to_vec(),
        })
    }

    /// The batch `id` of `owner`, if it exists.
    fn batch(&self, owner: &str, id: BatchId) -> Result<Option<Batch>, SessionError> {
        let dir = self.owner_dir(owner).join(id.to_string());
        let path = dir.join(HEADER);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path, e).into()),
        };
        let header = unsealed(&path, bytes)?;
        Ok(Some(Batch { dir, id, header }))
    }

    /// Every batch of `owner` that still holds a piece, in id order; batches whose every
    /// piece is spent are removed on the way.
    fn batches(&self, owner: &str) -> Result<Vec<Batch>, SessionError> {
        let dir = self.owner_dir(owner);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir, e).into()),
        };
        let mut ids: Vec<BatchId> = entries
            .filter_map(|e| e.ok()?.file_name().to_str().and_then(parse_id))
            .collect();
        ids.sort_by_key(|id| id.0);
        let mut batches = Vec::new();
        for id in ids {
            if let Some(batch) = self.batch(owner, id)? {
                if batch.pieces()?.is_empty() {
                    batch.remove();
                } else {
                    batches.push(batch);
                }
            }
        }
        Ok(batches)
    }
}

impl Batch {
    fn piece_path(&self, index: u32) -> PathBuf {
        self.dir.join(format!("{index}.{PIECE}"))
    }
}

impl KeptBatch for Batch {
    fn id(&self) -> BatchId {
        self.id
    }

    fn header(&self) -> &[u8] {
        &self.header
    }

    fn put(&self, index: u32, bytes: &[u8]) -> Result<bool, SessionError> {
        let stored = write_new(&self.piece_path(index), &sealed(bytes), PRIVATE)?;
        sync_dir(&self.dir)?;
        Ok(stored)
    }

    fn take(&self, index: u32) -> Result<Option<Vec<u8>>, SessionError> {
        let path = self.piece_path(index);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path, e).into()),
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            // Another process took it between the read and the removal: it is theirs.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path, e).into()),
        }
        sync_dir(&self.dir)?;
        Ok(Some(unsealed(&path, bytes)?))
    }

    fn pieces(&self) -> Result<Vec<u32>, SessionError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let mut pieces: Vec<u32> = entries
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                name.to_str()?
                    .strip_suffix(PIECE)?
                    .strip_suffix('.')?
                    .parse()
                    .ok()
            })
            .collect();
        pieces.sort_unstable();
        Ok(pieces)
    }

    /// Best effort: a folder that cannot be removed stays, empty of use.
    fn remove(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `bytes` followed by their SHA-256.
fn sealed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 32);
    out.extend_from_slice(bytes);
    out.extend_from_slice(&Sha256::digest(bytes));
    out
}

/// The contents of a [`sealed`] file, if its checksum holds.
fn unsealed(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>, NetError> {
    let damaged = || {
        io_err(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the file is damaged (its checksum does not match); it was not used",
            ),
        )
    };
    let body = bytes.len().checked_sub(32).ok_or_else(damaged)?;
    if Sha256::digest(&bytes[..body]).as_slice() != &bytes[body..] {
        return Err(damaged());
    }
    bytes.truncate(body);
    Ok(bytes)
}

/// Makes the folder's entries (a new or removed file) durable.
fn sync_dir(dir: &Path) -> Result<(), NetError> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests;
