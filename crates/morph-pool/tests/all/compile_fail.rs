//! Misuse of the typed API that must not compile.

#[cfg(not(miri))]
#[test]
fn typed_api_misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
