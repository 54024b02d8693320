//! Black-box tests of the metadata definitions catalog (`/image/v2/metadefs/…`): every example
//! body of `../shared/reference/image-metadefs-catalog.txt` as input and its response shapes
//! as output, the namespace rules (uniqueness, protection, atomic create, visibility and
//! ownership), list filters and paging, property definition checks, tags, resource types,
//! schemas and localized errors.

mod common;

use common::{Gateway, Options};
use serde_json::{Value, json};

const NS: &str = "/image/v2/metadefs/namespaces";

struct Api<'a> {
    g: &'a Gateway,
    token: String,
    lang: Option<&'static str>,
}

struct Got {
    status: u16,
    body: Value,
}

impl Got {
    fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// A Glance-style error with this status; returns its message.
    fn error(self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], status, "{}", self.body);
        self.body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {}", self.body))
            .to_owned()
    }
}

impl<'a> Api<'a> {
    fn new(g: &'a Gateway, token: &str) -> Api<'a> {
        Api {
            g,
            token: token.to_owned(),
            lang: None,
        }
    }

    fn in_language(g: &'a Gateway, token: &str, lang: &'static str) -> Api<'a> {
        Api {
            lang: Some(lang),
            ..Api::new(g, token)
        }
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Got {
        let mut req = self
            .g
            .client()
            .request(method, self.g.url(path))
            .header("X-Auth-Token", &self.token);
        if let Some(l) = self.lang {
            req = req.header("Accept-Language", l);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().expect("request");
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Got { status, body }
    }

    fn get(&self, path: &str) -> Got {
        self.send(reqwest::Method::GET, path, None)
    }
    fn post(&self, path: &str, body: Value) -> Got {
        self.send(reqwest::Method::POST, path, Some(&body))
    }
    fn put(&self, path: &str, body: Value) -> Got {
        self.send(reqwest::Method::PUT, path, Some(&body))
    }
    fn delete(&self, path: &str) -> Got {
        self.send(reqwest::Method::DELETE, path, None)
    }
}

/// The "Retrieve Namespace" example of the reference, sent as the input of a create (the
/// reference: "input will be similar").
fn reference_namespace() -> Value {
    json!({
        "namespace": "MyNamespace",
        "display_name": "My User Friendly Namespace",
        "description": "My description",
        "visibility": "public",
        "protected": true,
        "owner": "The Test Owner",
        "schema": "/v2/schemas/metadefs/namespace",
        "resource_type_associations": [
            {"name": "OS::Glance::Image", "prefix": "hw_",
             "created_at": "2014-08-28T17:13:06Z", "updated_at": "2014-08-28T17:13:06Z"},
            {"name": "OS::Cinder::Volume", "prefix": "hw_", "properties_target": "image",
             "created_at": "2014-08-28T17:13:06Z", "updated_at": "2014-08-28T17:13:06Z"},
            {"name": "OS::Nova::Flavor", "prefix": "filter1:",
             "created_at": "2014-08-28T17:13:06Z", "updated_at": "2014-08-28T17:13:06Z"}
        ],
        "properties": {
            "nsprop1": {"title": "My namespace property1", "description": "More info here",
                        "type": "boolean", "default": true},
            "nsprop2": {"title": "My namespace property2", "description": "More info here",
                        "type": "string", "default": "value1"}
        },
        "objects": [
            {"name": "object1", "description": "my-description",
             "self": "/v2/metadefs/namespaces/MyNamespace/objects/object1",
             "schema": "/v2/schemas/metadefs/object",
             "created_at": "2014-08-28T17:13:06Z", "updated_at": "2014-08-28T17:13:06Z",
             "required": [],
             "properties": {"prop1": {"title": "My object1 property1",
                                      "description": "More info here", "type": "array",
                                      "items": {"type": "string"}}}},
            {"name": "object2", "description": "my-description",
             "self": "/v2/metadefs/namespaces/MyNamespace/objects/object2",
             "schema": "/v2/schemas/metadefs/object",
             "created_at": "2014-08-28T17:13:06Z", "updated_at": "2014-08-28T17:13:06Z",
             "properties": {"prop1": {"title": "My object2 property1",
                                      "description": "More info here", "type": "integer",
                                      "default": 20}}}
        ]
    })
}

fn is_timestamp(v: &Value) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    v.as_str().is_some_and(|s| re.is_match(s))
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {list}"))
        .iter()
        .map(|v| {
            v["name"]
                .as_str()
                .or(v["namespace"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn every_reference_example_is_accepted_and_reproduced() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());

    // Add Namespace with the detail example as input: everything inline, atomically.
    let created = admin.post(NS, reference_namespace()).ok(201);
    let ns = admin.get(&format!("{NS}/MyNamespace")).ok(200);
    assert_eq!(created, ns);
    for k in [
        "namespace",
        "display_name",
        "description",
        "visibility",
        "protected",
        "owner",
    ] {
        assert_eq!(ns[k], reference_namespace()[k], "{k}");
    }
    assert_eq!(ns["schema"], "/v2/schemas/metadefs/namespace");
    assert_eq!(ns["self"], "/v2/metadefs/namespaces/MyNamespace");
    assert!(is_timestamp(&ns["created_at"]) && is_timestamp(&ns["updated_at"]));
    assert_eq!(ns["properties"], reference_namespace()["properties"]);
    let assocs = ns["resource_type_associations"].as_array().unwrap();
    assert_eq!(assocs.len(), 3);
    assert_eq!(assocs[1]["name"], "OS::Cinder::Volume");
    assert_eq!(assocs[1]["prefix"], "hw_");
    assert_eq!(assocs[1]["properties_target"], "image");
    assert!(assocs[0].get("properties_target").is_none());
    assert!(is_timestamp(&assocs[0]["created_at"]));
    let objects = ns["objects"].as_array().unwrap();
    assert_eq!(objects[0]["name"], "object1");
    assert_eq!(objects[0]["required"], json!([]));
    assert!(
        objects[1].get("required").is_none(),
        "object2 has no required"
    );
    assert_eq!(objects[1]["properties"]["prop1"]["default"], 20);
    assert_eq!(
        objects[0]["self"],
        "/v2/metadefs/namespaces/MyNamespace/objects/object1"
    );
    assert_eq!(objects[0]["schema"], "/v2/schemas/metadefs/object");
    assert!(is_timestamp(&objects[0]["updated_at"]));

    // List Available Namespaces: summaries with counts and associations, no contents.
    let list = admin.get(NS).ok(200);
    assert_eq!(list["schema"], "/v2/schemas/metadefs/namespaces");
    assert!(
        list["first"]
            .as_str()
            .unwrap()
            .starts_with("/v2/metadefs/namespaces")
    );
    let entry = &list["namespaces"][0];
    assert_eq!(entry["namespace"], "MyNamespace");
    assert_eq!(entry["self"], "/v2/metadefs/namespaces/MyNamespace");
    assert_eq!(entry["property_count"], 2);
    assert_eq!(entry["object_count"], 2);
    assert_eq!(entry["tag_count"], 0);
    assert_eq!(
        entry["resource_type_associations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(entry.get("properties").is_none() && entry.get("objects").is_none());

    // Retrieve available Resource Types: the standard ones exist from the first start.
    let types = admin.get("/image/v2/metadefs/resource_types").ok(200);
    let types = names(&types, "resource_types");
    for t in [
        "OS::Glance::Image",
        "OS::Cinder::Volume",
        "OS::Nova::Flavor",
        "OS::Nova::Aggregate",
        "OS::Nova::Server",
        "OS::Nova::Instance",
    ] {
        assert!(types.contains(&t.to_owned()), "{t} in {types:?}");
    }

    // Resource Types associated with a Namespace.
    let rts = admin
        .get(&format!("{NS}/MyNamespace/resource_types"))
        .ok(200);
    assert_eq!(
        names(&rts, "resource_type_associations"),
        [
            "OS::Glance::Image",
            "OS::Cinder::Volume",
            "OS::Nova::Flavor"
        ]
    );

    // Add Namespace with the short example; Update Namespace with the same body.
    let short = json!({"namespace": "Short", "display_name": "My User Friendly Namespace",
        "description": "My description", "visibility": "public", "protected": true});
    admin.post(NS, short.clone()).ok(201);
    let mut changed = short.clone();
    changed["description"] = json!("Changed");
    assert_eq!(
        admin.put(&format!("{NS}/Short"), changed).ok(200)["description"],
        "Changed"
    );

    // Associate Resource Type with Namespace, with the example body (timestamps included).
    let assoc = json!({"name": "OS::Cinder::Volume", "prefix": "hw_",
        "properties_target": "image", "created_at": "2014-08-28T17:13:04Z",
        "updated_at": "2014-08-28T17:13:04Z"});
    let a = admin
        .post(&format!("{NS}/Short/resource_types"), assoc.clone())
        .ok(201);
    assert_eq!(a["name"], "OS::Cinder::Volume");
    assert_eq!(a["properties_target"], "image");
    admin
        .post(&format!("{NS}/Short/resource_types"), assoc)
        .error(409);

    // Add object (StorageQOS example) and List Objects.
    let qos = json!({"name": "StorageQOS", "description": "Our available storage QOS.",
        "required": ["minIOPS"],
        "properties": {
            "minIOPS": {"type": "integer", "description": "The minimum IOPs required",
                        "default": 100, "minimum": 100, "maximum": 30000369},
            "burstIOPS": {"type": "integer", "description": "The expected burst IOPs",
                          "default": 1000, "minimum": 100, "maximum": 30000377}}});
    let o = admin
        .post(&format!("{NS}/Short/objects"), qos.clone())
        .ok(201);
    assert_eq!(o["properties"], qos["properties"]);
    assert_eq!(
        o["self"],
        "/v2/metadefs/namespaces/Short/objects/StorageQOS"
    );
    let objs = admin.get(&format!("{NS}/Short/objects")).ok(200);
    assert_eq!(objs["schema"], "/v2/schemas/metadefs/objects");
    assert_eq!(names(&objs, "objects"), ["StorageQOS"]);
    // Update Object: "similar to Add Object".
    let mut qos2 = qos.clone();
    qos2["description"] = json!("Changed");
    let o2 = admin
        .put(&format!("{NS}/Short/objects/StorageQOS"), qos2)
        .ok(200);
    assert_eq!(o2["description"], "Changed");
    assert_eq!(o2["created_at"], o["created_at"]);

    // Add property definition (hypervisor_type example); Update it.
    let hv = json!({"name": "hypervisor_type", "title": "Hypervisor", "type": "array",
        "description": "The type of hypervisor required",
        "items": {"type": "string", "enum": ["hyperv", "qemu", "kvm"]}});
    assert_eq!(
        admin
            .post(&format!("{NS}/Short/properties"), hv.clone())
            .ok(201),
        hv
    );
    assert_eq!(
        admin
            .get(&format!("{NS}/Short/properties/hypervisor_type"))
            .ok(200),
        hv
    );
    let props = admin.get(&format!("{NS}/Short/properties")).ok(200);
    assert_eq!(props["properties"]["hypervisor_type"]["items"], hv["items"]);
    let mut hv2 = hv.clone();
    hv2["title"] = json!("Hypervisor type");
    assert_eq!(
        admin
            .put(&format!("{NS}/Short/properties/hypervisor_type"), hv2)
            .ok(200)["title"],
        "Hypervisor type"
    );

    // Protected namespaces and their contents can't be deleted until unprotected.
    admin
        .delete(&format!("{NS}/Short/properties/hypervisor_type"))
        .error(403);
    admin
        .delete(&format!("{NS}/Short/objects/StorageQOS"))
        .error(403);
    admin
        .delete(&format!("{NS}/Short/resource_types/OS::Cinder::Volume"))
        .error(403);
    admin.delete(&format!("{NS}/Short")).error(403);
    admin
        .put(&format!("{NS}/Short"), json!({"protected": false}))
        .ok(200);
    admin
        .delete(&format!("{NS}/Short/properties/hypervisor_type"))
        .ok(204);
    admin
        .delete(&format!("{NS}/Short/resource_types/OS::Cinder::Volume"))
        .ok(204);
    admin
        .delete(&format!("{NS}/Short/resource_types/OS::Cinder::Volume"))
        .error(404);
    // Delete Namespace: everything in it goes too.
    admin.delete(&format!("{NS}/Short")).ok(204);
    admin.get(&format!("{NS}/Short")).error(404);
    admin
        .get(&format!("{NS}/Short/objects/StorageQOS"))
        .error(404);
    admin.post(NS, short).ok(201);
    assert!(
        admin.get(&format!("{NS}/Short/objects")).ok(200)["objects"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn names_are_unique_and_create_is_atomic() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &[]));
    alice.post(NS, json!({"namespace": "N"})).ok(201);
    assert!(
        alice
            .post(NS, json!({"namespace": "N"}))
            .error(409)
            .contains("N")
    );
    // A valid property, then an invalid object: nothing is created.
    let bad = json!({"namespace": "Atomic", "properties": {"a": {"type": "string"}},
        "objects": [{"name": "o", "properties": {"b": {"type": "strin"}}}]});
    let m = alice.post(NS, bad).error(400);
    assert!(m.contains("o.b") && m.contains("'type'"), "{m}");
    alice.get(&format!("{NS}/Atomic")).error(404);
    // A duplicate inside one request is refused before anything is stored.
    let dup = json!({"namespace": "Dup", "tags": [{"name": "t"}, {"name": "t"}]});
    alice.post(NS, dup).error(400);
    alice.get(&format!("{NS}/Dup")).error(404);
    // A rename to a taken name is a conflict; a rename carries the contents along.
    alice
        .post(
            NS,
            json!({"namespace": "M", "properties": {"p": {"type": "string"}}}),
        )
        .ok(201);
    alice
        .put(&format!("{NS}/M"), json!({"namespace": "N"}))
        .error(409);
    let renamed = alice
        .put(&format!("{NS}/M"), json!({"namespace": "M2"}))
        .ok(200);
    assert_eq!(renamed["self"], "/v2/metadefs/namespaces/M2");
    assert!(renamed["properties"]["p"].is_object());
    alice.get(&format!("{NS}/M")).error(404);
}

#[test]
fn visibility_and_ownership() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    let alice = Api::new(&g, &g.user("alice", &[]));
    let bob = Api::new(&g, &g.user("bob", &[]));

    let mine = alice.post(NS, json!({"namespace": "AlicePrivate"})).ok(201);
    assert_eq!(mine["visibility"], "private");
    let alice_project = mine["owner"].as_str().unwrap().to_owned();
    bob.post(NS, json!({"namespace": "BobPrivate"})).ok(201);
    // Only admins publish or give namespaces away.
    alice
        .post(NS, json!({"namespace": "P", "visibility": "public"}))
        .error(403);
    alice
        .post(NS, json!({"namespace": "P", "owner": "someone-else"}))
        .error(403);
    alice
        .put(
            &format!("{NS}/AlicePrivate"),
            json!({"visibility": "public"}),
        )
        .error(403);
    admin
        .post(NS, json!({"namespace": "Public", "visibility": "public"}))
        .ok(201);

    // Private ones are seen only by their owner's project; public ones by everyone.
    bob.get(&format!("{NS}/AlicePrivate")).error(404);
    bob.get(&format!("{NS}/AlicePrivate/properties")).error(404);
    bob.post(&format!("{NS}/AlicePrivate/tags/x"), json!({}))
        .error(404);
    let listed = |api: &Api, q: &str| {
        let mut n = names(&api.get(&format!("{NS}{q}")).ok(200), "namespaces");
        n.sort();
        n
    };
    assert_eq!(listed(&alice, ""), ["AlicePrivate", "Public"]);
    assert_eq!(listed(&bob, ""), ["BobPrivate", "Public"]);
    assert_eq!(listed(&bob, "?visibility=private"), ["BobPrivate"]);
    assert_eq!(listed(&bob, "?visibility=public"), ["Public"]);
    // Admins see everything, and everything of one visibility.
    assert_eq!(listed(&admin, ""), ["AlicePrivate", "BobPrivate", "Public"]);
    assert_eq!(
        listed(&admin, "?visibility=private"),
        ["AlicePrivate", "BobPrivate"]
    );
    // A public namespace is read by all but changed only by its owner (or admins).
    bob.get(&format!("{NS}/Public")).ok(200);
    bob.post(&format!("{NS}/Public/tags/x"), json!({}))
        .error(403);
    bob.put(&format!("{NS}/Public"), json!({"description": "mine"}))
        .error(403);
    bob.delete(&format!("{NS}/Public")).error(403);
    admin
        .post(&format!("{NS}/AlicePrivate/tags/by-admin"), json!({}))
        .ok(201);
    admin
        .put(
            &format!("{NS}/AlicePrivate"),
            json!({"visibility": "public"}),
        )
        .ok(200);
    assert_eq!(
        bob.get(&format!("{NS}/AlicePrivate")).ok(200)["owner"],
        alice_project.as_str()
    );
    // A marker bob cannot see is as unknown as a missing one.
    bob.get(&format!("{NS}?marker=BobPrivate")).ok(200);
    admin
        .put(
            &format!("{NS}/AlicePrivate"),
            json!({"visibility": "private"}),
        )
        .ok(200);
    bob.get(&format!("{NS}?marker=AlicePrivate")).error(400);
    bob.get(&format!("{NS}?marker=Nope")).error(400);
}

#[test]
fn lists_filter_sort_and_page() {
    let g = Gateway::start_with(
        Options::default()
            .env("CYCLADES_METADEFS_LIST_MAX_LIMIT", "3")
            .env("CYCLADES_METADEFS_LIST_DEFAULT_LIMIT", "3"),
    );
    let admin = Api::new(&g, &g.admin_token());
    let rt = |t: &str| json!([{"name": t}]);
    for (name, assoc) in [
        ("ns-c", rt("OS::Glance::Image")),
        ("ns-a", rt("OS::Nova::Flavor")),
        ("ns-e", rt("OS::Cinder::Volume")),
        ("ns-b", rt("OS::Glance::Image")),
        ("ns-d", json!([])),
    ] {
        admin
            .post(
                NS,
                json!({"namespace": name, "resource_type_associations": assoc}),
            )
            .ok(201);
    }
    let page = |q: &str| admin.get(&format!("{NS}?{q}")).ok(200);
    let n = |v: &Value| names(v, "namespaces");
    // Default: newest first, a page of metadefs_list_default_limit.
    let first = page("");
    assert_eq!(n(&first), ["ns-d", "ns-b", "ns-e"]);
    assert_eq!(first["next"], "/v2/metadefs/namespaces?marker=ns-e");
    assert_eq!(
        n(&page("sort_key=created_at&sort_dir=asc")),
        ["ns-c", "ns-a", "ns-e"]
    );
    assert_eq!(
        n(&page("sort_key=namespace&sort_dir=asc&marker=ns-b")),
        ["ns-c", "ns-d", "ns-e"]
    );
    assert_eq!(
        n(&page("sort_key=namespace&sort_dir=desc&marker=ns-b")),
        ["ns-a"]
    );
    admin
        .put(&format!("{NS}/ns-a"), json!({"description": "touched"}))
        .ok(200);
    assert_eq!(n(&page("sort_key=updated_at"))[0], "ns-a");
    // resource_types: comma-separated, any of them.
    let mut f = n(&page(
        "resource_types=OS::Glance::Image,OS::Nova::Flavor&sort_key=namespace&sort_dir=asc",
    ));
    f.sort();
    assert_eq!(f, ["ns-a", "ns-b", "ns-c"]);
    // Pages of 2 followed through `next` (relative to the Image API root, as glanceclient
    // reads them); `first` keeps the query without the marker.
    let mut seen = Vec::new();
    let mut url = format!("{NS}?limit=2&sort_key=namespace&sort_dir=asc");
    for _ in 0..10 {
        let p = admin.get(&url).ok(200);
        assert!(n(&p).len() <= 2);
        seen.extend(n(&p));
        assert_eq!(
            p["first"],
            "/v2/metadefs/namespaces?limit=2&sort_key=namespace&sort_dir=asc"
        );
        match p["next"].as_str() {
            Some(next) => url = format!("/image{next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["ns-a", "ns-b", "ns-c", "ns-d", "ns-e"]);
    // The operator's maximum caps `limit`.
    let capped = page("limit=100&sort_key=namespace&sort_dir=asc");
    assert_eq!(n(&capped), ["ns-a", "ns-b", "ns-c"]);
    assert!(capped["next"].as_str().unwrap().contains("marker=ns-c"));
    // Bad parameters are 400s that say what is allowed.
    assert!(
        admin
            .get(&format!("{NS}?sort_key=name"))
            .error(400)
            .contains("created_at")
    );
    assert!(
        admin
            .get(&format!("{NS}?sort_dir=up"))
            .error(400)
            .contains("asc")
    );
    admin.get(&format!("{NS}?limit=-1")).error(400);
    admin.get(&format!("{NS}?visibility=shared")).error(400);
    admin.get(&format!("{NS}?marker=missing")).error(400);
}

#[test]
fn property_definitions_are_checked_keyword_by_keyword() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &[]));
    alice.post(NS, json!({"namespace": "N"})).ok(201);
    let props = format!("{NS}/N/properties");
    let refused = |body: Value, keyword: &str| {
        let m = alice.post(&props, body.clone()).error(400);
        assert!(m.contains(&format!("'{keyword}'")), "{body} → {m}");
    };
    refused(
        json!({"name": "a", "type": "integer", "minimum": "ten"}),
        "minimum",
    );
    refused(
        json!({"name": "a", "type": "integer", "minimun": 1}),
        "minimun",
    );
    refused(json!({"name": "a", "title": "no type"}), "type");
    refused(json!({"name": "a", "type": "decimal"}), "type");
    refused(
        json!({"name": "a", "type": "string", "pattern": "(unclosed"}),
        "pattern",
    );
    refused(
        json!({"name": "a", "type": "integer", "minimum": 5, "maximum": 1}),
        "minimum",
    );
    refused(
        json!({"name": "a", "type": "boolean", "default": "yes"}),
        "default",
    );
    refused(
        json!({"name": "a", "type": "array", "items": {"type": "text"}}),
        "items",
    );
    refused(
        json!({"name": "a", "type": "string", "readonly": "no"}),
        "readonly",
    );
    refused(
        json!({"name": "a", "type": "string", "enum": "a,b"}),
        "enum",
    );
    // A definition without a name is a 400 that says so.
    assert!(
        alice
            .post(&props, json!({"type": "string"}))
            .error(400)
            .contains("name")
    );
    // The whole vocabulary is accepted.
    let full = json!({"name": "full", "title": "Full", "description": "d", "type": "string",
        "enum": ["a", "b"], "default": "a", "pattern": "^[ab]$", "minLength": 1,
        "maxLength": 1, "readonly": false, "operators": ["<or>"]});
    assert_eq!(alice.post(&props, full.clone()).ok(201), full);
    alice.post(&props, full.clone()).error(409);
    let arr = json!({"name": "arr", "type": "array", "items": {"type": "integer", "enum": [1, 2]},
        "minItems": 0, "maxItems": 2, "uniqueItems": true});
    alice.post(&props, arr).ok(201);
    let num =
        json!({"name": "num", "type": "number", "minimum": 0.5, "maximum": 9.5, "default": 1});
    alice.post(&props, num).ok(201);
    // Update renames through the body's name; a clash is a conflict; a missing one a 404.
    let renamed = alice
        .put(
            &format!("{props}/num"),
            json!({"name": "number", "type": "number"}),
        )
        .ok(200);
    assert_eq!(renamed["name"], "number");
    alice.get(&format!("{props}/num")).error(404);
    alice
        .put(
            &format!("{props}/number"),
            json!({"name": "full", "type": "number"}),
        )
        .error(409);
    alice
        .put(&format!("{props}/ghost"), json!({"type": "number"}))
        .error(404);
    alice
        .put(
            &format!("{props}/number"),
            json!({"type": "number", "maximum": "x"}),
        )
        .error(400);
    // Objects: their definitions are checked the same way, and `required` must name one.
    let objs = format!("{NS}/N/objects");
    let m = alice
        .post(
            &objs,
            json!({"name": "o", "properties": {"p": {"type": "integer", "minimum": []}}}),
        )
        .error(400);
    assert!(m.contains("o.p") && m.contains("'minimum'"), "{m}");
    let m = alice
        .post(
            &objs,
            json!({"name": "o", "required": ["q"], "properties": {"p": {"type": "string"}}}),
        )
        .error(400);
    assert!(m.contains("q"), "{m}");
    alice
        .post(&objs, json!({"description": "no name"}))
        .error(400);
    // Bodies that are not JSON objects.
    let raw = |ct: &str, body: &str| {
        g.client()
            .post(g.url(&props))
            .header("X-Auth-Token", &alice.token)
            .header("Content-Type", ct)
            .body(body.to_owned())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(raw("application/json", "{\"name\": "), 400);
    assert_eq!(raw("application/json", ""), 400);
    assert_eq!(raw("application/json", "[1]"), 400);
    assert_eq!(raw("text/plain", "{}"), 415);
    // Deleting every property, then every object.
    alice.delete(&props).ok(204);
    assert_eq!(alice.get(&props).ok(200)["properties"], json!({}));
    alice.delete(&objs).ok(204);
}

#[test]
fn tags_as_glance_has_them() {
    let g = Gateway::start();
    let alice = Api::new(&g, &g.user("alice", &[]));
    alice
        .post(NS, json!({"namespace": "N", "tags": [{"name": "inline"}]}))
        .ok(201);
    let tags = format!("{NS}/N/tags");
    let t = alice.post(&format!("{tags}/one"), Value::Null).ok(201);
    assert_eq!(t["name"], "one");
    assert!(is_timestamp(&t["created_at"]));
    alice.post(&format!("{tags}/one"), Value::Null).error(409);
    assert_eq!(names(&alice.get(&tags).ok(200), "tags"), ["inline", "one"]);
    assert_eq!(alice.get(&format!("{tags}/one")).ok(200)["name"], "one");
    // POST …/tags replaces them all …
    let created = alice
        .post(&tags, json!({"tags": [{"name": "x"}, {"name": "y"}]}))
        .ok(201);
    assert_eq!(names(&created, "tags"), ["x", "y"]);
    assert_eq!(names(&alice.get(&tags).ok(200), "tags"), ["x", "y"]);
    // … or adds to them with X-Openstack-Append.
    let appended = g
        .client()
        .post(g.url(&tags))
        .header("X-Auth-Token", &alice.token)
        .header("X-Openstack-Append", "True")
        .header("Content-Type", "application/json")
        .body(json!({"tags": [{"name": "z"}]}).to_string())
        .send()
        .unwrap();
    assert_eq!(appended.status(), 201);
    assert_eq!(names(&alice.get(&tags).ok(200), "tags"), ["x", "y", "z"]);
    alice
        .post(&tags, json!({"tags": [{"name": "d"}, {"name": "d"}]}))
        .error(400);
    alice.post(&tags, json!({"names": ["d"]})).error(400);
    // Rename, delete one, delete all.
    assert_eq!(
        alice
            .put(&format!("{tags}/x"), json!({"name": "w"}))
            .ok(200)["name"],
        "w"
    );
    alice
        .put(&format!("{tags}/y"), json!({"name": "w"}))
        .error(409);
    alice
        .put(&format!("{tags}/ghost"), json!({"name": "v"}))
        .error(404);
    alice.delete(&format!("{tags}/w")).ok(204);
    alice.delete(&format!("{tags}/w")).error(404);
    assert_eq!(
        alice.get(&format!("{NS}/N")).ok(200)["tags"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    alice.delete(&tags).ok(204);
    assert!(
        alice.get(&tags).ok(200)["tags"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn associations_and_prefixes() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    admin
        .post(
            NS,
            json!({"namespace": "HW", "properties": {"cpu_cores": {"type": "integer"}},
                "objects": [{"name": "o", "required": ["x"], "properties": {"x": {"type": "string"}}}],
                "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}]}),
        )
        .ok(201);
    // An unknown resource type is created by its first association.
    admin
        .post(
            &format!("{NS}/HW/resource_types"),
            json!({"name": "OS::Trove::Instance"}),
        )
        .ok(201);
    let types = names(
        &admin.get("/image/v2/metadefs/resource_types").ok(200),
        "resource_types",
    );
    assert!(
        types.contains(&"OS::Trove::Instance".to_owned()),
        "{types:?}"
    );
    // ?resource_type= shows the names as the resource has them.
    let shown = admin
        .get(&format!("{NS}/HW?resource_type=OS::Glance::Image"))
        .ok(200);
    assert!(shown["properties"]["hw_cpu_cores"].is_object(), "{shown}");
    assert_eq!(shown["objects"][0]["required"], json!(["hw_x"]));
    let plain = admin
        .get(&format!("{NS}/HW?resource_type=OS::Trove::Instance"))
        .ok(200);
    assert!(plain["properties"]["cpu_cores"].is_object());
    admin
        .get(&format!("{NS}/HW?resource_type=OS::Nova::Flavor"))
        .error(404);
    // Filtering the list by the new type.
    let listed = admin
        .get(&format!("{NS}?resource_types=OS::Trove::Instance"))
        .ok(200);
    assert_eq!(names(&listed, "namespaces"), ["HW"]);
    admin
        .post(&format!("{NS}/HW/resource_types"), json!({"prefix": "x"}))
        .error(400);
    admin
        .post(&format!("{NS}/Nope/resource_types"), json!({"name": "A"}))
        .error(404);
}

#[test]
fn every_schema_is_served() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    for name in [
        "namespace",
        "namespaces",
        "property",
        "properties",
        "object",
        "objects",
        "resource_type",
        "resource_types",
        "tag",
        "tags",
    ] {
        let s = admin
            .get(&format!("/image/v2/schemas/metadefs/{name}"))
            .ok(200);
        assert!(s["properties"].is_object(), "{name}: {s}");
    }
    let ns = admin.get("/image/v2/schemas/metadefs/namespace").ok(200);
    assert_eq!(ns["additionalProperties"], false);
    assert_eq!(ns["properties"]["namespace"]["maxLength"], 80);
    assert!(
        ns["properties"]["property_count"]["readOnly"]
            .as_bool()
            .unwrap()
    );
}

#[test]
fn errors_are_in_the_language_asked_for() {
    let g = Gateway::start();
    let token = g.admin_token();
    let zh = Api::in_language(&g, &token, "zh");
    let m = zh.get(&format!("{NS}/aaa")).error(404);
    assert_eq!(m, "找不到名为 aaa 的元数据定义命名空间");
    let el = Api::in_language(&g, &token, "el-GR,el;q=0.9,en;q=0.5");
    assert_eq!(
        el.get(&format!("{NS}/aaa")).error(404),
        "δεν υπάρχει χώρος ονομάτων ορισμών μεταδεδομένων με όνομα aaa"
    );
    // Unknown languages fall back to English; so do no header and a weighted preference.
    for lang in ["fr", "de-CH, fr;q=0.8", "en-US"] {
        let api = Api::in_language(&g, &token, lang);
        assert_eq!(
            api.get(&format!("{NS}/aaa")).error(404),
            "there is no metadata definitions namespace named aaa"
        );
    }
    assert_eq!(
        Api::new(&g, &token).get(&format!("{NS}/aaa")).error(404),
        "there is no metadata definitions namespace named aaa"
    );
    assert!(
        Api::in_language(&g, &token, "fr;q=0.9, zh-CN;q=0.8")
            .get(&format!("{NS}/aaa"))
            .error(404)
            .contains("命名空间")
    );
    // Other refusals and statuses are translated too, with their arguments.
    zh.post(NS, json!({"namespace": "P", "protected": true}))
        .ok(201);
    let m = zh.delete(&format!("{NS}/P")).error(403);
    assert!(m.contains("P") && m.contains("受保护"), "{m}");
    let m = zh.post(NS, json!({"namespace": "P"})).error(409);
    assert!(m.contains("已存在"), "{m}");
    let m = zh
        .post(
            &format!("{NS}/P/properties"),
            json!({"name": "a", "type": "integer", "minimum": "x"}),
        )
        .error(400);
    assert!(m.contains("关键字 'minimum'"), "{m}");
    let m = el.get(&format!("{NS}?sort_key=bad")).error(400);
    assert!(m.starts_with("το sort_key 'bad'"), "{m}");
}

/// The operator switch `metadefs_validate_image_properties`: image property values must
/// satisfy the catalog's definitions for OS::Glance::Image, prefixes included.
#[test]
fn image_properties_follow_the_catalog_when_the_operator_asks() {
    const PATCH: &str = "application/openstack-images-v2.1-json-patch";
    let catalog = json!({"namespace": "OS::Compute::CPU", "visibility": "public",
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"},
                                       {"name": "OS::Nova::Flavor", "prefix": "hw:"}],
        "properties": {
            "cpu_cores": {"type": "integer", "minimum": 1, "maximum": 64},
            "cpu_policy": {"type": "string", "enum": ["shared", "dedicated"]}},
        "objects": [{"name": "Watchdog", "properties": {
            "watchdog_action": {"type": "string", "enum": ["reset", "poweroff"]}}}]});
    let create = |g: &Gateway, token: &str, props: Value| {
        let mut body = json!({"name": "img", "disk_format": "raw", "container_format": "bare"});
        body.as_object_mut()
            .unwrap()
            .extend(props.as_object().unwrap().clone());
        Api::new(g, token).post("/image/v2/images", body)
    };

    let g = Gateway::start_with(
        Options::default().env("CYCLADES_METADEFS_VALIDATE_IMAGE_PROPERTIES", "true"),
    );
    let admin = g.admin_token();
    Api::new(&g, &admin).post(NS, catalog.clone()).ok(201);
    let alice = g.user("alice", &[]);
    let m = create(&g, &alice, json!({"hw_cpu_cores": "0"})).error(400);
    assert!(
        m.contains("hw_cpu_cores") && m.contains("minimum") && m.contains("OS::Compute::CPU"),
        "{m}"
    );
    let m = create(&g, &alice, json!({"hw_cpu_cores": "many"})).error(400);
    assert!(m.contains("not an integer"), "{m}");
    let m = create(&g, &alice, json!({"hw_watchdog_action": "explode"})).error(400);
    assert!(
        m.contains("OS::Compute::CPU/Watchdog") && m.contains("poweroff"),
        "{m}"
    );
    // Unprefixed names, other resource types' prefixes and unknown properties are free.
    let img = create(
        &g,
        &alice,
        json!({"hw_cpu_cores": "8", "cpu_cores": "0", "hw:cpu_cores": "0", "other": "x"}),
    )
    .ok(201);
    let id = img["id"].as_str().unwrap().to_owned();
    let patch = |ops: Value| {
        let r = g
            .client()
            .patch(g.url(&format!("/image/v2/images/{id}")))
            .header("X-Auth-Token", &alice)
            .header("Content-Type", PATCH)
            .body(ops.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, body) = patch(json!([{"op": "add", "path": "/hw_cpu_policy", "value": "fast"}]));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("hw_cpu_policy") && body.contains("dedicated"),
        "{body}"
    );
    let (status, body) =
        patch(json!([{"op": "add", "path": "/hw_cpu_policy", "value": "dedicated"}]));
    assert_eq!(status, 200, "{body}");
    // A private namespace of another project does not apply to alice's images.
    let bob = g.user("bob", &[]);
    Api::new(&g, &bob)
        .post(
            NS,
            json!({"namespace": "Bob::Rules",
                "resource_type_associations": [{"name": "OS::Glance::Image"}],
                "properties": {"other": {"type": "integer"}}}),
        )
        .ok(201);
    let (status, body) = patch(json!([{"op": "replace", "path": "/other", "value": "y"}]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(create(&g, &bob, json!({"other": "y"})).status, 400);

    // Without the switch the same values are accepted.
    let plain = Gateway::start();
    Api::new(&plain, &plain.admin_token())
        .post(NS, catalog)
        .ok(201);
    create(&plain, &plain.admin_token(), json!({"hw_cpu_cores": "0"})).ok(201);
}

/// The response shapes, pinned: a changed field is a reviewed snapshot diff.
#[test]
fn response_shapes_are_pinned() {
    let g = Gateway::start();
    let admin = Api::new(&g, &g.admin_token());
    admin.post(NS, reference_namespace()).ok(201);
    admin
        .post(&format!("{NS}/MyNamespace/tags/sample-tag"), Value::Null)
        .ok(201);
    let stable =
        |v: Value| -> Value { serde_json::from_str(&common::stable(&g, &v.to_string())).unwrap() };
    for (name, path) in [
        ("namespace_detail", format!("{NS}/MyNamespace")),
        ("namespace_list", NS.to_owned()),
        ("objects_list", format!("{NS}/MyNamespace/objects")),
        ("properties_list", format!("{NS}/MyNamespace/properties")),
        (
            "property_show",
            format!("{NS}/MyNamespace/properties/nsprop1"),
        ),
        (
            "namespace_resource_types",
            format!("{NS}/MyNamespace/resource_types"),
        ),
        ("tags_list", format!("{NS}/MyNamespace/tags")),
    ] {
        insta::assert_json_snapshot!(name, stable(admin.get(&path).ok(200)));
    }
    let zh = Api::in_language(&g, &g.admin_token(), "zh");
    let r = zh.get(&format!("{NS}/aaa"));
    assert_eq!(r.status, 404);
    insta::assert_json_snapshot!("error_zh", r.body);
}
