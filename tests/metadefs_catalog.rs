//! Glance's own catalogue: `cyclades metadefs import` loads every namespace file the `glance`
//! package ships (installed from PyPI into `.venv-glance-catalog/` by
//! `tests/clients/glance_catalog_setup.sh`, never copied into this repository), the API then
//! shows exactly the namespaces, properties, objects and associations of the files, and
//! `cyclades metadefs export` writes files that import to the same catalogue.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Gateway, Options, cli};
use serde_json::Value;

const NS: &str = "/image/v2/metadefs/namespaces";

/// The directory of Glance's catalogue files, installed once per test binary.
fn glance_catalog() -> &'static Path {
    let probe = common::client_install(
        "glance_catalog_setup.sh",
        ".venv-glance-catalog/etc/glance/metadefs/compute-quota.json",
    );
    probe.parent().expect("catalogue directory")
}

/// What one namespace holds, in a form that compares across imports: per namespace its
/// attributes, association (name, prefix, target) triples, property definitions, objects
/// with their definitions, and tag names.
#[derive(Debug, PartialEq)]
struct Shape {
    attributes: Value,
    associations: Vec<(String, Option<String>, Option<String>)>,
    properties: Value,
    objects: BTreeMap<String, Value>,
    tags: Vec<String>,
}

fn shape_of_file(v: &Value) -> Shape {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    Shape {
        attributes: attributes(v),
        associations: v["resource_type_associations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    s(&a["name"]).unwrap(),
                    s(&a["prefix"]),
                    s(&a["properties_target"]),
                )
            })
            .collect(),
        properties: v
            .get("properties")
            .cloned()
            .unwrap_or(Value::Object(Default::default())),
        objects: v["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let mut o = o.clone();
                let m = o.as_object_mut().unwrap();
                let name = m.remove("name").unwrap().as_str().unwrap().to_owned();
                for k in ["self", "schema", "created_at", "updated_at"] {
                    m.remove(k);
                }
                (name, o)
            })
            .collect(),
        tags: v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect(),
    }
}

/// The namespace's own attributes; a file without `visibility` or `protected` imports as
/// private and unprotected (the API's defaults; one of Glance's files names no visibility).
fn attributes(v: &Value) -> Value {
    let mut a = serde_json::Map::new();
    a.insert("visibility".into(), "private".into());
    a.insert("protected".into(), false.into());
    for k in [
        "namespace",
        "display_name",
        "description",
        "visibility",
        "protected",
    ] {
        if let Some(x) = v.get(k) {
            a.insert(k.into(), x.clone());
        }
    }
    Value::Object(a)
}

fn get(g: &Gateway, token: &str, path: &str) -> Value {
    let r = g.get(path, token);
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().expect("JSON")
}

/// Every namespace of a running gateway, as the API shows it.
fn catalogue(g: &Gateway) -> BTreeMap<String, Shape> {
    let token = g.admin_token();
    let list = get(
        g,
        &token,
        &format!("{NS}?limit=1000&sort_key=namespace&sort_dir=asc"),
    );
    assert!(
        list.get("next").is_none(),
        "one page holds the whole catalogue"
    );
    list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let name = n["namespace"].as_str().unwrap().to_owned();
            let path = format!("{NS}/{}", urlencode(&name));
            let detail = get(g, &token, &path);
            // The summary's counts agree with the detail.
            let props = detail["properties"].as_object().map_or(0, |p| p.len());
            let objs = detail["objects"].as_array().map_or(0, |o| o.len());
            assert_eq!(n["property_count"], props, "{name}");
            assert_eq!(n["object_count"], objs, "{name}");
            (name, shape_of_file(&detail))
        })
        .collect()
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A")
}

fn import(dir: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    let d = dir.to_str().unwrap();
    let mut args = vec!["metadefs", "import", d];
    args.extend_from_slice(extra);
    cli(data, &args)
}

#[test]
fn glance_catalogue_imports_exports_and_reimports() {
    let src = glance_catalog();
    // What the files hold.
    let mut files = BTreeMap::new();
    let (mut props, mut objs, mut assocs) = (0, 0, 0);
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let shape = shape_of_file(&v);
            props += shape.properties.as_object().unwrap().len()
                + shape
                    .objects
                    .values()
                    .map(|o| o["properties"].as_object().map_or(0, |p| p.len()))
                    .sum::<usize>();
            objs += shape.objects.len();
            assocs += shape.associations.len();
            files.insert(v["namespace"].as_str().unwrap().to_owned(), shape);
        }
    }
    assert!(
        files.len() >= 30,
        "the glance package ships its catalogue: {}",
        files.len()
    );

    // Import into a fresh data dir (the first start seeds it), with the gateway running.
    let g = Gateway::start();
    let out = import(src, &g.data_dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected = format!(
        "imported {} namespaces, {props} properties, {objs} objects, {assocs} resource type \
         associations, 0 tags",
        files.len()
    );
    assert!(said.starts_with(&expected), "{said} vs {expected}");

    // The API shows the files, namespace by namespace.
    let first = catalogue(&g);
    assert_eq!(first.len(), files.len());
    for (name, shape) in &files {
        assert_eq!(first.get(name), Some(shape), "namespace {name}");
    }
    // Owned by the operator's default project, readable by an ordinary user when public.
    let user = g.user("reader", &[]);
    let quota = get(
        &g,
        &user,
        &format!("{NS}/{}", urlencode("OS::Compute::Quota")),
    );
    assert_eq!(quota["owner"], "admin");
    assert_eq!(quota["visibility"], "public");

    // A second import clashes, unless --replace.
    let again = import(src, &g.data_dir, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--replace"));
    let replaced = import(src, &g.data_dir, &["--replace"]);
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    assert_eq!(catalogue(&g), first);

    // Export, then import the export elsewhere: the same catalogue.
    let out_dir = tempfile::tempdir().unwrap();
    let exported = cli(
        &g.data_dir,
        &["metadefs", "export", out_dir.path().to_str().unwrap()],
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(
        String::from_utf8_lossy(&exported.stdout)
            .starts_with(&expected.replace("imported", "exported"))
    );
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        files.len()
    );
    let h = Gateway::start_with(Options::default());
    let out = import(out_dir.path(), &h.data_dir, &["--owner", "someone-else"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(catalogue(&h), first);
    // The exported files keep their owner.
    let q = get(
        &h,
        &h.admin_token(),
        &format!("{NS}/{}", urlencode("OS::Compute::Quota")),
    );
    assert_eq!(q["owner"], "admin");
}

#[test]
fn a_bad_file_imports_nothing() {
    let g = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        r#"{"namespace": "Good", "properties": {"p": {"type": "string", "title": "P"}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        r#"{"namespace": "Bad", "properties": {"p": {"type": "integer", "minimum": "one"}}}"#,
    )
    .unwrap();
    let out = import(dir.path(), &g.data_dir, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b.json") && err.contains("'minimum'"), "{err}");
    assert_eq!(g.get(&format!("{NS}/Good"), &g.admin_token()).status(), 404);
    std::fs::write(dir.path().join("b.json"), "{ not json").unwrap();
    let err = import(dir.path(), &g.data_dir, &[]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("not valid JSON"));
    let empty = tempfile::tempdir().unwrap();
    assert!(!import(empty.path(), &g.data_dir, &[]).status.success());
}
