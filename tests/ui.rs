//! Compile-time behaviour of `#[cache_aside]`: every supported shape compiles (`tests/ui/pass`),
//! and every misuse fails with the message pinned in `tests/ui/fail/*.stderr`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
