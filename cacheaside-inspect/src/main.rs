//! The `cacheaside-inspect` binary; see the library's docs, or run it with `--help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cacheaside-inspect: cannot start the async runtime: {error}");
            return ExitCode::from(cacheaside_inspect::Status::Failed.code());
        }
    };
    // Set but empty means unset, as for the library's own variables.
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let status = runtime.block_on(cacheaside_inspect::run(
        std::env::args().skip(1),
        &env,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ));
    ExitCode::from(status.code())
}
