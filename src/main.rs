//! The `dupcall` command line: parses arguments, runs a command, maps errors to exit codes.
//!
//! Exit codes (docs/architecture.md): 0 done; 1 an input could not be read at all; 2 usage
//! error; 3 `--fail-on` matched. The binary's own modules live in `src/cmd/`; everything
//! they call is the `dupcall` library.

mod cmd;

/// mimalloc: the pipeline allocates many small short-lived buffers (heads, bodies, rows);
/// glibc's allocator spent a third of the run time on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    cmd::main()
}
