//! One typed configuration for every subcommand, layered as the CLI contract says:
//! built-in defaults, then a TOML file (`--config FILE` or `CYCLADES_CONFIG`), then
//! `CYCLADES_*` environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address `serve` listens on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Holds the SQLite database and the image store.
    pub data_dir: PathBuf,
    /// Base URL clients reach the gateway at (e.g. `https://cloud.example.org`). When unset,
    /// links and the service catalog are built from each request's scheme and `Host`.
    pub public_url: Option<String>,
    /// Region name advertised in the service catalog.
    pub region: String,
    /// Lifetime of an issued token, in seconds.
    pub token_ttl_secs: u64,
    /// Idle keep-alive connections are closed after this many seconds (the seed's 20 s).
    pub idle_timeout_secs: u64,
    /// Upper bound for one API request (not image data transfers), in seconds.
    pub request_timeout_secs: u64,
    /// How long `serve` waits for in-flight requests after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Largest JSON request body the compute, network and identity APIs accept, in bytes.
    pub max_json_body: usize,
    /// Origins allowed by CORS; empty means any origin (auth is a header, never a cookie).
    pub cors_allowed_origins: Vec<String>,
    /// Number of read-only SQLite connections.
    pub db_readers: u32,
    /// `tracing` filter, e.g. `info` or `cyclades=debug,tower_http=info`.
    pub log: String,
    /// Largest image a single upload may store, in bytes.
    pub image_max_size: u64,
    /// Image bytes one project may store in all; 0 means no limit.
    pub image_quota_bytes: u64,
    /// Members one image may have.
    pub image_max_members: u32,
    /// Tags one image may have.
    pub image_max_tags: usize,
    /// User properties one image may have.
    pub image_max_properties: usize,
    /// Page size of image lists when the client gives no `limit`.
    pub image_list_default_limit: u32,
    /// Largest page size of image lists.
    pub image_list_max_limit: u32,
    /// Glance-style `property-protections-roles.conf`; unset means no property protections.
    pub property_protections_file: Option<PathBuf>,
    /// Page size of metadefs namespace lists when the client gives no `limit`.
    pub metadefs_list_default_limit: u32,
    /// Largest page size of metadefs namespace lists (Glance's `api_limit_max`).
    pub metadefs_list_max_limit: u32,
    /// Check image property values on create and patch against the metadata definitions
    /// associated with OS::Glance::Image.
    pub metadefs_validate_image_properties: bool,
    /// Servers one user may have (deleted ones do not count).
    pub server_quota: u32,
    /// Metadata items one server may have.
    pub server_max_metadata: usize,
    /// Personality files one create request may carry.
    pub server_max_personality: usize,
    /// How long a deleted server stays listable (`changes-since` polling), in seconds.
    pub poll_time_secs: u64,
    /// First three bytes of every NIC's MAC address.
    pub mac_prefix: String,
    /// IPv4 range of the `public` network every server is connected to.
    pub public_cidr: String,
    /// IPv6 /64 of the `public` network; empty for none.
    pub public_cidr6: String,
    /// Networks one user may have (deleted ones do not count).
    pub network_quota: u32,
    /// Floating IPs one user may hold.
    pub floating_ip_quota: u32,
    /// Compute backend: `simulated`, `qemu`, or `auto` (QEMU when `qemu_binary` is
    /// installed, simulated otherwise).
    pub backend: String,
    /// Simulated backend: seconds a build takes, and each start/shutdown/reboot.
    pub simulated_build_secs: f64,
    pub simulated_op_secs: f64,
    /// Seconds between the CPU/network samples behind the stats graphs.
    pub stats_interval_secs: f64,
    /// Simulated backend, for demos: operations (`build`, `start`, `shutdown`, `reboot`,
    /// `destroy`) whose next occurrence fails, one failure per entry.
    pub simulated_fail: Vec<String>,
    /// QEMU backend: the emulator and `qemu-img`, by name (on `PATH`) or path.
    pub qemu_binary: PathBuf,
    pub qemu_img: PathBuf,
    /// QEMU backend: use KVM instead of TCG (off: Linux guests hang under KVM on some hosts).
    pub qemu_kvm: bool,
    /// QEMU backend: seconds a guest has to power off after the ACPI power button, before a
    /// shutdown turns it off hard and a soft reboot resets it.
    pub qemu_acpi_timeout_secs: f64,
    /// Consoles: seconds a console's one-time password and link stay valid.
    pub console_ticket_secs: u64,
    /// Address the consoles' VNC (TCP) front end listens on.
    pub console_listen: std::net::IpAddr,
    /// Host the console action tells VNC viewers to connect to; unset means the host of the
    /// gateway's base URL (`public_url`, else the request's `Host`).
    pub console_host: Option<String>,
    /// Port range of the VNC front end: each `vnc` console gets a port of its own.
    pub console_port_first: u16,
    pub console_port_last: u16,
    /// An open console closes after this many seconds without traffic, and after
    /// `console_max_secs` in all.
    pub console_idle_secs: u64,
    pub console_max_secs: u64,
    /// Consoles open or waiting for their viewer at once.
    pub console_max_open: usize,
    /// Bytes of each direction's buffer of an open console.
    pub console_buffer_bytes: usize,
    /// Directory of the `@novnc/novnc` npm package the console page loads; unset means
    /// `web/node_modules/@novnc/novnc` in the source tree the binary was built from.
    pub console_novnc_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            public_url: None,
            region: "default".into(),
            token_ttl_secs: 30 * 24 * 3600,
            idle_timeout_secs: 20,
            request_timeout_secs: 60,
            shutdown_grace_secs: 30,
            max_json_body: 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            db_readers: 4,
            log: "info".into(),
            image_max_size: 1 << 40,
            image_quota_bytes: 0,
            image_max_members: 128,
            image_max_tags: 128,
            image_max_properties: 128,
            image_list_default_limit: 25,
            image_list_max_limit: 1000,
            property_protections_file: None,
            metadefs_list_default_limit: 25,
            metadefs_list_max_limit: 1000,
            metadefs_validate_image_properties: false,
            server_quota: 20,
            server_max_metadata: 128,
            server_max_personality: 5,
            poll_time_secs: 3600,
            mac_prefix: "aa:00:00".into(),
            public_cidr: "10.128.0.0/16".into(),
            public_cidr6: "2001:db8:128::/64".into(),
            network_quota: 10,
            floating_ip_quota: 5,
            backend: "auto".into(),
            simulated_build_secs: 5.0,
            simulated_op_secs: 2.0,
            stats_interval_secs: 10.0,
            simulated_fail: Vec::new(),
            qemu_binary: PathBuf::from("qemu-system-x86_64"),
            qemu_img: PathBuf::from("qemu-img"),
            qemu_kvm: false,
            qemu_acpi_timeout_secs: 30.0,
            console_ticket_secs: 30,
            console_listen: std::net::IpAddr::from([127, 0, 0, 1]),
            console_host: None,
            console_port_first: 15900,
            console_port_last: 15999,
            console_idle_secs: 600,
            console_max_secs: 8 * 3600,
            console_max_open: 100,
            console_buffer_bytes: 64 * 1024,
            console_novnc_dir: None,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

