use super::*;

#[test]
fn created_once_then_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let first = Identity::load_or_create(dir.path(), "server").unwrap();
    let again = Identity::load_or_create(dir.path(), "server").unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    assert_eq!(first.certificate(), again.certificate());
    assert!(dir.path().join("identity-server.key").exists());
    assert!(dir.path().join("identity-server.crt").exists());
    let other = Identity::load_or_create(dir.path(), "client").unwrap();
    assert_ne!(first.fingerprint(), other.fingerprint());
}

#[cfg(unix)]
#[test]
fn key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    Identity::load_or_create(dir.path(), "dealer").unwrap();
    let meta = std::fs::metadata(dir.path().join("identity-dealer.key")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn fingerprint_is_of_the_certificate_key() {
    let id = Identity::ephemeral("client").unwrap();
    assert_eq!(
        Fingerprint::of_certificate(id.certificate()),
        Some(id.fingerprint())
    );
}

#[test]
fn lost_certificate_is_remade_for_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = Identity::load_or_create(dir.path(), "server").unwrap();
    std::fs::remove_file(dir.path().join("identity-server.crt")).unwrap();
    let again = Identity::load_or_create(dir.path(), "server").unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    std::fs::write(dir.path().join("identity-server.crt"), "garbage").unwrap();
    let third = Identity::load_or_create(dir.path(), "server").unwrap();
    assert_eq!(first.fingerprint(), third.fingerprint());
}

#[test]
fn corrupt_key_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity-server.key"), "not a key").unwrap();
    let err = Identity::load_or_create(dir.path(), "server").unwrap_err();
    assert!(matches!(err, NetError::BadStateFile { .. }), "{err:?}");
    assert!(err.to_string().contains("identity-server.key"), "{err}");
}

#[test]
fn bad_roles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for role in ["", "../x", "Server", "a b", "a/b"] {
        let err = Identity::load_or_create(dir.path(), role).unwrap_err();
        assert!(matches!(err, NetError::InvalidRole(_)), "{role:?}: {err:?}");
    }
}

#[test]
fn debug_shows_no_key() {
    let id = Identity::ephemeral("server").unwrap();
    let shown = format!("{id:?}");
    assert!(shown.contains(&id.fingerprint().to_hex()));
    assert!(!shown.contains("key:"));
}
