//! Compile-time behaviour of `#[cache_aside]`: every supported shape compiles (`tests/ui/pass`),
//! and every misuse fails with the message pinned in `tests/ui/fail/*.stderr` (and, in a build
//! without the codec features, `tests/ui/codec_feature_off/*.stderr`).

#[test]
fn ui() {
    // trybuild builds every passing case into a binary, from a manifest it writes that has none of
    // our `[profile]` settings: with full debug info they took 3.4 GB of disk. Nobody debugs these
    // binaries, so they are built without it (cargo, which trybuild runs, reads this variable).
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "false");
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
    // A codec whose feature is off: only expressible in a build without the features, so a
    // `--all-features` run (the project's test command) skips it; a plain `cargo test --test ui`
    // runs it.
    if cfg!(not(any(
        feature = "bincode",
        feature = "postcard",
        feature = "json"
    ))) {
        cases.compile_fail("tests/ui/codec_feature_off/*.rs");
    }
}
