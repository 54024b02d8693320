//! Image data: `PUT /v2/images/{id}/file` (streamed upload) and `GET /v2/images/{id}/file`
//! (streamed download with `Content-Length`, `Content-MD5` and single-range requests).
//!
//! An upload moves the image queued → saving before any byte is read (so two uploads
//! cannot race), streams into the image store (which hashes md5 and sha512 on the way,
//! fsyncs and renames into place), and only then records size and hashes and makes the
//! image active in one transaction. Every failure puts the image back to queued with no
//! data kept — including a client that goes away, whose dropped request runs the
//! [`SavingGuard`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::access::{owned_image, visible_image};
use crate::domain::image::{Image, ImageEvent, ImageStatus, transition};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::fault::{ApiError, ApiResult, Fault};
use crate::http::routes::Routes;
use crate::imagestore::WriteError;
use crate::store::FinishedUpload;

pub fn routes(r: Routes) -> Routes {
    r.put("/image/v2/images/{image_id}/file", upload)
        .get("/image/v2/images/{image_id}/file", download)
}

/// Uploads in flight: bytes received so far and the size announced, for the `progress` the
/// compute image views show.
#[derive(Default)]
pub struct Uploads {
    inner: Mutex<HashMap<String, Arc<Progress>>>,
}

pub struct Progress {
    pub received: AtomicU64,
    pub expected: Option<u64>,
}

impl Uploads {
    fn begin(&self, id: &str, expected: Option<u64>) -> Arc<Progress> {
        let p = Arc::new(Progress {
            received: AtomicU64::new(0),
            expected,
        });
        if let Ok(mut m) = self.inner.lock() {
            m.insert(id.to_owned(), p.clone());
        }
        p
    }

    fn end(&self, id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(id);
        }
    }

    /// Percent of an in-flight upload, when its size was announced.
    pub fn percent(&self, id: &str) -> Option<u8> {
        let m = self.inner.lock().ok()?;
        let p = m.get(id)?;
        let expected = p.expected.filter(|e| *e > 0)?;
        let got = p.received.load(Ordering::Relaxed);
        Some(((got.min(expected) * 100) / expected) as u8)
    }
}

/// Puts a saving image back to queued unless the upload finished: runs on every early
/// return and when the request future is dropped because the client went away.
struct SavingGuard {
    state: AppState,
    id: String,
    armed: bool,
}

impl SavingGuard {
    /// Puts the image back to queued now, before the error response goes out, so a client
    /// that reads the image right after its failed upload sees it queued.
    async fn abort(mut self) {
        self.armed = false;
        if let Ok(to) = transition(ImageStatus::Saving, ImageEvent::UploadAborted)
            && let Err(e) = self
                .state
                .store
                .set_image_status(&self.id, ImageStatus::Saving, to, time::now())
                .await
        {
            tracing::error!(image = %self.id, "could not reset an aborted upload: {e}");
        }
    }
}

impl Drop for SavingGuard {
    fn drop(&mut self) {
        self.state.uploads.end(&self.id);
        if !self.armed {
            return;
        }
        let store = self.state.store.clone();
        let id = std::mem::take(&mut self.id);
        let Ok(to) = transition(ImageStatus::Saving, ImageEvent::UploadAborted) else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store
                    .set_image_status(&id, ImageStatus::Saving, to, time::now())
                    .await
                {
                    tracing::error!(image = %id, "could not reset an aborted upload: {e}");
                }
            });
        }
    }
}

pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("header {name} must be a byte count"))),
    }
}

/// `PUT /v2/images/{id}/file` — 204 when the data is stored and the image active; 409 when
/// the image is not queued; 413 past the size cap, the storage quota or a full disk; 415
/// for a Content-Type other than application/octet-stream.
async fn upload(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    require_octet_stream(&headers)?;
    let img = owned_image(&state, &who, &id).await?;
    let expected = match header_u64(&headers, "x-openstack-image-size")? {
        Some(n) => Some(n),
        None => header_u64(&headers, header::CONTENT_LENGTH.as_str())?,
    };
    receive(&state, &img, expected, None, body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Image data travels as application/octet-stream (or with no Content-Type at all): 415
/// otherwise.
pub(crate) fn require_octet_stream(headers: &HeaderMap) -> ApiResult<()> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !media.eq_ignore_ascii_case("application/octet-stream") {
            return Err(ApiError::bad_media_type(format!(
                "image data must be sent as application/octet-stream, not '{media}'"
            )));
        }
    }
    Ok(())
}

