//! Keeps `api-docs/openapi.json` in step with the binary: the operations it documents are
//! exactly the routes `cyclades routes` prints, the document is structurally sound OpenAPI
//! 3.1, and what it says about authentication, status codes and media types is what the
//! running gateway does.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cyclades");
const DOC_PATH: &str = "api-docs/openapi.json";
/// The HTTP methods an OpenAPI path item may hold.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const SECURITY_SCHEME: &str = "XAuthToken";

type Op = (String, String);

fn doc_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC_PATH);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn document() -> Value {
    serde_json::from_str(&doc_text()).unwrap_or_else(|e| panic!("{DOC_PATH} is not JSON: {e}"))
}

/// A `cyclades` command with no `CYCLADES_*` variable of the caller's environment: the
/// test must see the built-in route table, not whatever a developer's shell configures.
fn cyclades() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CYCLADES_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("CYCLADES_LOG", "warn");
    cmd
}

/// Every `(METHOD, PATH)` the binary routes, from `cyclades routes`.
fn routed() -> BTreeSet<Op> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = cyclades()
        .arg("routes")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run cyclades routes");
    assert!(
        out.status.success(),
        "cyclades routes failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("routes output is UTF-8");
    let mut routes = BTreeSet::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let (method, path) = line
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("route line {line:?} is not `METHOD PATH`"));
        assert!(
            METHODS.contains(&method.to_ascii_lowercase().as_str()),
            "unknown method in route line {line:?}"
        );
        assert!(
            path.starts_with('/'),
            "route line {line:?}: path is not absolute"
        );
        routes.insert((method.to_owned(), path.to_owned()));
    }
    assert!(!routes.is_empty(), "cyclades routes printed no route");
    routes
}

