//! `GET /` and the version documents of every service, in the shapes the links survey
//! shows for Nova (compute), Keystone (identity), Glance (image) and Neutron (network).
//! They need no token: clients discover versions before they authenticate.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::http::links::Base;
use crate::http::negotiate::{Format, json_response, respond};
use crate::http::routes::Routes;
use crate::http::xml::COMMON_NS;

const COMPUTE_UPDATED: &str = "2011-01-21T11:33:21Z";
const IDENTITY_UPDATED: &str = "2014-04-17T00:00:00Z";
/// Image API versions served; the last is CURRENT.
const IMAGE_VERSIONS: &[&str] = &["v2.0", "v2.1", "v2.2", "v2.3", "v2.4", "v2.5", "v2.6"];

pub fn routes() -> Routes {
    Routes::new()
        .get("/", services)
        .get("/compute", compute_versions)
        .get("/compute/", compute_versions)
        .get("/compute/v2.0", compute_version)
        .get("/compute/v2.0/", compute_version)
        .get("/identity", identity_versions)
        .get("/identity/", identity_versions)
        .get("/identity/v2.0", identity_version)
        .get("/identity/v2.0/", identity_version)
        .get("/image", image_root)
        .get("/image/", image_root)
        .get("/image/versions", image_versions)
        .get("/network", network_versions)
        .get("/network/", network_versions)
        .get("/api-docs/openapi.json", openapi)
}

/// `GET /`: the services this gateway serves and where.
async fn services(base: Base) -> Response {
    let svc = |name: &str, kind: &str, path: &str, versions: &[&str]| json!({"name": name, "type": kind, "href": base.url(path), "versions": versions});
    json_response(
        StatusCode::OK,
        &json!({"services": [
            svc("astakos_identity", "identity", "/identity", &["v2.0"]),
            svc("astakos_account", "account", "/account/v1.0", &["v1.0"]),
            svc("cyclades_compute", "compute", "/compute", &["v2.0"]),
            svc("cyclades_network", "network", "/network", &["v2.0"]),
            svc("cyclades_plankton", "image", "/image", &["v1.0", "v2"]),
        ]}),
    )
}

fn compute_version_doc(base: &Base) -> Value {
    json!({
        "id": "v2.0",
        "status": "CURRENT",
        "updated": COMPUTE_UPDATED,
        "links": [
            {"rel": "self", "href": base.url("/compute/v2.0/")},
            {"rel": "describedby", "type": "application/vnd.oai.openapi+json;version=3.1",
             "href": base.url("/api-docs/openapi.json")}
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"},
            {"base": "application/xml", "type": "application/vnd.openstack.compute+xml;version=2"}
        ]
    })
}

fn compute_version_xml(x: &mut crate::http::xml::Xml, base: &Base, root: bool) {
    let attrs = [
        ("id", "v2.0"),
        ("status", "CURRENT"),
        ("updated", COMPUTE_UPDATED),
    ];
    if root {
        x.start_root_ns("version", COMMON_NS, &attrs);
    } else {
        x.start("version", &attrs);
    }
    x.start("media-types", &[]);
    x.empty(
        "media-type",
        &[
            ("base", "application/json"),
            ("type", "application/vnd.openstack.compute+json;version=2"),
        ],
    );
    x.empty(
        "media-type",
        &[
            ("base", "application/xml"),
            ("type", "application/vnd.openstack.compute+xml;version=2"),
        ],
    );
    x.end("media-types");
    x.link("self", &base.url("/compute/v2.0/"));
    x.empty(
        "atom:link",
        &[
            ("rel", "describedby"),
            ("type", "application/vnd.oai.openapi+json;version=3.1"),
            ("href", &base.url("/api-docs/openapi.json")),
        ],
    );
    x.end("version");
}

/// `GET /compute`: Nova's version list.
async fn compute_versions(format: Format, base: Base) -> Response {
    respond(
        format,
        StatusCode::OK,
        &json!({"versions": [compute_version_doc(&base)]}),
        |x| {
            x.start_root_ns("versions", COMMON_NS, &[]);
            compute_version_xml(x, &base, false);
            x.end("versions");
        },
    )
}

/// `GET /compute/v2.0`: one version.
async fn compute_version(format: Format, base: Base) -> Response {
    respond(
        format,
        StatusCode::OK,
        &json!({"version": compute_version_doc(&base)}),
        |x| compute_version_xml(x, &base, true),
    )
}

fn identity_version_doc(base: &Base) -> Value {
    json!({
        "id": "v2.0",
        "status": "stable",
        "updated": IDENTITY_UPDATED,
        "links": [
            {"rel": "self", "href": base.url("/identity/v2.0/")},
            {"rel": "describedby", "type": "application/vnd.oai.openapi+json;version=3.1",
             "href": base.url("/api-docs/openapi.json")}
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}
        ]
    })
}

/// `GET /identity`: Keystone's 300 Multiple Choices.
async fn identity_versions(base: Base) -> Response {
    json_response(
        StatusCode::MULTIPLE_CHOICES,
        &json!({"versions": {"values": [identity_version_doc(&base)]}}),
    )
}

/// `GET /identity/v2.0`
async fn identity_version(base: Base) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"version": identity_version_doc(&base)}),
    )
}

fn image_versions_doc(base: &Base) -> Value {
    let last = IMAGE_VERSIONS.len() - 1;
    let versions: Vec<Value> = IMAGE_VERSIONS
        .iter()
        .enumerate()
        .rev()
        .map(|(i, id)| {
            json!({
                "id": id,
                "status": if i == last { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": base.url("/image/v2/")}]
            })
        })
        .collect();
    json!({"versions": versions})
}

/// `GET /image/`: Glance's 300 Multiple Choices.
async fn image_root(base: Base) -> Response {
    json_response(StatusCode::MULTIPLE_CHOICES, &image_versions_doc(&base))
}

/// `GET /image/versions`: the same list with 200, which glanceclient reads first.
async fn image_versions(base: Base) -> Response {
    json_response(StatusCode::OK, &image_versions_doc(&base))
}

/// `GET /network`: Neutron's version list.
async fn network_versions(base: Base) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"versions": [{"id": "v2.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": base.url("/network/v2.0")}]}]}),
    )
}

/// `GET /api-docs/openapi.json`: the OpenAPI 3.1 description of every endpoint.
async fn openapi() -> Response {
    let mut resp = Response::new(axum::body::Body::from(crate::api::OPENAPI));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}
