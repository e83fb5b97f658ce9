use clap::Parser;

// The request path makes many small, short-lived allocations; glibc malloc
// spent about a sixth of each request in consolidation passes (perf). jemalloc
// serves them from per-thread caches and returns freed memory over time.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[actix_web::main]
async fn main() {
    let cli = variantd::cli::Cli::parse();
    let result = match cli.command {
        None => variantd::server::run(cli.daemon).await.map(|()| 0),
        Some(command) => variantd::commands::run(command, &cli.daemon).await,
    };
    variantd::telemetry::flush();
    match result {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("variantd: error: {e:#}");
            std::process::exit(2);
        }
    }
}
