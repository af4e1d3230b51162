//! The OpenAPI document is valid, and lists exactly the routes the router answers
//! and the README documents.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::helpers::{assert_valid_openapi, Backend, TestApp};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `(METHOD, path)` of every row of the README's endpoint table.
fn readme_endpoints() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(PathBuf::from(ROOT).join("README.md")).unwrap();
    let table = readme
        .split("## Endpoints")
        .nth(1)
        .expect("README has ## Endpoints");
    table
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let cell = l.trim_start_matches("| `");
            let (method, rest) = cell.split_once(' ').unwrap();
            let path = rest.split('`').next().unwrap();
            (method.to_string(), path.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_lists_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    assert_valid_openapi(&doc);

    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            // Every error an operation documents is problem+json, but the 431 that
            // hyper answers before routing, with no body.
            assert!(op["responses"]["431"].is_object(), "{method} {path} 431");
            for (status, r) in op["responses"].as_object().unwrap() {
                if (status.starts_with('4') || status.starts_with('5')) && status != "431" {
                    assert!(
                        r["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // The router answers every documented operation (not the 404/405 fallbacks).
    for (method, path) in &documented {
        let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&concrete))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            status != 405 && !(status == 404 && body.contains("no such resource")),
            "{method} {path}: {status} {body}"
        );
    }
    // The README documents exactly these routes, and no route escapes the document:
    // every handler module registers its routes through `routes!`.
    assert_eq!(
        readme_endpoints(),
        documented,
        "README endpoint table vs /openapi.json"
    );
    for entry in std::fs::read_dir(PathBuf::from(ROOT).join("src/http/routes")).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        assert!(
            !source.contains(".route("),
            "{} registers a route outside routes!",
            path.display()
        );
    }
}
