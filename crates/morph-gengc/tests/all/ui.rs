//! Misuse of the safe API that must not compile.

#[test]
#[cfg_attr(miri, ignore = "trybuild runs the compiler")]
fn misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
