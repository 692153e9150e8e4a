//! The `roster` binary.

// jemalloc returns what a large request freed to the system soon after (see .cargo/config.toml
// for its settings); it also serves SQLite's allocations, so one allocator holds everything.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    roster_server::cli::main()
}
