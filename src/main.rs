//! The `cyclades` command line: `serve`, user/token/flavor administration, `db migrate`,
//! and `routes`. Every subcommand takes `--data-dir DIR` and `--config FILE`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use cyclades::config::{Config, Overrides};
use cyclades::domain::flavor::{DEFAULT_DISK_TEMPLATE, NewFlavor};
use cyclades::domain::identity::{
    NewUser, Role, hash_password, new_token, token_hash, validate_user_name,
};
use cyclades::domain::time;
use cyclades::store::Store;
use cyclades::store::sqlite::SqliteStore;

#[derive(Parser)]
#[command(
    name = "cyclades",
    version,
    about = "A compute-and-image gateway in the style of Synnefo's Cyclades"
)]
struct Cli {
    /// Data directory: SQLite database and image store.
    #[arg(long, global = true, env = "CYCLADES_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (layered under CYCLADES_* variables and flags).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Compute backend: simulated, qemu or auto (the `backend` setting).
        #[arg(long)]
        backend: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Issue and revoke tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Manage flavors.
    #[command(subcommand)]
    Flavor(FlavorCmd),
    /// Administer servers.
    #[command(subcommand)]
    Server(ServerCmd),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCmd),
    /// Print every route the gateway serves, one `METHOD PATH` per line.
    Routes,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user; prints its first token as the last line.
    Create {
        name: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
        /// Extra roles (admin, member, reader); member is the default.
        #[arg(long = "role")]
        roles: Vec<Role>,
        /// Project (tenant) id; created when new. Default: a new project of its own.
        #[arg(long)]
        project: Option<String>,
        /// Password for POST /identity/v2.0/tokens with passwordCredentials.
        #[arg(long, env = "CYCLADES_USER_PASSWORD")]
        password: Option<String>,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Issue a new token for USER; prints it as the last line.
    Issue {
        user: String,
        /// Lifetime in seconds (default: the configured token_ttl_secs).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Revoke a token.
    Revoke { token: String },
}

#[derive(Subcommand)]
enum FlavorCmd {
    /// Create a flavor; prints its id as the last line.
    Create(FlavorArgs),
    /// List flavors.
    List,
    /// Delete a flavor.
    Delete { id: i64 },
}

#[derive(Args)]
struct FlavorArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    vcpus: u32,
    /// RAM in MiB.
    #[arg(long)]
    ram: u32,
    /// Disk in GiB.
    #[arg(long)]
    disk: u32,
    #[arg(long, default_value = DEFAULT_DISK_TEMPLATE)]
    disk_template: String,
}

#[derive(Subcommand)]
enum ServerCmd {
    /// Suspend a server administratively: its owner can no longer act on it or change it.
    Suspend { id: i64 },
    /// Lift an administrative suspension.
    Unsuspend { id: i64 },
}

#[derive(Subcommand)]
enum DbCmd {
    /// Create or upgrade the database schema.
    Migrate,
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Arc::new(SqliteStore::open(&cfg.db_path(), 1).await?))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (listen, backend) = match &cli.cmd {
        Cmd::Serve { listen, backend } => (*listen, backend.clone()),
        _ => (None, None),
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
        backend,
    };
    let cfg = Config::load(cli.config.as_deref(), &overrides)?;
    init_logging(&cfg.log);
    match cli.cmd {
        Cmd::Serve { .. } => cyclades::server::serve(cfg).await,
        Cmd::Routes => {
            let (_, mut routes) = cyclades::api::build(&cfg);
            routes.sort();
            // Written by hand rather than println!: a closed pipe (`cyclades routes | head`)
            // ends the listing quietly instead of panicking.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for r in routes {
                if writeln!(out, "{} {}", r.method, r.path).is_err() {
                    break;
                }
            }
            Ok(())
        }
        Cmd::User(cmd) => user(&cfg, cmd).await,
        Cmd::Token(cmd) => token(&cfg, cmd).await,
        Cmd::Flavor(cmd) => flavor(&cfg, cmd).await,
        Cmd::Server(cmd) => {
            let store = open_store(&cfg).await?;
            let (id, suspend) = match cmd {
                ServerCmd::Suspend { id } => (id, true),
                ServerCmd::Unsuspend { id } => (id, false),
            };
            let done = store.set_server_suspended(id, suspend).await?;
            store.close().await;
            if !done {
                anyhow::bail!("no live server with id {id}");
            }
            println!(
                "server {id} {}",
                if suspend { "suspended" } else { "unsuspended" }
            );
            Ok(())
        }
        Cmd::Db(DbCmd::Migrate) => {
            let store = open_store(&cfg).await?;
            println!(
                "database {} is at schema version {}",
                cfg.db_path().display(),
                store.schema_version().await?
            );
            store.close().await;
            Ok(())
        }
    }
}

