//! Users, projects (tenants), roles and tokens.
//!
//! A token is 32 random bytes in base64url; only its SHA-256 is ever stored, so a leaked
//! database does not leak usable tokens.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Admin,
    Member,
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reader => "reader",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "reader" => Ok(Role::Reader),
            other => Err(format!(
                "unknown role '{other}': expected admin, member or reader"
            )),
        }
    }
}

/// Roles are stored as a comma-separated list.
pub fn roles_to_string(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn roles_from_string(s: &str) -> Vec<Role> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub project: Project,
    pub roles: Vec<Role>,
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
}

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: User,
    pub token_expires: Timestamp,
}

pub struct NewUser {
    pub name: String,
    /// Project id; a project of that id is created when it does not exist yet.
    pub project: Option<String>,
    pub roles: Vec<Role>,
    pub password_hash: Option<String>,
}

/// Checks a user name: what the CLI and the catalogs print must stay one readable line.
pub fn validate_user_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err(format!(
            "user name '{name}' must be 1 to 128 characters long"
        ));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "user name '{}' must not contain spaces or control characters",
            name.escape_default()
        ));
    }
    Ok(())
}

/// A fresh token: 32 random bytes, base64url without padding (43 characters). It never
/// starts with `-`: command-line clients (kamaki's `config set … TOKEN`, glance's
/// `--os-auth-token TOKEN`) would read such a token as an option. Drawing again costs one
/// draw in 64 and leaves well over 250 bits of randomness.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    loop {
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !token.starts_with('-') {
            return token;
        }
    }
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random id for users and projects: 32 lowercase hex digits, as Keystone prints them.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_start_with_a_dash() {
        // One token in 64 would, without the redraw; 2,000 draws would meet ~31 of them.
        assert!((0..2000).all(|_| !new_token().starts_with('-')));
    }

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn roles_round_trip() {
        let r = vec![Role::Admin, Role::Member];
        assert_eq!(roles_from_string(&roles_to_string(&r)), r);
        assert!("owner".parse::<Role>().is_err());
    }
}
