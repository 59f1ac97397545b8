//! Compile-fail tests: misuse that the borrow checker must reject.

#[test]
#[cfg_attr(miri, ignore = "trybuild runs the compiler")]
fn misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
