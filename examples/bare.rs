//! The benchmark's baseline: a bare actix handler that answers every GET
//! with the bytes of one file (a page of books captured from shelf), with
//! no middleware, no authentication and no database.
//!
//! `cargo run --release --example bare -- 127.0.0.1:18182 page.json`

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(bind), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: bare ADDRESS FILE");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&file)?);
    HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move || {
            let body = body.clone();
            async move { HttpResponse::Ok().content_type("application/json").body(body) }
        }))
    })
    .bind(bind)?
    .run()
    .await
}
