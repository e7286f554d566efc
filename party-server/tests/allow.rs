//! `veil-server id` and `veil-server --allow FILE`, through the real binary: the key `id`
//! prints is the one clients meet; a client key listed may list the models, one removed
//! from the file is refused as "not allowed" after a real SIGHUP, and let in again after
//! it is put back and the server signalled once more; a malformed line is exit code 2.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;

use veil_net::{Identity, KnownHosts, QuicDialer};
use veil_protocol::session::client;
use veil_protocol::session::SessionError;
use veil_tests::process::{run, Running, WAIT};

fn model() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/mnist-mlp.onnx");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// `veil-server ARGS` with `VEIL_HOME=home`: exit code, stdout, stderr.
fn server(home: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    run(Path::new(env!("CARGO_BIN_EXE_veil-server")), home, args)
}

fn free_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    socket.local_addr().unwrap()
}

/// Lists the server's models as the client of key `identity`, checking the server's key.
fn list(
    rt: &tokio::runtime::Runtime,
    identity: &Arc<Identity>,
    server: SocketAddr,
    server_key: &str,
) -> Result<Vec<String>, SessionError> {
    let pins = Arc::new(KnownHosts::in_memory());
    let name = server.to_string();
    let fp = server_key.parse().expect("a fingerprint");
    let _ = pins.pin(&name, fp).expect("pinning");
    let mut dialer = QuicDialer::new(identity.clone(), pins, rt.handle().clone(), WAIT);
    let _guard = rt.enter();
    let models = client::list(&mut dialer, &name)?;
    dialer.close();
    Ok(models.into_iter().map(|m| m.name).collect())
}

#[test]
fn id_prints_the_key_the_server_presents() {
    let home = tempfile::tempdir().unwrap();
    let (code, first, _) = server(home.path(), &["id"]);
    assert_eq!(code, Some(0));
    let (_, again, _) = server(home.path(), &["id"]);
    assert_eq!(first, again, "the same key twice");
    let key = first.trim();
    assert_eq!(key.len(), 64, "{first:?}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{first:?}");
    assert_eq!(first.lines().count(), 1, "{first:?}");
}

#[test]
fn a_malformed_allow_list_is_exit_2_naming_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("allowed.txt");
    std::fs::write(&file, format!("# ok\n{}\nnot-hex\n", "a".repeat(64))).unwrap();
    let model = model();
    let allow = file.to_str().unwrap();
    let (code, _, err) = server(home.path(), &["--model", &model, "--allow", allow]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("allowed.txt") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn sighup_reloads_the_allow_list() {
    let home = tempfile::tempdir().unwrap();
    let (_, server_key, _) = server(home.path(), &["id"]);
    let client_home = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::load_or_create(client_home.path(), "client").unwrap());
    let key = identity.fingerprint().to_string();
    let other = "b".repeat(64);
    let file = home.path().join("allowed.txt");
    std::fs::write(&file, format!("{key} mnist-mlp\n{other}\n")).unwrap();
    let addr = free_port();
    let (model, listen) = (model(), addr.to_string());
    let allow = file.to_str().unwrap();
    let running = Running::start(
        Path::new(env!("CARGO_BIN_EXE_veil-server")),
        home.path(),
        &["--listen", &listen, "--model", &model, "--allow", allow],
    );
    running.wait_for("listening on", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listed = list(&rt, &identity, addr, server_key.trim()).expect("listed");
    assert_eq!(listed, ["mnist-mlp"]);

    std::fs::write(&file, format!("# {key} removed\n{other}\n")).unwrap();
    running.hang_up();
    running.wait_for("reloaded the allow list", 1);
    let err = list(&rt, &identity, addr, server_key.trim()).unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    assert_eq!(err.exit_code(), 1);
    assert!(!err.to_string().contains("mnist"), "{err}");

    // A file that no longer parses keeps the list the server had.
    std::fs::write(&file, "garbage\n").unwrap();
    running.hang_up();
    running.wait_for("kept the previous allow list (1 keys)", 1);

    std::fs::write(&file, format!("{key}\n{other}\n")).unwrap();
    running.hang_up();
    running.wait_for("reloaded the allow list", 2);
    running.wait_for(": 2 keys", 1);
    let listed = list(&rt, &identity, addr, server_key.trim()).expect("listed again");
    assert_eq!(listed, ["mnist-mlp"]);
}
