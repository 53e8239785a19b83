//! The `migration-guard` executable: parses the command line and hands over to `commands`.

fn main() -> std::process::ExitCode {
    migration_guard::commands::main()
}
