//! JSON request bodies with errors a user can act on: the wrong Content-Type is a 415, a
//! body over the route's limit a 413, malformed JSON a 400 that names line and column.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::fault::ApiError;

pub struct JsonBody<T>(pub T);

/// `application/json`, with or without parameters. A missing Content-Type is taken as JSON:
/// several clients send JSON bodies without one.
pub fn is_json(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media == "application/json"
                || (media.starts_with("application/") && media.ends_with("+json"))
        }
    }
}

pub async fn bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::over_limit("the request body is larger than this endpoint accepts")
        } else {
            ApiError::bad_request(format!("cannot read the request body: {}", rej.body_text()))
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: expected a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "invalid request body",
            _ => "malformed JSON in the request body",
        };
        ApiError::bad_request(format!("{what}: {e}"))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
        if !is_json(ct.as_deref()) {
            return Err(ApiError::bad_media_type(format!(
                "Content-Type '{}' is not supported here: send the body as application/json",
                ct.unwrap_or_default()
            )));
        }
        let body = bytes(req, state).await?;
        parse_json(&body).map(JsonBody)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_names_the_position() {
        let e = parse_json::<serde_json::Value>(b"{\n  \"a\": 1,\n  oops\n}").unwrap_err();
        assert!(e.message.contains("line 3 column 3"), "{}", e.message);
        assert!(e.message.starts_with("malformed JSON"));
    }

    #[test]
    fn content_types() {
        assert!(is_json(None));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
    }
}
