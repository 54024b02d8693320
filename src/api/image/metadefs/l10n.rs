//! Error messages in the caller's language. `Accept-Language` picks one of the catalogues in
//! `locales/` (English, Simplified Chinese, Greek; Fluent format, compiled into the binary),
//! unknown languages get English, and a message a catalogue lacks falls back to English too.
//!
//! Handlers return [`Failure`]; a catalog refusal ([`MdError`]) travels in the response's
//! extensions to [`localize`], which wraps every metadefs handler, knows the request's
//! language and turns it into the Image API's usual [`ApiError`].

use std::borrow::Cow;
use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{Loader, static_loader};
use unic_langid::{LanguageIdentifier, langid};

use crate::domain::metadefs::{MdError, MdErrorKind};
use crate::http::fault::{ApiError, Fault};
use crate::store::StoreError;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: clients print messages as they are.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

const ENGLISH: LanguageIdentifier = langid!("en");

/// The best catalogue for an `Accept-Language` value (q-values honoured; `zh` and `zh-TW`
/// find `zh-CN`, `el-GR` finds `el`); English when none fits.
pub fn negotiate(accept_language: Option<&str>) -> LanguageIdentifier {
    let requested = fluent_langneg::accepted_languages::parse(accept_language.unwrap_or(""));
    let available: Vec<LanguageIdentifier> = LOCALES.locales().cloned().collect();
    fluent_langneg::negotiate_languages(
        &requested,
        &available,
        Some(&ENGLISH),
        fluent_langneg::NegotiationStrategy::Lookup,
    )
    .first()
    .map(|l| (*l).clone())
    .unwrap_or(ENGLISH)
}

/// The text of a message in `lang`.
pub fn message(lang: &LanguageIdentifier, e: &MdError) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue> = e
        .args
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
        .collect();
    LOCALES
        .try_lookup_with_args(lang, e.id, &args)
        .or_else(|| LOCALES.try_lookup_with_args(&ENGLISH, e.id, &args))
        // Every id is in the English catalogue (`every_message_id_is_in_every_catalogue`);
        // this only keeps a missing one from hiding the refusal.
        .unwrap_or_else(|| format!("{} {:?}", e.id, e.args))
}

pub fn api_error(lang: &LanguageIdentifier, e: &MdError) -> ApiError {
    let fault = match e.kind {
        MdErrorKind::BadRequest => Fault::BadRequest,
        MdErrorKind::Forbidden => Fault::Forbidden,
        MdErrorKind::NotFound => Fault::ItemNotFound,
        MdErrorKind::Conflict => Fault::Conflict,
        MdErrorKind::UnsupportedMediaType => Fault::BadMediaType,
    };
    ApiError::new(fault, message(lang, e))
}

/// What a metadefs handler fails with: a catalog refusal (localized) or any other API error
/// (authentication, store trouble — in English).
#[derive(Debug)]
pub enum Failure {
    Md(MdError),
    Api(ApiError),
}

pub type MdResult<T> = Result<T, Failure>;

impl From<MdError> for Failure {
    fn from(e: MdError) -> Failure {
        Failure::Md(e)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Api(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Api(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Api(e) => e.into_response(),
            Failure::Md(e) => {
                let mut r = StatusCode::BAD_REQUEST.into_response();
                r.extensions_mut().insert(e);
                r
            }
        }
    }
}

/// Middleware around each metadefs handler: renders a catalog refusal in the request's
/// language.
pub async fn localize(req: Request, next: Next) -> Response {
    let lang = negotiate(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let mut resp = next.run(req).await;
    match resp.extensions_mut().remove::<MdError>() {
        Some(e) => api_error(&lang, &e).into_response(),
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_negotiated() {
        assert_eq!(negotiate(Some("zh")).to_string(), "zh-CN");
        assert_eq!(negotiate(Some("zh-CN,zh;q=0.9")).to_string(), "zh-CN");
        assert_eq!(negotiate(Some("el-GR")).to_string(), "el");
        assert_eq!(negotiate(Some("fr, el;q=0.5")).to_string(), "el");
        assert_eq!(negotiate(Some("fr")).to_string(), "en");
        assert_eq!(negotiate(Some("en-US")).to_string(), "en");
        assert_eq!(negotiate(None).to_string(), "en");
        assert_eq!(negotiate(Some("!!garbage;;")).to_string(), "en");
    }

    #[test]
    fn messages_are_translated_with_their_arguments() {
        let e = MdError::no_namespace("aaa");
        assert_eq!(
            message(&ENGLISH, &e),
            "there is no metadata definitions namespace named aaa"
        );
        let zh = message(&negotiate(Some("zh")), &e);
        assert!(zh.contains("aaa") && zh.contains("命名空间"), "{zh}");
        let el = message(&negotiate(Some("el")), &e);
        assert!(el.contains("aaa") && el.contains("χώρος ονομάτων"), "{el}");
        let kind = MdError::forbidden(
            "md-namespace-protected-content",
            &[("namespace", "N"), ("kind", "tag")],
        );
        assert!(message(&negotiate(Some("zh")), &kind).contains("标签"));
    }

    /// Every `"md-…"` id the domain and the API use is in every catalogue, and the
    /// catalogues hold the same ids.
    #[test]
    fn every_message_id_is_in_every_catalogue() {
        let sources = [
            include_str!("../../../domain/metadefs/mod.rs"),
            include_str!("../../../domain/metadefs/schema.rs"),
            include_str!("../../../domain/metadefs/request.rs"),
            include_str!("mod.rs"),
            include_str!("namespaces.rs"),
            include_str!("items.rs"),
            include_str!("tags.rs"),
            include_str!("resource_types.rs"),
        ];
        let used = regex::Regex::new(r#""(md-[a-z-]+)""#).unwrap();
        let defined = regex::Regex::new(r"(?m)^(md-[a-z-]+) =").unwrap();
        let ids = |ftl: &str| -> std::collections::BTreeSet<String> {
            defined
                .captures_iter(ftl)
                .map(|c| c[1].to_owned())
                .collect()
        };
        let en = ids(include_str!("../../../../locales/en/metadefs.ftl"));
        let zh = ids(include_str!("../../../../locales/zh-CN/metadefs.ftl"));
        let el = ids(include_str!("../../../../locales/el/metadefs.ftl"));
        assert_eq!(en, zh, "zh-CN differs from en");
        assert_eq!(en, el, "el differs from en");
        for src in sources {
            for c in used.captures_iter(src) {
                assert!(
                    en.contains(&c[1]),
                    "{} is used but not in the catalogues",
                    &c[1]
                );
            }
        }
    }
}