/// Every operation of the document, keyed by `(METHOD, PATH)`.
fn operations(doc: &Value) -> BTreeMap<Op, &Value> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut ops = BTreeMap::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (key, op) in item {
            if METHODS.contains(&key.as_str()) {
                ops.insert((key.to_ascii_uppercase(), path.clone()), op);
            }
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/...`), once or several times.
fn deref<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("non-local $ref {r}"));
                v = doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("$ref {r} does not resolve"));
            }
            None => return v,
        }
    }
    panic!("$ref chain too long");
}

fn parameters<'a>(doc: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    op["parameters"]
        .as_array()
        .map(|ps| ps.iter().map(|p| deref(doc, p)).collect())
        .unwrap_or_default()
}

fn is_authenticated(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|reqs| reqs.iter().any(|r| r.get(SECURITY_SCHEME).is_some()))
}

fn format_ops(ops: &BTreeSet<Op>) -> String {
    ops.iter()
        .map(|(m, p)| format!("  {m} {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = document();
    let documented: BTreeSet<Op> = operations(&doc).into_keys().collect();
    let routed = routed();
    let missing: BTreeSet<Op> = routed.difference(&documented).cloned().collect();
    let extra: BTreeSet<Op> = documented.difference(&routed).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{DOC_PATH} is out of step with `cyclades routes`.\nRouted but not documented:\n{}\n\
         Documented but not routed:\n{}",
        format_ops(&missing),
        format_ops(&extra)
    );
}

#[test]
fn the_document_is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        doc["info"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    let scheme = &doc["components"]["securitySchemes"][SECURITY_SCHEME];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "X-Auth-Token");
    let fault = &doc["components"]["schemas"]["Fault"];
    assert_eq!(
        fault["additionalProperties"]["$ref"],
        "#/components/schemas/FaultBody"
    );
    let body = &doc["components"]["schemas"]["FaultBody"]["properties"];
    assert_eq!(
        body["code"]["type"], "integer",
        "fault codes are JSON integers"
    );
}

#[test]
fn every_operation_is_described_and_has_responses() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(&doc) {
        let what = format!("{method} {path}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.trim().is_empty()),
            "{what} has no summary"
        );
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{what} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{what} has no responses"));
        assert!(!responses.is_empty(), "{what} has no responses");
        assert!(
            responses
                .keys()
                // 101: a websocket upgrade (the console's) succeeds by switching protocols.
                .any(|c| c == "101" || c.starts_with('2') || c.starts_with('3')),
            "{what} documents no success response"
        );
        for (code, resp) in responses {
            assert!(
                code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (100..600).contains(&c)),
                "{what}: response key {code} is not a status code"
            );
            let resp = deref(&doc, resp);
            assert!(
                resp["description"].as_str().is_some(),
                "{what} {code}: a response needs a description"
            );
        }
    }
}

#[test]
fn path_parameters_match_the_path_templates() {
    let doc = document();
    for ((method, path), op) in operations(&doc) {
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let declared: BTreeSet<String> = parameters(&doc, op)
            .into_iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{method} {path}: path params are required"
                );
                p["name"].as_str().expect("parameter name").to_owned()
            })
            .collect();
        assert_eq!(
            in_template, declared,
            "{method} {path}: path parameters do not match the template"
        );
    }
}

#[test]
fn every_ref_resolves() {
    fn walk(doc: &Value, v: &Value, at: &str) {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    let pointer = r
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("{at}: non-local $ref {r}"));
                    assert!(
                        doc.pointer(pointer).is_some(),
                        "{at}: $ref {r} does not resolve"
                    );
                }
                for (k, child) in map {
                    walk(doc, child, &format!("{at}/{k}"));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(doc, child, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    let doc = document();
    walk(&doc, &doc, "#");
}

#[test]
fn authenticated_operations_declare_401() {
    let doc = document();
    for ((method, path), op) in operations(&doc) {
        if is_authenticated(op) {
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {path} needs a token but documents no 401"
            );
        }
    }
}

/// The oas3 crate reads the whole document into its typed model, which checks the shape of
/// every object (and that every parameter, body and response `$ref` resolves).
#[test]
fn the_oas3_crate_accepts_the_document() {
    let spec = oas3::from_json(doc_text()).expect("oas3 parses the document");
    spec.validate_version()
        .expect("a supported OpenAPI version");
    let mut count = 0;
    for (path, method, op) in spec.operations() {
        count += 1;
        op.parameters(&spec)
            .unwrap_or_else(|e| panic!("{method} {path}: parameters: {e}"));
        op.request_body(&spec)
            .unwrap_or_else(|e| panic!("{method} {path}: request body: {e}"));
        for (code, resp) in op.responses.iter().flatten() {
            resp.resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path} {code}: {e}"));
        }
    }
    assert_eq!(count, operations(&document()).len());
}

/// A gateway started for one test, killed when the test ends.
struct Gateway {
    child: Child,
    url: String,
    token: String,
    _stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start() -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = cyclades()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cyclades serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut url, mut token) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while url.is_none() {
            assert!(Instant::now() < deadline, "the gateway did not start");
            let mut line = String::new();
            if stdout.read_line(&mut line).expect("read stdout") == 0 {
                let _ = child.kill();
                panic!("the gateway exited before listening");
            }
            if let Some(t) = line.trim().strip_prefix("admin token: ") {
                token = Some(t.to_owned());
            }
            if let Some(u) = line.trim().strip_prefix("listening on ") {
                url = Some(u.to_owned());
            }
        }
        Gateway {
            child,
            url: url.unwrap_or_default(),
            token: token.expect("the gateway printed an admin token"),
            _stdout: stdout,
            _dir: dir,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The path with every `{param}` replaced by `1`: a real flavor id, an unknown anything else.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The document says which operations need `X-Auth-Token`; the gateway must agree: without a
/// token, exactly those answer 401.
#[test]
fn the_gateway_asks_for_a_token_exactly_where_documented() {
    let doc = document();
    let gw = Gateway::start();
    let http = client();
    let mut wrong = Vec::new();
    for ((method, path), op) in operations(&doc) {
        let url = format!("{}{}", gw.url, concrete(&path));
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = http.request(m, &url);
        if op.get("requestBody").is_some() {
            req = req.header("content-type", "application/json").body("{}");
        }
        let status = req.send().expect("request").status().as_u16();
        if (status == 401) != is_authenticated(op) {
            wrong.push(format!(
                "  {method} {path}: {status} without a token, documented as {}",
                if is_authenticated(op) {
                    "authenticated"
                } else {
                    "public"
                }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "authentication differs:\n{}",
        wrong.join("\n")
    );
}

/// Every GET, with a token (and `?xml` where the operation offers it), answers a status the
/// document lists, in one of the media types it lists for that status.
#[test]
fn get_responses_have_documented_statuses_and_media_types() {
    let doc = document();
    let gw = Gateway::start();
    let http = client();
    let mut wrong = Vec::new();
    for ((method, path), op) in operations(&doc) {
        if method != "GET" {
            continue;
        }
        let offers_xml = parameters(&doc, op)
            .iter()
            .any(|p| p["in"] == "query" && p["name"] == "xml");
        let queries: &[&str] = if offers_xml { &["", "?xml"] } else { &[""] };
        for q in queries {
            let url = format!("{}{}{q}", gw.url, concrete(&path));
            let resp = http
                .get(&url)
                .header("x-auth-token", &gw.token)
                .send()
                .expect("request");
            let status = resp.status().as_u16().to_string();
            let Some(documented) = op["responses"].get(&status) else {
                wrong.push(format!("  GET {path}{q}: {status} is not documented"));
                continue;
            };
            let content = &deref(&doc, documented)["content"];
            let media = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match content.as_object() {
                Some(types) if !types.contains_key(&media) => wrong.push(format!(
                    "  GET {path}{q}: {status} came as '{media}', documented as {:?}",
                    types.keys().collect::<Vec<_>>()
                )),
                _ => {}
            }
            if *q == "?xml"
                && content.get("application/xml").is_some()
                && media != "application/xml"
            {
                wrong.push(format!(
                    "  GET {path}?xml: {status} came as '{media}', not XML"
                ));
            }
            if media == "application/json" {
                let body = resp.text().expect("body");
                if serde_json::from_str::<Value>(&body).is_err() {
                    wrong.push(format!("  GET {path}{q}: the JSON body does not parse"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "responses differ from the document:\n{}",
        wrong.join("\n")
    );
}
