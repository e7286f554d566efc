use super::*;

fn fp(tag: u8) -> Fingerprint {
    Fingerprint::from([tag; 32])
}

#[test]
fn first_use_pins_then_knows() {
    let dir = tempfile::tempdir().unwrap();
    let pins = KnownHosts::open(&dir.path().join("sub")).unwrap();
    assert_eq!(pins.lookup("a:1").unwrap(), None);
    assert_eq!(pins.pin("a:1", fp(1)).unwrap(), PinStatus::NewlyPinned);
    assert_eq!(pins.pin("a:1", fp(1)).unwrap(), PinStatus::Known);
    let reopened = KnownHosts::open(&dir.path().join("sub")).unwrap();
    let pin = reopened.lookup("a:1").unwrap().unwrap();
    assert_eq!(
        pin,
        Pin {
            fingerprint: fp(1),
            line: 1
        }
    );
}

#[test]
fn changed_key_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(KNOWN_HOSTS);
    std::fs::write(&file, "# pins\n\nb:2 ".to_string() + &fp(9).to_hex()).unwrap();
    let pins = KnownHosts::open(dir.path()).unwrap();
    assert_eq!(pins.pin("a:1", fp(1)).unwrap(), PinStatus::NewlyPinned);
    let err = pins.pin("b:2", fp(2)).unwrap_err();
    match &err {
        NetError::KeyChanged {
            name,
            file: f,
            line,
        } => {
            assert_eq!((name.as_str(), f, *line), ("b:2", &file, 3));
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("line 3"), "{message}");
    // The appended line went after a newline, so the file still parses.
    assert_eq!(pins.lookup("a:1").unwrap().unwrap().line, 4);
}

#[test]
fn malformed_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["justaname\n", "a:1 nothex\n", "a b c\n"] {
        std::fs::write(dir.path().join(KNOWN_HOSTS), text).unwrap();
        let err = KnownHosts::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, NetError::BadStateFile { line: Some(1), .. }),
            "{text:?}: {err:?}"
        );
    }
}

#[test]
fn in_memory_pins_write_nothing() {
    let pins = KnownHosts::in_memory();
    assert_eq!(pins.pin("x", fp(3)).unwrap(), PinStatus::NewlyPinned);
    assert_eq!(pins.pin("x", fp(3)).unwrap(), PinStatus::Known);
    assert!(matches!(
        pins.pin("x", fp(4)),
        Err(NetError::KeyChanged { line: 1, .. })
    ));
    assert!(pins.file().is_none());
}

#[test]
fn bad_names_are_refused() {
    let pins = KnownHosts::in_memory();
    for name in ["", "a b", "#x", "a\nb"] {
        assert!(matches!(
            pins.pin(name, fp(1)),
            Err(NetError::InvalidName(_))
        ));
    }
}
