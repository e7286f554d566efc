use super::*;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn comments_blank_lines_and_models() {
    let text = format!("# the team\n\n   \n{A}   # every model\n{B} mnist-mlp  cnn # two\n");
    let access = Access::parse(&text).unwrap();
    assert_eq!(access.len(), 2);
    assert!(access.admits(A) && access.admits(B));
    assert!(access.may_query(A, "anything"));
    assert!(access.may_query(B, "mnist-mlp") && access.may_query(B, "cnn"));
    assert!(!access.may_query(B, "resnet"));
    assert!(!access.admits(&"c".repeat(64)));
    assert_eq!(access.first_model_named(), Some("cnn"));
}

#[test]
fn fingerprints_match_in_any_case() {
    let access = Access::parse(&B.to_ascii_uppercase()).unwrap();
    assert!(access.admits(B));
    assert!(access.admits(&B.to_ascii_uppercase()));
}

#[test]
fn duplicate_keys_are_merged() {
    let text = format!("{B} a\n{B} b\n");
    let access = Access::parse(&text).unwrap();
    assert_eq!(access.len(), 1);
    assert!(access.may_query(B, "a") && access.may_query(B, "b"));
    assert!(!access.may_query(B, "c"));
    // A line without models gives every model, before or after the others.
    for text in [format!("{B} a\n{B}\n"), format!("{B}\n{B} a\n")] {
        let access = Access::parse(&text).unwrap();
        assert!(access.may_query(B, "c"), "{text}");
    }
}

#[test]
fn malformed_lines_name_their_number() {
    let bad_hex = format!("{A}\n# fine\n{}\n", "g".repeat(64));
    let err = Access::parse(&bad_hex).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.why.contains("not a key fingerprint"), "{err}");
    let short = format!("\n{}\n", &A[..63]);
    let err = Access::parse(&short).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.to_string().starts_with("line 2: "), "{err}");
    assert!(err.why.contains("64 hex digits"), "{err}");
}

#[test]
fn an_empty_list_admits_nobody() {
    let access = Access::parse("# nobody yet\n").unwrap();
    assert!(access.is_empty());
    assert!(!access.admits(A));
    assert_eq!(access.first_model_named(), None);
}

#[test]
fn a_replaced_list_leaves_taken_copies_alone() {
    let list = AllowList::new(Access::parse(A).unwrap());
    let taken = list.current();
    list.replace(Access::parse(B).unwrap());
    assert!(taken.admits(A) && !taken.admits(B));
    assert!(list.current().admits(B) && !list.current().admits(A));
}
