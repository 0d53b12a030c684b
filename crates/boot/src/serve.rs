//! The HTTP side of the boot directory, mounted on the provisioning
//! listener: `/boot/…` serves scripts, kernels, ramdisks and ISOs (with
//! Range support, which firmware HTTP clients and iPXE use for large
//! files). Nothing else is served here.

use std::path::Path;

use axum::Router;
use tower_http::services::ServeDir;

/// The router serving `boot_dir` under `/boot`.
pub fn router(boot_dir: &Path) -> Router {
    Router::new().nest_service("/boot", ServeDir::new(boot_dir))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn serves_files_and_ranges_under_boot_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("boot.ipxe"), "#!ipxe\nexit\n").unwrap();
        let app = router(dir.path());
        let get = |uri: &str, range: Option<&str>| {
            let mut req = Request::get(uri);
            if let Some(r) = range {
                req = req.header(header::RANGE, r);
            }
            app.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let ok = get("/boot/boot.ipxe", None).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        let part = get("/boot/boot.ipxe", Some("bytes=0-5")).await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        let body = axum::body::to_bytes(part.into_body(), 100).await.unwrap();
        assert_eq!(&body[..], b"#!ipxe");
        for missing in ["/boot.ipxe", "/boot/missing", "/boot/../Cargo.toml"] {
            let r = get(missing, None).await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
        }
    }
}
