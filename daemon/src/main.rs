use clap::Parser;

#[actix_web::main]
async fn main() {
    let cli = variantd::cli::Cli::parse();
    if let Err(e) = variantd::server::run(cli).await {
        eprintln!("variantd: error: {e:#}");
        std::process::exit(2);
    }
}
