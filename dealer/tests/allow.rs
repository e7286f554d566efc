//! `veil-dealer id` and `veil-dealer --allow FILE`, through the real binary: one stable
//! fingerprint; a list naming a model, or with a malformed line, is exit code 2; a server
//! or client key not listed is refused "not allowed", and a real SIGHUP reloads the list.

use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;

use veil_net::{Identity, KnownHosts};
use veil_tests::process::{run, Running, WAIT};
use veil_tests::{model_path, Harness, Session};

/// `veil-dealer ARGS` with `VEIL_HOME=home`: exit code, stdout, stderr.
fn dealer(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    run(Path::new(env!("CARGO_BIN_EXE_veil-dealer")), home, args)
}

#[test]
fn id_prints_one_stable_fingerprint() {
    let home = tempfile::tempdir().unwrap();
    let (code, first, err) = dealer(home.path(), &["id"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, again, _) = dealer(home.path(), &["id"]);
    assert_eq!(first, again);
    let key = first.trim_end_matches('\n');
    assert_eq!(key.len(), 64, "{first:?}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{first:?}");
    assert!(home.path().join("identity-dealer.key").exists());
}

#[test]
fn an_allow_list_with_models_or_a_bad_line_is_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("allowed.txt");
    let allow = file.to_str().unwrap();
    let key = "c".repeat(64);
    std::fs::write(&file, format!("{key} mnist-mlp\n")).unwrap();
    let (code, _, err) = dealer(home.path(), &["--listen", "127.0.0.1:0", "--allow", allow]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("allowed.txt") && err.contains("mnist-mlp"),
        "{err}"
    );
    std::fs::write(&file, format!("{key}\n\n{}\n", &key[..10])).unwrap();
    let (code, _, err) = dealer(home.path(), &["--listen", "127.0.0.1:0", "--allow", allow]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("line 3") && err.contains("64 hex digits"),
        "{err}"
    );
}

#[test]
fn a_real_dealer_lets_in_the_keys_listed_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let server_home = dir.path().join("server");
    let server = Identity::load_or_create(&server_home, "server").unwrap();
    let client = Arc::new(Identity::load_or_create(&dir.path().join("client"), "client").unwrap());
    let (server_key, client_key) = (server.fingerprint(), client.fingerprint());
    let file = dir.path().join("allowed.txt");
    std::fs::write(&file, format!("{client_key}\n")).unwrap();
    let addr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (listen, allow) = (addr.to_string(), file.to_str().unwrap());
    let running = Running::start(
        Path::new(env!("CARGO_BIN_EXE_veil-dealer")),
        dir.path(),
        &["--listen", &listen, "--allow", allow],
    );
    running.wait_for("listening on", 1);
    let h = Harness::builder()
        .model(None, &model_path("mnist-mlp.onnx"))
        .external_dealer(addr)
        .server_home(&server_home, "127.0.0.1:0".parse().unwrap())
        .start();
    let open = |h: &Harness| {
        let pins = Arc::new(KnownHosts::in_memory());
        Session::open(&h.options(), &client, &pins, h.handle(), WAIT)
    };
    // The server is not listed: it cannot open a session at the dealer.
    let err = open(&h).err().expect("the server refused by its dealer");
    assert!(err.to_string().contains("not allowed"), "{err}");

    std::fs::write(&file, format!("{server_key}\n{client_key}\n")).unwrap();
    running.hang_up();
    running.wait_for("reloaded the allow list", 1);
    running.wait_for(": 2 keys", 1);
    open(&h).expect("both keys listed").close();

    // The client is no longer listed: the server opens, the client cannot join.
    std::fs::write(&file, format!("{server_key}\n")).unwrap();
    running.hang_up();
    running.wait_for("reloaded the allow list", 2);
    let err = open(&h).err().expect("the client refused by the dealer");
    assert!(err.to_string().contains("not allowed"), "{err}");
    h.shutdown();
}
