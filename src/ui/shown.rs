//! What a page shows of an API answer that refused: one message for the form
//! (the problem's kind in the pages' words, and when to retry) and, next to each
//! field, the API's reason for it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use minijinja::value::Value as Ctx;
use serde::{Deserialize, Serialize};

use super::api::Answer;
use super::Ui;

#[derive(Serialize, Default)]
pub struct Shown {
    /// The message above the form.
    pub problem: Option<String>,
    /// Field name -> the reason, shown next to that field.
    pub fields: BTreeMap<String, String>,
}

impl Shown {
    /// What `answer` (a refusal) says, in the pages' words.
    pub fn of(ui: &Ui, answer: &Answer) -> Shown {
        let texts = &ui.config.texts;
        let kind = answer.kind();
        let key = format!("problem_{}", kind.replace('-', "_"));
        let mut problem = match texts.0.get(&key) {
            Some(text) => text.clone(),
            None if kind.is_empty() => texts.get("problem_internal").to_string(),
            None => answer.text("detail"),
        };
        if let Some(secs) = answer.retry_after() {
            problem = format!(
                "{problem} {}",
                texts.get("retry_after").replace("{secs}", &secs)
            );
        }
        Shown {
            problem: Some(problem),
            fields: answer.field_errors().into_iter().collect(),
        }
    }

    /// A message from the texts alone.
    pub fn message(ui: &Ui, key: &str) -> Shown {
        Shown {
            problem: Some(ui.config.texts.get(key).to_string()),
            fields: BTreeMap::new(),
        }
    }

    pub fn ctx(&self) -> Ctx {
        val(self)
    }
}

/// Any serializable value as a template value.
pub fn val<T: Serialize>(value: T) -> Ctx {
    Ctx::from(minijinja::value::Serde(value))
}

/// The status a page answers a refused call with: the API's, so a script or a
/// test sees what happened; 200 would hide it.
pub fn status_of(answer: &Answer) -> StatusCode {
    if answer.status.is_client_error() || answer.status.is_server_error() {
        answer.status
    } else {
        StatusCode::OK
    }
}

/// The query of a page: where to go afterwards, and a notice key to show.
#[derive(Deserialize, Default)]
pub struct Params {
    pub return_to: Option<String>,
    pub notice: Option<String>,
}

impl Params {
    /// The notice's text, when `notice` names one (`notice_*` keys only: a link
    /// cannot put words of its own on the page).
    pub fn notice(&self, ui: &Ui) -> Option<String> {
        let key = format!("notice_{}", self.notice.as_deref()?);
        ui.config.texts.0.get(&key).cloned()
    }
}
