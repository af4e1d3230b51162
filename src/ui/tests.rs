//! Every text a template or handler names exists, and every template renders.

use super::config::Texts;
use super::*;

fn keys_used() -> Vec<String> {
    let mut keys = Vec::new();
    for (_, source) in TEMPLATES {
        let bytes = source.as_bytes();
        let mut at = 0;
        while let Some(found) = source[at..].find("t.") {
            let start = at + found;
            at = start + 2;
            let before = start.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
                continue;
            }
            let key: String = source[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !key.is_empty() {
                keys.push(key);
            }
        }
    }
    keys
}

#[test]
fn every_text_the_templates_use_exists() {
    let texts = Texts::built_in();
    let used = keys_used();
    assert!(used.len() > 100, "the scan found the keys: {}", used.len());
    for key in used {
        assert!(texts.0.contains_key(&key), "texts.json has no {key:?}");
    }
}

#[test]
fn every_problem_kind_and_notice_the_code_names_has_a_text() {
    let texts = Texts::built_in();
    let sources = [
        include_str!("entry.rs"),
        include_str!("second.rs"),
        include_str!("recovery.rs"),
        include_str!("account.rs"),
        include_str!("factors.rs"),
        include_str!("passkey.rs"),
        include_str!("console/users.rs"),
    ];
    let mut checked = 0;
    for source in sources {
        for piece in source.split("notice=").skip(1) {
            let key: String = piece
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if key.is_empty() {
                continue; // a format argument: its values are literals checked here
            }
            assert!(
                texts.0.contains_key(&format!("notice_{key}")),
                "no notice_{key}"
            );
            checked += 1;
        }
    }
    let errors = include_str!("../http/error.rs");
    let kinds: Vec<&str> = errors
        .split("urn:authd:problem:")
        .skip(1)
        .filter_map(|p| p.split('"').next())
        .collect();
    assert!(kinds.len() > 20, "{kinds:?}");
    for kind in kinds {
        let key = format!("problem_{}", kind.replace('-', "_"));
        let optional = [
            "idempotency",
            "invalid-path",
            "invalid-header",
            "unsupported-media",
            "body-timeout",
            "not-ready",
        ];
        if !optional.iter().any(|o| kind.starts_with(o)) {
            assert!(texts.0.contains_key(&key), "no {key}");
        }
    }
    assert!(checked >= 8, "{checked}");
}

/// What the handlers pass, in the shapes of the API's answers.
fn sample() -> minijinja::Value {
    let user = serde_json::json!({
        "id": "0190a0a0-0000-7000-8000-000000000000", "username": "alice",
        "email": "a@example.com", "email_verified": false, "created_at": "2026-01-01T00:00:00Z",
        "locked_at": null, "mfa_enabled": true,
    });
    let session = serde_json::json!({
        "id": "s", "created_at": "2026-01-01T00:00:00Z", "last_used_at": "2026-01-01T00:00:00Z",
        "client_address": "127.0.0.1", "user_agent": "Firefox", "current": false,
    });
    let factor = serde_json::json!({"id": "f", "kind": "totp", "confirmed": true, "created_at": "2026-01-01T00:00:00Z"});
    let mfa = serde_json::json!({"enabled": true, "factors": [factor], "recovery_codes_left": 10});
    super::shown::val(serde_json::json!({
        "user": user, "users": [user], "sessions": [session, session], "mfa": mfa, "factors": mfa,
        "passkey_list": [{"id": "p", "name": "laptop", "created_at": "2026-01-01T00:00:00Z"}],
        "events": [{"type": "authd.user.locked", "created_at": "2026-01-01T00:00:00Z", "event": {"authdactor": "admin:ops"}}],
        "codes": ["aaaa-bbbb"], "next": "/ui/account", "verification": true, "passkeys": true,
        "enrolment": {"secret": "ABC", "uri": "otpauth://x", "qr": "data:image/svg+xml;base64,"},
        "action": "/ui/account/totp/confirm", "admin": "ops",
        "report": {"imported": 1, "skipped": 0, "refused": [{"line": 2, "reason": "x"}]},
    }))
}

#[test]
fn every_template_renders() {
    let env = templates();
    let texts = super::shown::val(&Texts::built_in().0);
    for (name, _) in TEMPLATES {
        if *name == "macros.html" || *name == "base.html" {
            continue;
        }
        let html = env
            .get_template(name)
            .and_then(|t| {
                t.render(minijinja::context! {
                    t => texts.clone(), csrf => "x", assets => "/ui/static",
                    shown => super::shown::Shown::default().ctx(),
                    ..sample()
                })
            })
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(html.contains("<h1>") || html.contains("<h1 "), "{name}");
        assert!(html.contains("lang=\"en\""), "{name}");
    }
}

#[test]
fn values_are_escaped() {
    let env = templates();
    let texts = super::shown::val(&Texts::built_in().0);
    let html = env
        .get_template("login.html")
        .unwrap()
        .render(minijinja::context! { t => texts, login => "<script>x</script>\"", csrf => "x", shown => super::shown::Shown::default().ctx() })
        .unwrap();
    assert!(!html.contains("<script>x"));
    assert!(html.contains("&lt;script&gt;"));
}
