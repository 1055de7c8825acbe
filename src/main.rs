//! The `sol` binary: parses the command line and hands over to the library.

fn main() {
    std::process::exit(sol::cli::main());
}
