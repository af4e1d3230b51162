//! The mail templates: for each mail a plain-text file (its first line
//! `Subject: ...`, then a blank line, then the body) and an HTML file, with
//! `{{name}}` placeholders. Built in; a directory (`AUTHD_MAIL_TEMPLATES`) may
//! replace any of the files. Checked once at start-up: an unknown placeholder or a
//! text without its subject line stops the start.

use std::collections::HashMap;
use std::path::Path;

/// The templates, by file stem.
const BUILT_IN: &[(&str, &str, &str)] = &[
    (
        "verify",
        include_str!("templates/verify.txt"),
        include_str!("templates/verify.html"),
    ),
    (
        "email_change",
        include_str!("templates/email_change.txt"),
        include_str!("templates/email_change.html"),
    ),
    (
        "email_changed",
        include_str!("templates/email_changed.txt"),
        include_str!("templates/email_changed.html"),
    ),
    (
        "reset",
        include_str!("templates/reset.txt"),
        include_str!("templates/reset.html"),
    ),
];

/// What a template may say.
pub const PLACEHOLDERS: &[&str] = &[
    "username",
    "email",
    "new_email",
    "link",
    "token",
    "expires_in",
];

#[derive(Debug, Clone)]
struct Template {
    subject: String,
    text: String,
    html: String,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone)]
pub struct Templates {
    by_name: HashMap<&'static str, Template>,
}

impl Templates {
    /// The built-in templates, with the files of `dir` (`NAME.txt`, `NAME.html`)
    /// in their place where present.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for &(name, text, html) in BUILT_IN {
            let read = |ext: &str, built_in: &str| -> Result<String, String> {
                let Some(path) = dir.map(|d| d.join(format!("{name}.{ext}"))) else {
                    return Ok(built_in.to_string());
                };
                match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(built_in.to_string()),
                    Err(e) => Err(format!("{}: {e}", path.display())),
                }
            };
            let (text, html) = (read("txt", text)?, read("html", html)?);
            let (subject, text) = split_subject(&text).ok_or_else(|| {
                format!(
                    "mail template {name}.txt must start with a 'Subject: ' line and a blank line"
                )
            })?;
            for part in [subject, text, html.as_str()] {
                check(part).map_err(|e| format!("mail template {name}: {e}"))?;
            }
            let template = Template {
                subject: subject.to_string(),
                text: text.to_string(),
                html,
            };
            by_name.insert(name, template);
        }
        Ok(Self { by_name })
    }

    /// Fills template `name` with `vars` (HTML-escaped in the HTML part).
    pub fn render(&self, name: &str, vars: &[(&str, &str)]) -> Rendered {
        let t = &self.by_name[name];
        Rendered {
            subject: fill(&t.subject, vars, false),
            text: fill(&t.text, vars, false),
            html: fill(&t.html, vars, true),
        }
    }
}

fn split_subject(text: &str) -> Option<(&str, &str)> {
    let (first, rest) = text.split_once('\n')?;
    let subject = first.strip_prefix("Subject: ")?.trim();
    let body = rest
        .strip_prefix('\n')
        .or_else(|| rest.strip_prefix("\r\n"))?;
    (!subject.is_empty()).then_some((subject, body))
}

/// Every `{{...}}` names a placeholder.
fn check(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a '{{' without its '}}'".to_string())?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{{{name}}}}} (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

fn fill(text: &str, vars: &[(&str, &str)], html: bool) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = vars.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v);
        if html {
            escape_into(&mut out, value);
        } else {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_load_and_fill_every_placeholder() {
        let templates = Templates::load(None).unwrap();
        let vars = [
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("new_email", "new@example.com"),
            ("link", "https://app.example.com/verify-email?token=T0K3N"),
            ("token", "T0K3N"),
            ("expires_in", "24 hours"),
        ];
        for (name, _, _) in BUILT_IN {
            let mail = templates.render(name, &vars);
            assert!(!mail.subject.is_empty(), "{name}");
            for part in [&mail.subject, &mail.text, &mail.html] {
                assert!(!part.contains("{{"), "{name}: {part}");
            }
            assert!(mail.text.contains("alice"), "{name}");
        }
        let verify = templates.render("verify", &vars);
        assert_eq!(verify.subject, "Confirm your email address");
        assert!(verify.text.contains("?token=T0K3N"));
        assert!(verify
            .html
            .contains("href=\"https://app.example.com/verify-email?token=T0K3N\""));
    }

    #[test]
    fn html_values_are_escaped_and_text_values_are_not() {
        let templates = Templates::load(None).unwrap();
        let mail = templates.render("verify", &[("username", "<b>&\"x\"</b>")]);
        assert!(mail.html.contains("&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"));
        assert!(mail.text.contains("<b>&\"x\"</b>"));
    }

    #[test]
    fn a_directory_replaces_files_and_bad_templates_stop_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reset.txt"),
            "Subject: New password for {{username}}\n\nGo to {{link}}\n",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let mail = templates.render("reset", &[("username", "bob"), ("link", "L")]);
        assert_eq!(mail.subject, "New password for bob");
        assert_eq!(mail.text, "Go to L\n");
        assert!(
            mail.html.contains("Choose a new password"),
            "the built-in HTML stays"
        );

        std::fs::write(dir.path().join("verify.html"), "<p>{{password}}</p>").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("unknown placeholder {{password}}"), "{err}");
        std::fs::remove_file(dir.path().join("verify.html")).unwrap();
        std::fs::write(dir.path().join("verify.txt"), "Hello\n\nno subject").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("Subject: "), "{err}");
    }
}