impl Config {
    /// Builds the configuration from every layer, lowest first.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let env_file = std::env::var_os("CYCLADES_CONFIG").map(PathBuf::from);
        if let Some(path) = file.map(Path::to_path_buf).or(env_file) {
            if !path.is_file() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            fig = fig.merge(Toml::file(path));
        }
        // CYCLADES_CONFIG names the file itself, and CYCLADES_USER_PASSWORD is an argument of
        // `user create`: neither is a key of the struct.
        fig = fig
            .merge(Env::prefixed("CYCLADES_").ignore(&["config", "user_password"]))
            .merge(Serialized::defaults(overrides));
        let cfg: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("public_url '{url}' must start with http:// or https://");
        }
        if self.image_list_default_limit == 0
            || self.image_list_default_limit > self.image_list_max_limit
        {
            anyhow::bail!("image_list_default_limit must be between 1 and image_list_max_limit");
        }
        if self.metadefs_list_default_limit == 0
            || self.metadefs_list_default_limit > self.metadefs_list_max_limit
        {
            anyhow::bail!(
                "metadefs_list_default_limit must be between 1 and metadefs_list_max_limit"
            );
        }
        crate::domain::address::MacPrefix::parse(&self.mac_prefix)
            .map_err(|e| anyhow::anyhow!("mac_prefix: {e}"))?;
        self.public_cidr.parse::<ipnet::Ipv4Net>().map_err(|_| {
            anyhow::anyhow!("public_cidr '{}' is not an IPv4 CIDR", self.public_cidr)
        })?;
        if !self.public_cidr6.is_empty() {
            let net: ipnet::Ipv6Net = self.public_cidr6.parse().map_err(|_| {
                anyhow::anyhow!("public_cidr6 '{}' is not an IPv6 CIDR", self.public_cidr6)
            })?;
            if net.prefix_len() > 64 {
                anyhow::bail!("public_cidr6 must be a /64 or shorter: addresses are EUI-64");
            }
        }
        if self.network_quota > 100_000 || self.floating_ip_quota > 100_000 {
            anyhow::bail!("network_quota and floating_ip_quota must be at most 100000");
        }
        if !["auto", "simulated", "qemu"].contains(&self.backend.as_str()) {
            anyhow::bail!("backend '{}' must be auto, simulated or qemu", self.backend);
        }
        if !(self.qemu_acpi_timeout_secs.is_finite()
            && (0.0..=3600.0).contains(&self.qemu_acpi_timeout_secs))
        {
            anyhow::bail!("qemu_acpi_timeout_secs must be between 0 and 3600");
        }
        for task in &self.simulated_fail {
            task_of(task)?;
        }
        if self.console_port_first == 0 || self.console_port_first > self.console_port_last {
            anyhow::bail!("console_port_first must be between 1 and console_port_last");
        }
        if self.console_ticket_secs == 0
            || self.console_idle_secs == 0
            || self.console_max_secs == 0
        {
            anyhow::bail!(
                "console_ticket_secs, console_idle_secs and console_max_secs must be at least 1"
            );
        }
        if self.console_buffer_bytes < 4096 {
            anyhow::bail!("console_buffer_bytes must be at least 4096");
        }
        if self.db_readers == 0 {
            anyhow::bail!("db_readers must be at least 1");
        }
        Ok(())
    }

    /// The backend tasks `simulated_fail` names.
    pub fn simulated_failures(&self) -> anyhow::Result<Vec<crate::domain::server::Task>> {
        self.simulated_fail.iter().map(|t| task_of(t)).collect()
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("cyclades.db")
    }
}