async fn issue(
    store: &Arc<dyn Store>,
    user_id: &str,
    ttl: u64,
) -> anyhow::Result<(String, time::Timestamp)> {
    let token = new_token();
    let expires = time::now() + chrono::Duration::seconds(ttl.min(i64::MAX as u64) as i64);
    store
        .insert_token(token_hash(&token), user_id.to_owned(), expires)
        .await?;
    Ok((token, expires))
}

async fn user(cfg: &Config, cmd: UserCmd) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    match cmd {
        UserCmd::Create {
            name,
            admin,
            mut roles,
            project,
            password,
        } => {
            validate_user_name(&name).map_err(anyhow::Error::msg)?;
            if admin {
                roles.push(Role::Admin);
            }
            if !roles.contains(&Role::Reader) || roles.contains(&Role::Admin) {
                roles.push(Role::Member);
            }
            roles.sort();
            roles.dedup();
            let password_hash = password
                .map(|p| hash_password(&p))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let user = store
                .create_user(NewUser {
                    name,
                    project,
                    roles,
                    password_hash,
                })
                .await?;
            let (token, expires) = issue(&store, &user.id, cfg.token_ttl_secs).await?;
            println!(
                "created user '{}' (id {}, project {}, roles {}); token expires {}:",
                user.name,
                user.id,
                user.project.id,
                cyclades::domain::identity::roles_to_string(&user.roles),
                time::iso(&expires)
            );
            println!("{token}");
        }
        UserCmd::List => {
            println!("{:<32}  {:<20}  {:<32}  roles", "id", "name", "project");
            for u in store.list_users().await? {
                println!(
                    "{:<32}  {:<20}  {:<32}  {}",
                    u.id,
                    u.name,
                    u.project.id,
                    cyclades::domain::identity::roles_to_string(&u.roles)
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn token(cfg: &Config, cmd: TokenCmd) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    match cmd {
        TokenCmd::Issue { user, ttl } => {
            let u = store.user_by_name(&user).await?.ok_or_else(|| {
                anyhow::anyhow!("no user named '{user}' (see `cyclades user list`)")
            })?;
            let (token, expires) = issue(&store, &u.id, ttl.unwrap_or(cfg.token_ttl_secs)).await?;
            println!("token for '{}' expires {}:", u.name, time::iso(&expires));
            println!("{token}");
        }
        TokenCmd::Revoke { token } => {
            if !store.revoke_token(token_hash(token.trim())).await? {
                anyhow::bail!("no such token (already revoked or expired)");
            }
            println!("revoked");
        }
    }
    store.close().await;
    Ok(())
}

async fn flavor(cfg: &Config, cmd: FlavorCmd) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    match cmd {
        FlavorCmd::Create(a) => {
            let new = NewFlavor {
                name: a.name,
                vcpus: a.vcpus,
                ram: a.ram,
                disk: a.disk,
                disk_template: a.disk_template,
            };
            new.validate().map_err(anyhow::Error::msg)?;
            let f = store.create_flavor(new).await?;
            println!("created flavor '{}':", f.name);
            println!("{}", f.id);
        }
        FlavorCmd::List => {
            println!(
                "{:>4}  {:<24}  {:>5}  {:>8}  {:>6}  template",
                "id", "name", "vcpus", "ram(MiB)", "disk"
            );
            for f in store.list_flavors().await? {
                println!(
                    "{:>4}  {:<24}  {:>5}  {:>8}  {:>6}  {}",
                    f.id, f.name, f.vcpus, f.ram, f.disk, f.disk_template
                );
            }
        }
        FlavorCmd::Delete { id } => {
            if !store.delete_flavor(id).await? {
                anyhow::bail!("no flavor with id {id}");
            }
            println!("deleted flavor {id}");
        }
    }
    store.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cyclades: {e:#}");
            ExitCode::FAILURE
        }
    }
}
