//! The `ontrackio` binary: command-line parsing lives in the library (`cli`), so this
//! file only hands over and turns an error into a one-line reason and exit code 1.

/// jemalloc rather than glibc's malloc: a signed-in page spent a third of its instructions
/// in glibc's allocator (fastbin consolidation on every larger allocation), and at 1,000
/// concurrent sign-ins glibc's per-thread arenas held 6-10 MB more at the peak
/// (BENCHMARKS.md). Its settings are in `.cargo/config.toml`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    ontrackio::cli::main()
}
