use std::collections::HashSet;
use std::sync::Mutex;

use super::*;
use veil_protocol::prg::Prg;
use veil_protocol::wire::BatchId;

/// A fresh batch id.
fn new_id() -> BatchId {
    BatchId::from_rng(&mut Prg::from_os())
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("precomputed"));
    (dir, store)
}

#[test]
fn a_piece_is_handed_out_once() {
    let (_dir, store) = store();
    let id = new_id();
    let batch = store
        .create("127.0.0.1:7401", id, b"for mnist-mlp")
        .unwrap();
    for i in 0..3 {
        assert!(batch.put(i, format!("piece {i}").as_bytes()).unwrap());
    }
    assert!(!batch.put(1, b"again").unwrap(), "an index is stored once");
    assert_eq!(batch.pieces().unwrap(), [0, 1, 2]);

    // A second handle on the same folder (another process) sees what the first took.
    let other = store.batch("127.0.0.1:7401", id).unwrap().unwrap();
    assert_eq!(other.header(), b"for mnist-mlp");
    assert_eq!(batch.take(1).unwrap().unwrap(), b"piece 1");
    assert_eq!(other.take(1).unwrap(), None);
    assert_eq!(
        other.take_first().unwrap().unwrap(),
        (0, b"piece 0".to_vec())
    );
    assert_eq!(
        batch.take_first().unwrap().unwrap(),
        (2, b"piece 2".to_vec())
    );
    assert_eq!(batch.take_first().unwrap(), None);
    assert_eq!(
        store.batch("someone else", id).unwrap().map(|b| b.id()),
        None
    );
    // A spent batch is cleared away when the owner's batches are listed.
    assert!(store.batches("127.0.0.1:7401").unwrap().is_empty());
    assert!(store.batch("127.0.0.1:7401", id).unwrap().is_none());
}

#[test]
fn racing_takers_never_share_a_piece() {
    let (_dir, store) = store();
    let batch = store.create("peer", new_id(), b"").unwrap();
    for i in 0..40 {
        batch.put(i, &i.to_le_bytes()).unwrap();
    }
    let taken = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mine = store.batch("peer", batch.id()).unwrap().unwrap();
                while let Some((i, bytes)) = mine.take_first().unwrap() {
                    assert_eq!(bytes, i.to_le_bytes());
                    taken.lock().unwrap().push(i);
                }
            });
        }
    });
    let taken = taken.into_inner().unwrap();
    let distinct: HashSet<u32> = taken.iter().copied().collect();
    assert_eq!(taken.len(), 40, "every piece once: {taken:?}");
    assert_eq!(distinct.len(), 40);
}

#[test]
fn a_damaged_piece_is_refused_and_gone() {
    let (_dir, store) = store();
    let batch = store.create("peer", new_id(), b"h").unwrap();
    batch.put(0, b"secret shares").unwrap();
    batch.put(1, b"more shares").unwrap();
    let path = batch.piece_path(0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[3] ^= 1;
    fs::write(&path, bytes).unwrap();
    let err = batch.take(0).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
    assert_eq!(batch.pieces().unwrap(), [1]);
    // A header cut short is damage too.
    let header = batch.dir.join(HEADER);
    fs::write(&header, b"short").unwrap();
    assert!(store.batch("peer", batch.id()).is_err());
}

#[test]
fn owners_stay_inside_the_store() {
    let (dir, store) = store();
    for owner in ["../../etc", "..", ".", ""] {
        let batch = store.create(owner, new_id(), b"").unwrap();
        let inside = dir.path().join("precomputed");
        assert_eq!(
            batch.dir.parent().unwrap().parent().unwrap(),
            inside,
            "{owner:?}"
        );
    }
    assert!(
        store.batches("../../etc").unwrap().is_empty(),
        "no pieces yet"
    );
}
