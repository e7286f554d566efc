//! Ctrl-C: the first one asks the bench to stop after the current query and report what
//! it measured; a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The exit code after an interruption (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT: u8 = 130;

/// Watches for Ctrl-C on a background thread; the returned flag goes up on the first one.
/// If the watcher cannot start, the flag simply never goes up (Ctrl-C then kills the
/// process as usual).
pub fn watch_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return stop;
    };
    let spawned = std::thread::Builder::new()
        .name("veil-bench-signal".into())
        .spawn(move || runtime.block_on(wait(flag)));
    if spawned.is_err() {
        tracing::debug!("no Ctrl-C watcher");
    }
    stop
}

async fn wait(stop: Arc<AtomicBool>) {
    while tokio::signal::ctrl_c().await.is_ok() {
        if stop.swap(true, Ordering::SeqCst) {
            eprintln!("veil-bench: interrupted again, exiting");
            std::process::exit(i32::from(INTERRUPTED_EXIT));
        }
    }
}