fn task_of(name: &str) -> anyhow::Result<crate::domain::server::Task> {
    use crate::domain::server::{RebootKind, Task};
    Ok(match name {
        "build" => Task::Build,
        "start" => Task::Start,
        "shutdown" => Task::Shutdown,
        "reboot" => Task::Reboot(RebootKind::Soft),
        "destroy" => Task::Destroy,
        other => anyhow::bail!(
            "simulated_fail entry '{other}' must be build, start, shutdown, reboot or destroy"
        ),
    })
}

#[cfg(test)]
// figment's Jail API fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "region = \"file\"\nidle_timeout_secs = 5\nlog = \"warn\"",
            )?;
            jail.set_env("CYCLADES_IDLE_TIMEOUT_SECS", "7");
            let o = Overrides {
                data_dir: Some("flagdir".into()),
                ..Default::default()
            };
            let c = Config::load(Some(Path::new("c.toml")), &o).map_err(|e| e.to_string())?;
            assert_eq!(c.region, "file");
            assert_eq!(c.idle_timeout_secs, 7);
            assert_eq!(c.data_dir, PathBuf::from("flagdir"));
            assert_eq!(c.log, "warn");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "regoin = \"typo\"")?;
            let err = Config::load(Some(Path::new("c.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("regoin"), "{err}");
            Ok(())
        });
    }
}