/// Streams `body` in as the data of the (owned, queued) image `img` and makes it active —
/// the one upload path of every image view (v2 `PUT …/file`, Plankton `POST`/`PUT`).
/// `expected` is the announced size; `expected_md5` a checksum the client announced (the
/// Plankton `X-Image-Meta-Checksum`): data that does not match it is not kept (400).
pub(crate) async fn receive(
    state: &AppState,
    img: &Image,
    expected: Option<u64>,
    expected_md5: Option<&str>,
    body: Body,
) -> ApiResult<()> {
    let id = img.id.clone();
    transition(img.status, ImageEvent::BeginUpload)?;
    let cfg = &state.config;
    let mut cap = cfg.image_max_size;
    let mut quota_note = "";
    if cfg.image_quota_bytes > 0 {
        let owner = img.owner.clone().unwrap_or_default();
        let used = state.store.project_image_bytes(&owner).await?;
        let left = cfg.image_quota_bytes.saturating_sub(used);
        if left < cap {
            cap = left;
            quota_note = " (the rest of the project's image storage quota)";
        }
    }
    if let Some(n) = expected
        && n > cap
    {
        return Err(ApiError::over_limit(format!(
            "the image is {n} bytes, more than the {cap} bytes allowed{quota_note}"
        )));
    }
    let now = time::now();
    if !state
        .store
        .set_image_status(&id, ImageStatus::Queued, ImageStatus::Saving, now)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "image {id} is not queued any more (another upload may have started)"
        )));
    }
    let guard = SavingGuard {
        state: state.clone(),
        id: id.clone(),
        armed: true,
    };
    let progress = state.uploads.begin(&id, expected);
    let stream = body.into_data_stream().map(move |chunk| {
        if let Ok(b) = &chunk {
            progress
                .received
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    let written = match state
        .images
        .write(&id, Box::pin(stream), cap, expected)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            guard.abort().await;
            return Err(upload_error(e, cap, quota_note));
        }
    };
    if let Some(want) = expected_md5
        && !want.eq_ignore_ascii_case(&written.md5_hex)
    {
        guard.abort().await;
        let _ = state.images.delete(&id).await;
        return Err(ApiError::bad_request(format!(
            "the data's md5 is {}, not the checksum {want} the client announced; nothing \
             was kept",
            written.md5_hex
        )));
    }
    let mut guard = guard;
    let done = state
        .store
        .finish_upload(
            &id,
            FinishedUpload {
                size: written.size,
                md5_hex: written.md5_hex,
                sha512_hex: written.sha512_hex,
                at: time::now(),
            },
        )
        .await?;
    if !done {
        // Deleted (or reset) while the bytes were arriving: keep nothing.
        guard.armed = false;
        let _ = state.images.delete(&id).await;
        return Err(ApiError::conflict(format!(
            "image {id} was deleted during the upload"
        )));
    }
    guard.armed = false;
    Ok(())
}

fn upload_error(e: WriteError, cap: u64, quota_note: &str) -> ApiError {
    match e {
        WriteError::TooLarge { .. } => ApiError::over_limit(format!(
            "the image is larger than the {cap} bytes allowed{quota_note}; nothing was kept"
        )),
        WriteError::DiskFull => ApiError::over_limit(
            "the image store is full; nothing was kept. Ask the operator to free space",
        ),
        WriteError::Body(m) => ApiError::bad_request(format!(
            "the upload was interrupted ({m}); nothing was kept"
        )),
        WriteError::SizeMismatch { expected, got } => ApiError::bad_request(format!(
            "the client announced {expected} bytes but sent {got}; nothing was kept"
        )),
        WriteError::BadId(m) => ApiError::not_found(m),
        WriteError::Io(e) => ApiError::internal(format!("image store: {e}")),
    }
}

/// Parses a single `Range: bytes=…` against `size`; `None` means the whole image.
fn parse_range(headers: &HeaderMap, size: u64) -> ApiResult<Option<std::ops::Range<u64>>> {
    let Some(v) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ApiError::new(
            Fault::RangeNotSatisfiable,
            format!(
                "the range '{}' cannot be served: the image has {size} bytes; ask for one range bytes=START-END",
                v.to_str().unwrap_or("?")
            ),
        )
    };
    let spec = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().strip_prefix("bytes="))
        .ok_or_else(unsatisfiable)?;
    if spec.contains(',') {
        return Err(unsatisfiable());
    }
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| unsatisfiable())?;
        if n == 0 {
            return Err(unsatisfiable());
        }
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().map_err(|_| unsatisfiable())?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>()
                .map_err(|_| unsatisfiable())?
                .saturating_add(1)
                .min(size)
        };
        start..end
    };
    if range.start >= range.end || range.start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

/// `GET /v2/images/{id}/file` — 200 (or 206 for a range) with the data; 204 when the image
/// has no data; 403 for a deactivated image unless admin; 416 for a bad range.
async fn download(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let img = visible_image(&state, &who, &id).await?;
    data_response(&state, &who, &img, &headers).await
}

/// The data of a visible image as a response, shared with the Plankton view.
pub(crate) async fn data_response(
    state: &AppState,
    who: &crate::domain::identity::Identity,
    img: &Image,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let id = &img.id;
    if img.status == ImageStatus::Deactivated && !who.user.is_admin() {
        return Err(ApiError::forbidden(format!(
            "image {id} is deactivated: its data cannot be downloaded"
        )));
    }
    let (true, Some(size)) = (
        matches!(img.status, ImageStatus::Active | ImageStatus::Deactivated),
        img.size,
    ) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let range = parse_range(headers, size)?;
    let (stream, len) = state
        .images
        .read(id, range.clone())
        .await
        .map_err(|e| ApiError::internal(format!("reading image {id}: {e}")))?;
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Glance sends the md5 as hex here, and glanceclient compares it as hex.
    if let Some(md5) = img
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("content-md5", md5);
    }
    if let Some(r) = range {
        let cr = format!("bytes {}-{}/{size}", r.start, r.end - 1);
        if let Ok(v) = HeaderValue::from_str(&cr) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> ApiResult<Option<std::ops::Range<u64>>> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, v.parse().unwrap());
        parse_range(&h, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(range("bytes=90-", 100).unwrap(), Some(90..100));
        assert_eq!(range("bytes=-10", 100).unwrap(), Some(90..100));
        assert_eq!(range("bytes=95-200", 100).unwrap(), Some(95..100));
        assert!(range("bytes=100-", 100).is_err());
        assert!(range("bytes=5-2", 100).is_err());
        assert!(range("bytes=0-1,3-4", 100).is_err());
        assert!(range("items=0-1", 100).is_err());
        assert!(range("bytes=-0", 100).is_err());
    }
}
