//! Flavors: `GET /flavors`, `GET /flavors/detail`, `GET /flavors/{flavor-id}`.
//!
//! Each flavor carries every attribute of the seed's flavor index (`id`, `name`, `ram`,
//! `disk`, `vcpus`, `SNF:disk_template`, `links`) and, for tools written against the seed's
//! examples, `cpu` (the same number as `vcpus`; see `api-docs/compute.md`).

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::domain::flavor::Flavor;
use crate::http::AppState;
use crate::http::fault::{ApiError, ApiResult};
use crate::http::links::{Base, Link};
use crate::http::negotiate::{Format, respond};
use crate::http::routes::Routes;
use crate::http::xml::{SNF_NS, Xml};

pub fn routes(r: Routes) -> Routes {
    r.get("/compute/v2.0/flavors", list)
        .get("/compute/v2.0/flavors/detail", detail)
        .get("/compute/v2.0/flavors/{flavor_id}", show)
}

#[derive(Serialize)]
struct FlavorView<'a> {
    id: i64,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ram: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vcpus: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<u32>,
    #[serde(rename = "SNF:disk_template", skip_serializing_if = "Option::is_none")]
    disk_template: Option<&'a str>,
    links: [Link; 2],
}

fn links(base: &Base, id: i64) -> [Link; 2] {
    [
        Link::new("self", base.url(&format!("/compute/v2.0/flavors/{id}"))),
        Link::new("bookmark", base.url(&format!("/compute/flavors/{id}"))),
    ]
}

fn view<'a>(f: &'a Flavor, base: &Base, detail: bool) -> FlavorView<'a> {
    let d = |v| detail.then_some(v);
    FlavorView {
        id: f.id,
        name: &f.name,
        ram: d(f.ram),
        disk: d(f.disk),
        vcpus: d(f.vcpus),
        cpu: d(f.vcpus),
        disk_template: detail.then_some(f.disk_template.as_str()),
        links: links(base, f.id),
    }
}

fn xml_flavor(x: &mut Xml, f: &Flavor, base: &Base, detail: bool, root: bool) {
    let id = f.id.to_string();
    let (ram, disk, vcpus) = (f.ram.to_string(), f.disk.to_string(), f.vcpus.to_string());
    let mut attrs: Vec<(&str, &str)> = vec![("id", &id), ("name", &f.name)];
    if detail {
        attrs.extend_from_slice(&[
            ("ram", &ram),
            ("disk", &disk),
            ("vcpus", &vcpus),
            ("cpu", &vcpus),
            ("SNF:disk_template", &f.disk_template),
        ]);
    }
    if root {
        attrs.push(("xmlns:SNF", SNF_NS));
        x.start_root("flavor", &attrs);
    } else {
        x.start("flavor", &attrs);
    }
    for l in links(base, f.id) {
        x.link(l.rel, &l.href);
    }
    x.end("flavor");
}

fn list_response(format: Format, base: &Base, flavors: &[Flavor], detail: bool) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        flavors: Vec<FlavorView<'a>>,
    }
    let body = Body {
        flavors: flavors.iter().map(|f| view(f, base, detail)).collect(),
    };
    respond(format, StatusCode::OK, &body, |x| {
        x.start_root("flavors", &[("xmlns:SNF", SNF_NS)]);
        for f in flavors {
            xml_flavor(x, f, base, detail, false);
        }
        x.end("flavors");
    })
}

/// `GET /flavors` — 200; `id`, `name` and links of every flavor.
async fn list(State(s): State<AppState>, format: Format, base: Base) -> ApiResult<Response> {
    let flavors = s.store.list_flavors().await?;
    Ok(list_response(format, &base, &flavors, false))
}

/// `GET /flavors/detail` — 200; every attribute of every flavor.
async fn detail(State(s): State<AppState>, format: Format, base: Base) -> ApiResult<Response> {
    let flavors = s.store.list_flavors().await?;
    Ok(list_response(format, &base, &flavors, true))
}

/// `GET /flavors/{flavor-id}` — 200; 400 for a malformed id, 404 for an unknown one.
async fn show(
    State(s): State<AppState>,
    format: Format,
    base: Base,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_flavor_id(&id)?;
    let flavor = s
        .store
        .get_flavor(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flavor {id} not found")))?;
    #[derive(Serialize)]
    struct Body<'a> {
        flavor: FlavorView<'a>,
    }
    let body = Body {
        flavor: view(&flavor, &base, true),
    };
    Ok(respond(format, StatusCode::OK, &body, |x| {
        xml_flavor(x, &flavor, &base, true, true)
    }))
}

/// Flavor ids are positive integers; anything else is a malformed id (400), as the seed says.
pub fn parse_flavor_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "malformed flavor id '{raw}': flavor ids are positive integers"
        ))
    })
}
