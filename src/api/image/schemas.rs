//! Schemas (`/v2/schemas/images|image|members|member`) — the same documents the server
//! validates against — and store/import information (`/v2/info/stores|import`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::domain::image;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;

pub fn routes(r: Routes) -> Routes {
    r.get("/image/v2/schemas/images", || async {
        json_response(StatusCode::OK, image::images_schema())
    })
    .get("/image/v2/schemas/image", || async {
        json_response(StatusCode::OK, image::image_schema())
    })
    .get("/image/v2/schemas/members", || async {
        json_response(StatusCode::OK, image::members_schema())
    })
    .get("/image/v2/schemas/member", || async {
        json_response(StatusCode::OK, image::member_schema())
    })
    .get("/image/v2/info/stores", stores)
    .get("/image/v2/info/import", import)
}

/// `GET /v2/info/stores` — the one store this gateway has.
async fn stores() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"stores": [{"id": "local", "default": true,
            "description": "image files on the gateway's own disk (streamed, checksummed)"}]}),
    )
}

/// `GET /v2/info/import` — no interoperable import methods: data arrives by
/// `PUT /v2/images/{id}/file`.
async fn import() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"import-methods": {"description": "Import methods available.",
            "type": "array", "value": []}}),
    )
}
