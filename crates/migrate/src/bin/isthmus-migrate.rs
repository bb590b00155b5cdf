//! The replicator as a process (see `isthmus_migrate::cli`).

#[tokio::main]
async fn main() {
    isthmus_migrate::cli::main_from(std::env::args_os()).await
}
