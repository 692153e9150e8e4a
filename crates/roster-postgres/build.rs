//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the directory at compile
//! time, and Cargo does not watch it otherwise.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
