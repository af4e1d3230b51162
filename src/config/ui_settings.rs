//! The hosted pages' settings (`Settings::ui`): on or off, the theme, the logo,
//! the product name, where pages may send people back to, the texts.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::ui::config::{origin_of, Texts, UiConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `AUTHD_UI` and `AUTHD_UI_*`.
#[derive(Debug, Clone, Args)]
pub struct UiSettings {
    /// The hosted pages at /ui/ (sign up, log in, verify, reset, account) and the
    /// admin console at /admin/ui/ on the admin listener: on or off.
    #[arg(long, env = "AUTHD_UI", value_enum, default_value_t = Switch::On, global = true)]
    pub ui: Switch,

    /// A CSS file served after the built-in style: override its variables
    /// (--accent, --bg, --fg, --radius, --font ...) or any rule.
    #[arg(long, env = "AUTHD_UI_THEME_FILE", global = true)]
    pub ui_theme_file: Option<PathBuf>,

    /// A logo (SVG or PNG, at most 256 KiB) shown above every page.
    #[arg(long, env = "AUTHD_UI_LOGO_FILE", global = true)]
    pub ui_logo_file: Option<PathBuf>,

    /// The name the pages show.
    #[arg(
        long,
        env = "AUTHD_UI_PRODUCT_NAME",
        default_value = "authd",
        global = true
    )]
    pub ui_product_name: String,

    /// Origins the pages may send a person back to after login (`return_to`),
    /// comma-separated (`https://app.example.com`). Paths under /ui/ always.
    #[arg(
        long,
        env = "AUTHD_UI_RETURN_URLS",
        value_delimiter = ',',
        global = true
    )]
    pub ui_return_urls: Vec<String>,

    /// A JSON file of the pages' texts (the keys of src/ui/texts.json): a
    /// translation, or other words; keys it leaves out keep the built-in text.
    #[arg(long, env = "AUTHD_UI_TEXTS_FILE", global = true)]
    pub ui_texts_file: Option<PathBuf>,
}

/// The largest logo served.
const LOGO_LIMIT: u64 = 256 * 1024;

impl UiSettings {
    /// The pages' configuration, or `None` when they are off.
    pub fn config(&self) -> Result<Option<UiConfig>, String> {
        if self.ui == Switch::Off {
            return Ok(None);
        }
        let theme = match &self.ui_theme_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("AUTHD_UI_THEME_FILE {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let logo = match &self.ui_logo_file {
            Some(path) => Some(logo(path)?),
            None => None,
        };
        let mut return_origins = Vec::new();
        for url in self.ui_return_urls.iter().map(|u| u.trim()) {
            if url.is_empty() {
                continue;
            }
            let origin = origin_of(url).ok_or_else(|| {
                format!("AUTHD_UI_RETURN_URLS {url:?}: expected http(s)://host[:port]")
            })?;
            return_origins.push(origin);
        }
        let mut texts = Texts::built_in();
        if let Some(path) = &self.ui_texts_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("AUTHD_UI_TEXTS_FILE {}: {e}", path.display()))?;
            texts
                .overlay(&text)
                .map_err(|e| format!("AUTHD_UI_TEXTS_FILE {}: {e}", path.display()))?;
        }
        let product_name = self.ui_product_name.trim();
        if product_name.is_empty() || product_name.chars().count() > 64 {
            return Err("AUTHD_UI_PRODUCT_NAME must be 1 to 64 characters".into());
        }
        Ok(Some(UiConfig {
            product_name: product_name.to_string(),
            theme,
            logo,
            return_origins,
            texts,
        }))
    }
}

fn logo(path: &std::path::Path) -> Result<(&'static str, Vec<u8>), String> {
    let what = |e: String| format!("AUTHD_UI_LOGO_FILE {}: {e}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| what(e.to_string()))?
        .len();
    if size > LOGO_LIMIT {
        return Err(what(format!("larger than {LOGO_LIMIT} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|e| what(e.to_string()))?;
    let kind = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).contains("<svg") {
        "image/svg+xml"
    } else {
        return Err(what("not an SVG or PNG file".into()));
    };
    Ok((kind, bytes))
}
