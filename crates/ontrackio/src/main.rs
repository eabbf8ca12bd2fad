//! The `ontrackio` binary: command-line parsing lives in the library (`cli`), so this
//! file only hands over and turns an error into a one-line reason and exit code 1.

fn main() -> std::process::ExitCode {
    ontrackio::cli::main()
}
