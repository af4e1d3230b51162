//! The test users: one password for all of them, and names that never collide.

use serde_json::{json, Value};

use super::app::TestApp;

/// The test user's password: `create_user` signs up with it, and tests log in with it.
pub const PASSWORD: &str = "correct horse battery";

/// A sign-up's JSON body for `name`, at `<name>@example.com`, with PASSWORD.
pub fn sign_up_body(name: &str) -> Value {
    json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD })
}

/// A unique suffix so tests never collide in a shared store.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

impl TestApp {
    /// Signs up `username` and returns the new user's id.
    pub async fn create_user(&self, username: &str) -> String {
        let response = self
            .sign_up(username, &format!("{username}@example.com"), PASSWORD)
            .await;
        assert_eq!(response.status().as_u16(), 201, "sign-up of {username}");
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }
}
