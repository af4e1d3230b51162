//! What the pages are configured with: the product name, theme, logo, the
//! origins `return_to` may name, and the texts (one JSON file: a translation is
//! one file).

use std::collections::BTreeMap;

/// Every text of the pages, by key (src/ui/texts.json).
const BUILT_IN_TEXTS: &str = include_str!("texts.json");

#[derive(Debug, Clone)]
pub struct UiConfig {
    pub product_name: String,
    /// CSS served after the built-in style.
    pub theme: Option<String>,
    /// The logo's content type and bytes.
    pub logo: Option<(&'static str, Vec<u8>)>,
    /// `scheme://host[:port]`, lower-case.
    pub return_origins: Vec<String>,
    pub texts: Texts,
}

/// The pages' texts: the built-in ones, overlaid by AUTHD_UI_TEXTS_FILE.
#[derive(Debug, Clone)]
pub struct Texts(pub BTreeMap<String, String>);

impl Texts {
    pub fn built_in() -> Texts {
        Texts(serde_json::from_str(BUILT_IN_TEXTS).expect("texts.json is a flat object of strings"))
    }

    /// Replaces the texts `json` names; a key the pages do not know is refused
    /// (a typo would otherwise leave the built-in text in silence).
    pub fn overlay(&mut self, json: &str) -> Result<(), String> {
        let given: BTreeMap<String, String> = serde_json::from_str(json)
            .map_err(|e| format!("expected a JSON object of strings: {e}"))?;
        for (key, text) in given {
            match self.0.get_mut(&key) {
                Some(slot) => *slot = text,
                None => return Err(format!("unknown key {key:?}")),
            }
        }
        Ok(())
    }

    /// The text of `key` (the key itself when missing: a unit test holds every
    /// key the templates use).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map(String::as_str).unwrap_or(key)
    }
}

impl UiConfig {
    /// Where a page may send a person after it is done: a path under /ui/ of
    /// this service, or a URL of a configured origin. Anything else (another
    /// host, `//host`, `/\host`, a scheme such as `javascript:`) is refused.
    pub fn allowed_return(&self, target: &str) -> Option<String> {
        let target = target.trim();
        if target.len() > 2048 || target.chars().any(|c| c.is_control() || c == '\\') {
            return None;
        }
        if target.starts_with("/ui/") && !target.starts_with("//") {
            return Some(target.to_string());
        }
        let origin = origin_of(target)?;
        self.return_origins
            .contains(&origin)
            .then(|| target.to_string())
    }
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased; `None` for anything
/// else (a user part, no host, another scheme).
pub fn origin_of(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_ok = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    host_ok.then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str]) -> UiConfig {
        UiConfig {
            product_name: "authd".into(),
            theme: None,
            logo: None,
            return_origins: origins.iter().map(|o| o.to_string()).collect(),
            texts: Texts::built_in(),
        }
    }

    #[test]
    fn return_to_only_under_ui_or_to_a_configured_origin() {
        let c = config(&["https://app.example.com"]);
        assert_eq!(
            c.allowed_return("/ui/account").as_deref(),
            Some("/ui/account")
        );
        assert_eq!(
            c.allowed_return("https://app.example.com/home?x=1")
                .as_deref(),
            Some("https://app.example.com/home?x=1")
        );
        for bad in [
            "https://evil.example.com/",
            "https://app.example.com.evil.com/",
            "https://user@app.example.com/",
            "//evil.example.com/ui/",
            "/\\evil.example.com",
            "/ui/\\x",
            "javascript:alert(1)",
            "/admin/users",
            "http://app.example.com/",
            "/ui/\naccount",
        ] {
            assert_eq!(c.allowed_return(bad), None, "{bad}");
        }
    }

    #[test]
    fn origins_are_lower_case_scheme_host_port() {
        assert_eq!(
            origin_of("HTTPS://App.Example.com:8443/x").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("https://"), None);
    }

    #[test]
    fn a_texts_file_replaces_known_keys_and_refuses_unknown_ones() {
        let mut texts = Texts::built_in();
        texts.overlay(r#"{"login_title": "Anmelden"}"#).unwrap();
        assert_eq!(texts.get("login_title"), "Anmelden");
        assert!(texts.overlay(r#"{"login_titel": "x"}"#).is_err());
        assert!(texts.overlay("[1]").is_err());
    }
}
