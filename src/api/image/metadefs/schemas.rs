//! `GET /v2/schemas/metadefs/{namespace,namespaces,property,properties,object,objects,
//! resource_type,resource_types,tag,tags}` — the documents request bodies are checked
//! against (glanceclient fetches `namespace` and `resource_type` on every run).

use axum::http::StatusCode;

use crate::domain::metadefs::schema;
use crate::http::negotiate::json_response;
use crate::http::routes::Routes;

const PATHS: [(&str, &str); 10] = [
    ("/image/v2/schemas/metadefs/namespace", "namespace"),
    ("/image/v2/schemas/metadefs/namespaces", "namespaces"),
    ("/image/v2/schemas/metadefs/property", "property"),
    ("/image/v2/schemas/metadefs/properties", "properties"),
    ("/image/v2/schemas/metadefs/object", "object"),
    ("/image/v2/schemas/metadefs/objects", "objects"),
    ("/image/v2/schemas/metadefs/resource_type", "resource_type"),
    (
        "/image/v2/schemas/metadefs/resource_types",
        "resource_types",
    ),
    ("/image/v2/schemas/metadefs/tag", "tag"),
    ("/image/v2/schemas/metadefs/tags", "tags"),
];

pub fn routes(mut r: Routes) -> Routes {
    for (path, name) in PATHS {
        r = r.get(path, move || async move {
            let doc = schema::by_name(name).unwrap_or(&serde_json::Value::Null);
            json_response(StatusCode::OK, doc)
        });
    }
    r
}
