//! What a person does on the pages, without script: sign up, verify, set up an
//! authenticator, sign out and in with it, manage sessions, recover a password,
//! delete the account. Each step is checked on the server too.

use authd::authn::Verification;
use serde_json::Value;

use super::{Page, Visitor};
use crate::helpers::{Backend, TestApp, PASSWORD};
use crate::mail::smtp::SmtpServer;
use crate::mfa::code_now;

/// The token of a mail's link to the pages (`/ui/{page}#token=`).
pub fn page_token(mail: &Value, page: &str) -> String {
    let text = mail["text"].as_str().unwrap();
    let mark = format!("/ui/{page}#token=");
    let at = text
        .find(&mark)
        .unwrap_or_else(|| panic!("a link to the pages: {text}"))
        + mark.len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    assert!(
        !text.contains("?token="),
        "the token only in the fragment: {text}"
    );
    token
}

/// The token of the first password-reset mail to `to` (a verification mail may
/// come before or after it).
async fn reset_token(smtp: &SmtpServer, to: &str) -> String {
    for _ in 0..400 {
        let mails = smtp.mails();
        let reset = mails
            .iter()
            .find(|m| m["to"][0] == to && m["subject"] == "Reset your password");
        if let Some(mail) = reset {
            return page_token(mail, "reset-password");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no reset mail to {to}: {:?}", smtp.mails());
}

fn secret_of(page: &Page) -> String {
    let at = page.body.find("id=\"secret\">").expect("the key is shown") + 12;
    page.body[at..at + page.body[at..].find('<').unwrap()].to_string()
}

async fn app_with_mail(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(backend, move |c| {
        c.mail.delivery = authd::mail::Delivery::Smtp { url };
        c.mail.verification = Verification::Required;
    })
    .await
}

async fn signs_up_verifies_enrols_and_signs_in_with_a_code(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = app_with_mail(backend, &smtp).await;
    let mut v = Visitor::new(&app.url(""));
    assert_eq!(v.get("/ui/signup").await.status, 200);
    let fields = [
        ("username", "pat"),
        ("email", "pat@example.com"),
        ("password", PASSWORD),
    ];
    let signed_up = v.post("/ui/signup", &fields).await;
    assert_eq!(signed_up.location(), "/ui/login?notice=check_mail");
    // Not verified yet: the login says so next to the form, and signs nobody in.
    let refused = v
        .post("/ui/login", &[("login", "pat"), ("password", PASSWORD)])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("Verify your email first"),
        "{}",
        refused.body
    );
    assert!(!v.jar.contains_key("__Secure-authd_access"));
    let mail = smtp.wait_for("pat@example.com", 1).await;
    let token = page_token(&mail[0], "verify-email");
    let verified = v.post("/ui/verify-email", &[("token", &token)]).await;
    assert_eq!(verified.location(), "/ui/login?notice=verified");
    let signed_in = v
        .post("/ui/login", &[("login", "pat"), ("password", PASSWORD)])
        .await;
    assert_eq!(signed_in.location(), "/ui/account");
    let account = v.follow(signed_in).await;
    assert!(
        account.body.contains("pat@example.com") && account.body.contains("Your email is verified")
    );

    // An authenticator: the key and QR code, then its first code.
    let enrol = v.post("/ui/account/totp", &[]).await;
    assert_eq!(enrol.status, 200, "{}", enrol.body);
    assert!(
        enrol.body.contains("src=\"data:image"),
        "the QR code inline"
    );
    let secret = secret_of(&enrol);
    let wrong = v
        .post("/ui/account/totp/confirm", &[("code", "12345")])
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong code"), "{}", wrong.body);
    // A field's reason stands next to that field.
    let short = [("current_password", PASSWORD), ("new_password", "short")];
    let weak = v.post("/ui/account/password", &short).await;
    assert_eq!(weak.status, 422);
    assert!(
        weak.body.contains("id=\"password-new-error\""),
        "{}",
        weak.body
    );
    let code = code_now(&app, &secret, 0);
    let codes = v.post("/ui/account/totp/confirm", &[("code", &code)]).await;
    assert_eq!(codes.status, 200);
    assert_eq!(
        codes.body.matches("<li><code>").count(),
        10,
        "{}",
        codes.body
    );

    // Signing out ends the session on the server, not only in the browser.
    let out = v.post("/ui/logout", &[]).await;
    assert_eq!(out.location(), "/ui/login?notice=signed_out");
    assert!(!v.jar.contains_key("__Secure-authd_refresh"));
    let live = "SELECT COUNT(*) FROM refresh_families WHERE revoked_at IS NULL";
    assert_eq!(app.scalar(live).await, 0);

    // In again: the password, then the second step.
    app.clock.advance(chrono::Duration::seconds(90));
    let first = v
        .post(
            "/ui/login",
            &[
                ("login", "PAT"),
                ("password", PASSWORD),
                ("return_to", "/ui/account#x"),
            ],
        )
        .await;
    assert!(
        first.location().starts_with("/ui/login/mfa?return_to="),
        "{}",
        first.location()
    );
    assert!(!v.jar.contains_key("__Secure-authd_access"));
    assert_eq!(v.get("/ui/login/mfa").await.status, 200);
    let wrong = v.post("/ui/login/mfa", &[("code", "00000x")]).await;
    assert!(
        wrong.status == 401 || wrong.status == 422,
        "{}",
        wrong.status
    );
    let code = code_now(&app, &secret, 0);
    let second = v
        .post(
            "/ui/login/mfa",
            &[("code", &code), ("return_to", "/ui/account#x")],
        )
        .await;
    assert_eq!(second.location(), "/ui/account#x");
    assert!(
        !v.jar.contains_key("__Secure-authd_mfa"),
        "the step's cookie goes"
    );
    let account = v.get("/ui/account").await;
    assert_eq!(account.status, 200);
    assert!(
        account.body.contains("id=\"totp-status\">on<"),
        "{}",
        account.body
    );
}

async fn recovers_a_password_and_ends_sessions(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = app_with_mail(backend, &smtp).await;
    let id = app.create_user("quinn").await;
    app.execute(&format!(
        "UPDATE users SET email_verified_at = created_at WHERE id = '{id}'"
    ))
    .await;
    // Two browsers signed in.
    let mut laptop = Visitor::new(&app.url(""));
    let mut phone = Visitor::new(&app.url(""));
    for v in [&mut laptop, &mut phone] {
        v.get("/ui/login").await;
        let p = v
            .post("/ui/login", &[("login", "quinn"), ("password", PASSWORD)])
            .await;
        assert_eq!(p.location(), "/ui/account");
    }
    // The laptop ends the phone's session.
    let account = laptop.get("/ui/account").await;
    assert_eq!(
        account
            .body
            .matches("action=\"/ui/account/sessions/end\"")
            .count(),
        1
    );
    let other = account.input("id").expect("the other session's id");
    let ended = laptop
        .post("/ui/account/sessions/end", &[("id", &other)])
        .await;
    assert_eq!(ended.location(), "/ui/account?notice=session_ended");
    // The phone's access cookie may still be young; once gone, its refresh fails.
    phone.jar.remove("__Secure-authd_access");
    let gone = phone.get("/ui/account").await;
    assert_eq!(gone.location(), "/ui/login?return_to=%2Fui%2Faccount");
    assert!(!phone.jar.contains_key("__Secure-authd_refresh"));

    // Forgot: one answer for a known and an unknown address.
    let mut v = Visitor::new(&app.url(""));
    v.get("/ui/forgot-password").await;
    let known = v
        .post("/ui/forgot-password", &[("email", "quinn@example.com")])
        .await;
    let unknown = v
        .post("/ui/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(known.location(), unknown.location());
    let token = reset_token(&smtp, "quinn@example.com").await;
    let weak = v
        .post(
            "/ui/reset-password",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body.contains("id=\"password-error\""), "{}", weak.body);
    let new = "a new and longer passphrase";
    let reset = v
        .post(
            "/ui/reset-password",
            &[("token", &token), ("password", new)],
        )
        .await;
    assert_eq!(reset.location(), "/ui/login?notice=password_reset");
    // Every session ended with the reset, the laptop's too.
    laptop.jar.remove("__Secure-authd_access");
    assert!(laptop
        .get("/ui/account")
        .await
        .location()
        .starts_with("/ui/login"));
    let back = v
        .post("/ui/login", &[("login", "quinn"), ("password", new)])
        .await;
    assert_eq!(back.location(), "/ui/account");

    // Deleting needs the password; then the account is gone.
    let refused = v
        .post("/ui/account/delete", &[("password", "wrong one")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        app.scalar(&format!("SELECT COUNT(*) FROM users WHERE id = '{id}'"))
            .await,
        1
    );
    let deleted = v.post("/ui/account/delete", &[("password", new)]).await;
    assert_eq!(deleted.location(), "/ui/login?notice=deleted");
    assert_eq!(
        app.scalar(&format!("SELECT COUNT(*) FROM users WHERE id = '{id}'"))
            .await,
        0
    );
}

crate::both_stores!(
    signs_up_verifies_enrols_and_signs_in_with_a_code,
    recovers_a_password_and_ends_sessions
);
