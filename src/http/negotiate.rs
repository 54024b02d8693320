//! Chooses JSON or XML for a response: `?json` / `?xml` first (both at once is an error),
//! then the `Accept` header, then JSON.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};

use super::fault::ApiError;

pub const JSON: &str = "application/json; charset=UTF-8";
pub const XML: &str = "application/xml; charset=UTF-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON,
            Format::Xml => XML,
        }
    }
}

pub fn from_request(uri: &Uri, headers: &HeaderMap) -> Result<Format, ApiError> {
    let (mut json, mut xml) = (false, false);
    if let Some(q) = uri.query() {
        for (k, _) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                "json" => json = true,
                "xml" => xml = true,
                _ => {}
            }
        }
    }
    match (json, xml) {
        (true, true) => {
            return Err(ApiError::bad_request(
                "both ?json and ?xml were given: ask for one representation",
            ));
        }
        (true, false) => return Ok(Format::Json),
        (false, true) => return Ok(Format::Xml),
        _ => {}
    }
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Ok(from_accept(&accept))
}

/// The better of JSON and XML by the `Accept` header's q-values; JSON on a tie or when
/// neither is named (unknown types fall back to JSON rather than a 406 no client expects).
fn from_accept(accept: &str) -> Format {
    let (mut json_q, mut xml_q) = (-1.0f32, -1.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json_q = json_q.max(q),
            "application/xml" | "text/xml" => xml_q = xml_q.max(q),
            _ => {}
        }
    }
    if xml_q > 0.0 && xml_q > json_q {
        Format::Xml
    } else {
        Format::Json
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Format, ApiError> {
        match parts.extensions.get::<Format>() {
            Some(f) => Ok(*f),
            None => from_request(&parts.uri, &parts.headers),
        }
    }
}

/// A response in the negotiated representation: `json` is serialized with serde, `xml`
/// writes the document only when XML was asked for.
pub fn respond<T: serde::Serialize>(
    format: Format,
    status: axum::http::StatusCode,
    json: &T,
    xml: impl FnOnce(&mut super::xml::Xml),
) -> axum::response::Response {
    let body = match format {
        Format::Json => match serde_json::to_vec(json) {
            Ok(b) => b,
            Err(e) => {
                return axum::response::IntoResponse::into_response(
                    super::fault::ApiError::internal(e),
                );
            }
        },
        Format::Xml => {
            let mut x = super::xml::Xml::new();
            xml(&mut x);
            x.finish()
        }
    };
    let mut resp = axum::response::Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(format.content_type()),
    );
    resp
}

/// A JSON-only response (identity, image and version documents of JSON-only services).
pub fn json_response<T: serde::Serialize>(
    status: axum::http::StatusCode,
    json: &T,
) -> axum::response::Response {
    respond(Format::Json, status, json, |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg(uri: &str, accept: Option<&str>) -> Result<Format, ApiError> {
        let mut h = HeaderMap::new();
        if let Some(a) = accept {
            h.insert(header::ACCEPT, a.parse().unwrap());
        }
        from_request(&uri.parse().unwrap(), &h)
    }

    #[test]
    fn query_beats_accept() {
        assert_eq!(
            neg("/f?xml", Some("application/json")).unwrap(),
            Format::Xml
        );
        assert_eq!(
            neg("/f?json=1", Some("application/xml")).unwrap(),
            Format::Json
        );
        assert!(neg("/f?json&xml", None).is_err());
    }

    #[test]
    fn accept_with_q_values() {
        assert_eq!(neg("/f", None).unwrap(), Format::Json);
        assert_eq!(neg("/f", Some("application/xml")).unwrap(), Format::Xml);
        assert_eq!(neg("/f", Some("*/*")).unwrap(), Format::Json);
        assert_eq!(
            neg("/f", Some("application/json;q=0.5, application/xml")).unwrap(),
            Format::Xml
        );
        assert_eq!(
            neg("/f", Some("application/xml;q=0.1, application/json")).unwrap(),
            Format::Json
        );
        assert_eq!(neg("/f", Some("text/html")).unwrap(), Format::Json);
    }
}
