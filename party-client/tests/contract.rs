//! `CONTRACT.md` lists exactly the long flags that `veil-client --help` shows, command by
//! command (the check itself: `veil_tests::contract`).

#[test]
fn contract_lists_the_flags_of_help() {
    veil_tests::contract::check("veil-client", env!("CARGO_BIN_EXE_veil-client"));
}
