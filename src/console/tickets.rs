//! One-time console tickets: what the console action hands out and the front ends take.
//!
//! A ticket is bound to one server and its owner, and lives for a short window (30 s by
//! default). It carries two credentials, and the first one used consumes the ticket:
//!
//! - a **password** for the TCP front end's VNC authentication. VNC authentication is a
//!   challenge-response whose verifier needs the password (DES key), so a plain hash would
//!   not do. Because the ticket is used once, its challenge is fixed when it is issued: the
//!   ticket keeps that challenge and the SHA-256 of the expected answer, and forgets the
//!   password. A viewer proves it knows the password by answering that one challenge.
//! - a **token** for the websocket front end; only its SHA-256 is kept.
//!
//! Unknown, used and expired credentials look alike to the caller: [`Tickets::take`]
//! answers `None` for all three.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};

use super::rfb::vnc_response;

/// VNC authentication reads only the first 8 characters of a password: a longer one would
/// promise strength it does not have.
pub const PASSWORD_LEN: usize = 8;
const PASSWORD_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Who may use a ticket, for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub server_id: i64,
    pub user_id: String,
}

/// A ticket as the front end that took it sees it.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub binding: Binding,
    /// The fixed challenge of the TCP front end's VNC authentication.
    pub challenge: [u8; 16],
    answer_hash: [u8; 32],
}

impl Ticket {
    /// Whether `response` is the answer to the ticket's challenge for its password.
    pub fn accepts(&self, response: &[u8; 16]) -> bool {
        // Compares hashes: equal-length digests of secrets, so timing reveals nothing
        // useful.
        sha256(response) == self.answer_hash
    }
}

/// The credentials of a new ticket: shown to the caller once, never stored.
#[derive(Debug, Clone)]
pub struct Issued {
    pub password: String,
    pub token: String,
    /// The key [`Tickets::take`] finds the ticket by from the TCP front end.
    pub key: [u8; 32],
}

/// What a ticket holds while it waits, dropped with it: the sender a TCP listener waits on
/// (it stops when the ticket is taken elsewhere or expires), or a console slot.
pub type Hold = Box<dyn Send>;

struct Entry {
    ticket: Ticket,
    expires: Instant,
    _hold: Option<Hold>,
}

/// The tickets not yet used nor expired, by the SHA-256 of their token.
#[derive(Default)]
pub struct Tickets {
    live: Mutex<HashMap<[u8; 32], Entry>>,
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Tickets {
    /// Creates a ticket for `binding`, valid for `window`. `hold` is dropped when the ticket
    /// is taken or found expired.
    pub fn issue(&self, binding: Binding, window: Duration, hold: Option<Hold>) -> Issued {
        let mut rng = rand::rng();
        let password: String = (0..PASSWORD_LEN)
            .map(|_| char::from(PASSWORD_CHARS[rng.random_range(0..PASSWORD_CHARS.len())]))
            .collect();
        let token = hex::encode(rng.random::<[u8; 32]>());
        let challenge: [u8; 16] = rng.random();
        let ticket = Ticket {
            binding,
            challenge,
            answer_hash: sha256(&vnc_response(&password, &challenge)),
        };
        let key = sha256(token.as_bytes());
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, e| e.expires > now);
        live.insert(
            key,
            Entry {
                ticket,
                expires: now + window,
                _hold: hold,
            },
        );
        Issued {
            password,
            token,
            key,
        }
    }

    /// Consumes the ticket whose token hashes to `key`, if it is live.
    pub fn take(&self, key: &[u8; 32]) -> Option<Ticket> {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let entry = live.remove(key)?;
        (entry.expires > now).then_some(entry.ticket)
    }

    /// Consumes the ticket of a websocket `token`.
    pub fn take_token(&self, token: &str) -> Option<Ticket> {
        self.take(&sha256(token.as_bytes()))
    }

    /// Forgets the expired tickets (dropping what they hold).
    pub fn purge(&self) {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, e| e.expires > now);
    }

    /// Tickets issued and not yet used nor expired.
    pub fn live(&self) -> usize {
        let now = Instant::now();
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.values().filter(|e| e.expires > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding {
            server_id: 7,
            user_id: "u1".into(),
        }
    }

    #[test]
    fn a_ticket_is_taken_once() {
        let t = Tickets::default();
        let i = t.issue(binding(), Duration::from_secs(30), None);
        assert_eq!(i.password.len(), PASSWORD_LEN);
        let ticket = t.take_token(&i.token).expect("live");
        assert_eq!(ticket.binding, binding());
        assert!(t.take_token(&i.token).is_none(), "a second use");
        assert!(t.take(&i.key).is_none(), "nor through the other front end");
    }

    #[test]
    fn the_password_answers_the_fixed_challenge_and_nothing_else_does() {
        let t = Tickets::default();
        let i = t.issue(binding(), Duration::from_secs(30), None);
        let ticket = t.take(&i.key).unwrap();
        assert!(ticket.accepts(&vnc_response(&i.password, &ticket.challenge)));
        assert!(!ticket.accepts(&vnc_response("wrongpw1", &ticket.challenge)));
        assert!(!ticket.accepts(&[0; 16]));
    }

    #[test]
    fn expired_and_unknown_tickets_are_refused_alike() {
        let t = Tickets::default();
        let i = t.issue(binding(), Duration::ZERO, None);
        assert!(t.take_token(&i.token).is_none());
        assert!(t.take_token("not-a-token").is_none());
        assert_eq!(t.live(), 0);
    }

    #[test]
    fn taking_or_expiring_drops_the_listeners_signal() {
        let t = Tickets::default();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let i = t.issue(binding(), Duration::from_secs(30), Some(Box::new(tx)));
        assert!(
            rx.try_recv()
                .is_err_and(|e| e == tokio::sync::oneshot::error::TryRecvError::Empty)
        );
        t.take_token(&i.token).unwrap();
        assert_eq!(
            rx.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        );
    }

    #[test]
    fn credentials_are_random() {
        let t = Tickets::default();
        let a = t.issue(binding(), Duration::from_secs(30), None);
        let b = t.issue(binding(), Duration::from_secs(30), None);
        assert_ne!(a.password, b.password);
        assert_ne!(a.token, b.token);
        assert_eq!(t.live(), 2);
    }
}
