//! What a hostile site or a stolen link can do with the pages: nothing. Every
//! answer forbids framing, sniffing and caching and carries a strict CSP; a form
//! without its CSRF field, or sent from another site, changes nothing; the
//! tokens never reach script or another path; `return_to` goes nowhere else.

use super::Visitor;
use crate::helpers::{Backend, TestApp, PASSWORD};

const PAGES: &[&str] = &[
    "/ui/login",
    "/ui/signup",
    "/ui/forgot-password",
    "/ui/reset-password",
    "/ui/verify-email",
    "/ui/static/style.css",
    "/ui/static/ui.js",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_browser_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut v = Visitor::new(&app.url(""));
    for path in PAGES {
        let page = v.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let h = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let csp = h("content-security-policy");
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
    }
    let login = v.get("/ui/login").await;
    assert_eq!(login.headers["cache-control"], "no-store");
    // No inline script or style anywhere: the CSP would block it.
    assert!(
        !login.body.contains("<script>") && !login.body.contains("style="),
        "{}",
        login.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_cross_site_forms_change_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut v = Visitor::new(&app.url(""));
    v.get("/ui/signup").await;
    let fields = [
        ("username", "mallory"),
        ("email", "m@example.com"),
        ("password", PASSWORD),
    ];
    // No CSRF field; another's value; the right one but sent from another site.
    let none = v.post_raw("/ui/signup", &fields, &[]).await;
    let mut wrong_fields = fields.to_vec();
    wrong_fields.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let wrong = v.post_raw("/ui/signup", &wrong_fields, &[]).await;
    let csrf = v.jar["__Host-authd_csrf"].clone();
    let mut right = fields.to_vec();
    right.push(("csrf", &csrf));
    let cross = v
        .post_raw("/ui/signup", &right, &[("sec-fetch-site", "cross-site")])
        .await;
    let sibling = v
        .post_raw("/ui/signup", &right, &[("sec-fetch-site", "same-site")])
        .await;
    // A fresh visitor with no cookie at all (a form on another site).
    let mut stranger = Visitor::new(&app.url(""));
    let bare = stranger.post_raw("/ui/signup", &right, &[]).await;
    for page in [&none, &wrong, &cross, &sibling, &bare] {
        assert_eq!(page.status, 403, "{}", page.body);
    }
    assert_eq!(app.users().await, 0, "nothing was created");
    // The same form from the page itself works.
    let ok = v
        .post_raw("/ui/signup", &right, &[("sec-fetch-site", "same-origin")])
        .await;
    assert_eq!(ok.status, 303);
    assert_eq!(app.users().await, 1);

    // The pages' script calls need the token in a header.
    let options = v.post_raw("/ui/login/passkey/options", &[], &[]).await;
    assert_eq!(options.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_live_in_http_only_cookies_of_the_pages_path() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("cookie").await;
    let mut v = Visitor::new(&app.url(""));
    v.get("/ui/login").await;
    let signed_in = v
        .post("/ui/login", &[("login", "cookie"), ("password", PASSWORD)])
        .await;
    assert_eq!(signed_in.status, 303);
    for name in ["__Secure-authd_access", "__Secure-authd_refresh"] {
        let line = v
            .set_cookies
            .iter()
            .rev()
            .find(|l| l.starts_with(name))
            .expect(name);
        for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/ui;"] {
            assert!(line.contains(flag), "{line}");
        }
    }
    let csrf = v
        .set_cookies
        .iter()
        .find(|l| l.starts_with("__Host-authd_csrf"))
        .unwrap();
    assert!(
        csrf.contains("SameSite=Strict") && csrf.contains("Path=/;") && !csrf.contains("Domain")
    );
    // No token in a page or a URL.
    let refresh = v.jar["__Secure-authd_refresh"].clone();
    let access = v.jar["__Secure-authd_access"].clone();
    let account = v.get("/ui/account").await;
    assert!(!account.body.contains(&refresh) && !account.body.contains(&access));
    assert!(!signed_in.location().contains(&access));

    // An expired access cookie: the refresh cookie rotates, the old one is spent.
    v.jar.remove("__Secure-authd_access");
    assert_eq!(v.get("/ui/account").await.status, 200);
    assert_ne!(v.jar["__Secure-authd_refresh"], refresh, "rotated");
    let spent = app.refresh(&refresh).await;
    assert_eq!(spent.status(), 401, "the old refresh token is spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_to_goes_only_under_ui_or_to_a_configured_origin() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.ui.as_mut().unwrap().return_origins = vec!["https://app.example.com".into()];
    })
    .await;
    app.create_user("traveller").await;
    let cases = [
        ("https://evil.example.com/steal", "/ui/account"),
        ("//evil.example.com/ui/", "/ui/account"),
        ("/\\evil.example.com", "/ui/account"),
        ("javascript:alert(1)", "/ui/account"),
        (
            "https://app.example.com/home",
            "https://app.example.com/home",
        ),
        ("/ui/account?x=1", "/ui/account?x=1"),
    ];
    for (asked, expected) in cases {
        let mut v = Visitor::new(&app.url(""));
        v.get("/ui/login").await;
        let fields = [
            ("login", "traveller"),
            ("password", PASSWORD),
            ("return_to", asked),
        ];
        let page = v.post("/ui/login", &fields).await;
        assert_eq!(page.location(), expected, "{asked}");
    }
    let page = Visitor::new(&app.url("")).get("/ui/login").await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://app.example.com;"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_throttle_and_one_answer_for_unknown_and_wrong() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("target").await;
    let mut v = Visitor::new(&app.url(""));
    v.get("/ui/login").await;
    let unknown = v
        .post(
            "/ui/login",
            &[("login", "nobody"), ("password", "wrong password")],
        )
        .await;
    let wrong = v
        .post(
            "/ui/login",
            &[("login", "target"), ("password", "wrong password")],
        )
        .await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    let text = |b: &str| b.replace("nobody", "X").replace("target", "X");
    assert_eq!(
        text(&unknown.body),
        text(&wrong.body),
        "one answer for both"
    );
    // The API's throttle holds through the pages.
    let mut last = 0;
    for _ in 0..12 {
        last = v
            .post(
                "/ui/login",
                &[("login", "target"), ("password", "wrong again")],
            )
            .await
            .status;
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_means_no_pages_and_mail_links_to_the_public_url() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.ui = None).await;
    let mut v = Visitor::new(&app.url(""));
    assert_eq!(v.get("/ui/login").await.status, 404);
    assert_eq!(v.get("/ui/").await.status, 404);
    // On by default, with the mail links into the pages, the token in the fragment.
    let config = authd::config::Config::defaults(authd::config::StoreConfig::Sqlite {
        path: "/tmp/x.db".into(),
    });
    assert!(config.ui.is_some());
    assert!(config.mail.app_url.ends_with("/ui") && config.mail.token_in_fragment);
}
