//! The page-read baseline of `bench/run`: a minimal axum server answering every GET with the
//! same body, read once from a file into memory, as `application/json`. What Roster does on
//! top of this (authentication, SQL, serialising) is what the benchmark's ratio measures.
//!
//! Usage: static-body FILE ADDR

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(addr)) = (args.next(), args.next()) else {
        return Err("usage: static-body FILE ADDR".into());
    };
    let body = Bytes::from(std::fs::read(&file)?);
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body).into_response() }
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
