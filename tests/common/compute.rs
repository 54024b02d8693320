//! Talking to the gateway's APIs from tests: a token-carrying client (compute requests,
//! faults and XML; Image API v2 create and upload), the simulated backend made fast, and an
//! active public image to boot servers from.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Gateway, Options, xml_body};

/// The simulated backend with short builds and actions.
pub fn fast() -> Options {
    Options::default()
        .env("CYCLADES_BACKEND", "simulated")
        .env("CYCLADES_SIMULATED_BUILD_SECS", "0.4")
        .env("CYCLADES_SIMULATED_OP_SECS", "0.2")
}

pub struct Api<'a> {
    pub g: &'a Gateway,
    pub token: String,
}

impl<'a> Api<'a> {
    pub fn new(g: &'a Gateway, token: &str) -> Api<'a> {
        Api {
            g,
            token: token.to_owned(),
        }
    }
    pub fn req(&self, m: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.g
            .client()
            .request(m, self.g.url(path))
            .header("X-Auth-Token", &self.token)
    }
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.req(reqwest::Method::GET, path).send().unwrap()
    }
    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        let status = r.status();
        let text = r.text().unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }
    pub fn send(&self, m: reqwest::Method, path: &str, body: Value) -> reqwest::blocking::Response {
        self.req(m, path)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    }
    pub fn post(&self, path: &str, body: Value) -> reqwest::blocking::Response {
        self.send(reqwest::Method::POST, path, body)
    }
    pub fn put(&self, path: &str, body: Value) -> reqwest::blocking::Response {
        self.send(reqwest::Method::PUT, path, body)
    }
    pub fn delete(&self, path: &str) -> reqwest::blocking::Response {
        self.req(reqwest::Method::DELETE, path).send().unwrap()
    }
    /// A GET that asks for XML (`Accept: application/xml`) and must answer it with a 200.
    pub fn xml(&self, path: &str) -> String {
        let r = self
            .req(reqwest::Method::GET, path)
            .header("Accept", "application/xml")
            .send()
            .unwrap();
        xml_body(r, 200)
    }
    /// An image made through the Image API v2, which must answer 201; its document.
    pub fn create_image(&self, body: Value) -> Value {
        let r = self.post("/image/v2/images", body);
        let status = r.status();
        let v: Value = r.json().unwrap();
        assert_eq!(status, 201, "{v}");
        v
    }
    /// Uploads `data` as the file of image `id` through the Image API v2.
    pub fn upload(&self, id: &str, data: Vec<u8>) -> reqwest::blocking::Response {
        self.req(reqwest::Method::PUT, &format!("/image/v2/images/{id}/file"))
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .unwrap()
    }
    /// A server of flavor 1 from `img`, whose create must be accepted; its id.
    pub fn server(&self, img: &str, name: &str) -> i64 {
        let r = self.post(
            "/compute/v2.0/servers",
            json!({"server": {"name": name, "imageRef": img, "flavorRef": 1}}),
        );
        assert_eq!(r.status(), 202);
        r.json::<Value>().unwrap()["server"]["id"].as_i64().unwrap()
    }
    pub fn action(&self, id: i64, body: Value) -> reqwest::blocking::Response {
        self.send(
            reqwest::Method::POST,
            &format!("/compute/v2.0/servers/{id}/action"),
            body,
        )
    }
    pub fn status(&self, id: i64) -> String {
        self.json(&format!("/compute/v2.0/servers/{id}"))["server"]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    pub fn wait_for(&self, id: i64, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.json(&format!("/compute/v2.0/servers/{id}"));
            if v["server"]["status"] == want {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "server {id} never became {want}: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A compute-style fault `{"NAME": {"code": STATUS, "message": …}}` answered with `status`;
/// its message.
pub fn fault(r: reqwest::blocking::Response, status: u16, name: &str) -> String {
    assert_eq!(r.status(), status);
    let v: Value = r.json().unwrap();
    assert_eq!(v[name]["code"], status, "{v}");
    v[name]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} fault: {v}"))
        .to_owned()
}

/// An active image with OS and users metadata, owned by the admin and public.
pub fn image(g: &Gateway) -> String {
    let admin = Api::new(g, &g.admin_token());
    let v = admin.create_image(
        json!({"name": "debian", "visibility": "public", "disk_format": "raw", "container_format": "bare", "os": "debian", "users": "root"}),
    );
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(admin.upload(&id, vec![0u8; 1024]).status(), 204);
    id
}

/// A gateway with the property protections the image tests share: `x_billing_*` is the
/// admins' alone, `os_*` is created and changed by members (deleted by admins), the rest is
/// anyone's. The returned dir holds the rules file and must live as long as the gateway.
pub fn protected_gateway() -> (tempfile::TempDir, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("property-protections-roles.conf");
    std::fs::write(
        &rules,
        "[^x_billing_.*]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n\n\
         [^os_.*]\ncreate = admin,member\nread = @\nupdate = admin,member\ndelete = admin\n\n\
         [.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n",
    )
    .unwrap();
    let g = Gateway::start_with(Options::default().env(
        "CYCLADES_PROPERTY_PROTECTIONS_FILE",
        rules.to_str().unwrap(),
    ));
    (dir, g)
}
