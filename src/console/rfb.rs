//! The few RFB (VNC, RFC 6143) messages a proxy speaks itself: the version handshake and the
//! security handshake, with the viewer (the proxy as the server) and with the server's VNC
//! screen (the proxy as a client). Everything after the security handshake — ClientInit,
//! ServerInit and the session — passes through the splice untouched.
//!
//! Hand-written because it is about a hundred lines of fixed-size reads and writes; the RFB
//! crates are whole viewers or servers, none exposes just the handshake of a proxy. The DES
//! of VNC authentication comes from the `des` crate.

use des::Des;
use des::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Security type numbers (RFC 6143 §7.2).
const SEC_INVALID: u8 = 0;
const SEC_NONE: u8 = 1;
const SEC_VNC: u8 = 2;

/// The longest failure reason read from a server: a server that announces more is broken.
const MAX_REASON: u32 = 4096;

/// The protocol version both ends settled on. 3.3, 3.7 and 3.8 differ only in the security
/// handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V3_3,
    V3_7,
    V3_8,
}

impl Version {
    fn banner(self) -> &'static [u8; 12] {
        match self {
            Version::V3_3 => b"RFB 003.003\n",
            Version::V3_7 => b"RFB 003.007\n",
            Version::V3_8 => b"RFB 003.008\n",
        }
    }

    /// Reads a `RFB xxx.yyy\n` banner. Minor versions RFC 6143 does not define are read as
    /// 3.3, as it says; anything above 3.8 as 3.8.
    pub fn parse(banner: &[u8; 12]) -> Result<Version, RfbError> {
        let text = std::str::from_utf8(banner).map_err(|_| RfbError::NotRfb)?;
        let rest = text.strip_prefix("RFB ").ok_or(RfbError::NotRfb)?;
        let rest = rest.strip_suffix('\n').ok_or(RfbError::NotRfb)?;
        let (major, minor) = rest.split_once('.').ok_or(RfbError::NotRfb)?;
        let (major, minor): (u32, u32) = match (major.parse(), minor.parse()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(RfbError::NotRfb),
        };
        Ok(match (major, minor) {
            (3, 7) => Version::V3_7,
            (3, 8..) | (4.., _) => Version::V3_8,
            (3, _) => Version::V3_3,
            _ => return Err(RfbError::NotRfb),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RfbError {
    #[error("the peer does not speak RFB")]
    NotRfb,
    #[error("the viewer chose security type {0}, which was not offered")]
    BadChoice(u8),
    #[error("the VNC server refused the connection: {0}")]
    Refused(String),
    #[error("the VNC server asks for a password (security types {0:?}); the proxy needs None")]
    NeedsAuth(Vec<u8>),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How the proxy authenticates a viewer.
pub enum ViewerAuth<'a> {
    /// VNC authentication with this challenge; `check` is given the viewer's 16-byte answer.
    Vnc {
        challenge: [u8; 16],
        check: &'a (dyn Fn(&[u8; 16]) -> bool + Sync),
    },
    /// No RFB authentication: the viewer was authenticated before RFB started (the
    /// websocket's token).
    None,
}

/// What the viewer handshake found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub version: Version,
    /// False when the viewer's answer to the challenge was wrong.
    pub authenticated: bool,
    vnc_auth: bool,
}

/// The proxy as the RFB server: version, then the security type of `auth`, then (for VNC
/// authentication) the challenge and the viewer's response. The SecurityResult is left to
/// [`finish_viewer`], once the proxy knows whether the server's screen can be reached.
pub async fn greet_viewer<S>(io: &mut S, auth: ViewerAuth<'_>) -> Result<Viewer, RfbError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(Version::V3_8.banner()).await?;
    io.flush().await?;
    let mut banner = [0u8; 12];
    io.read_exact(&mut banner).await?;
    let version = Version::parse(&banner)?;
    let offered = match auth {
        ViewerAuth::Vnc { .. } => SEC_VNC,
        ViewerAuth::None => SEC_NONE,
    };
    if version == Version::V3_3 {
        // 3.3: the server decides.
        io.write_all(&u32::from(offered).to_be_bytes()).await?;
    } else {
        io.write_all(&[1, offered]).await?;
        io.flush().await?;
        let mut choice = [0u8; 1];
        io.read_exact(&mut choice).await?;
        if choice[0] != offered {
            return Err(RfbError::BadChoice(choice[0]));
        }
    }
    let authenticated = match auth {
        ViewerAuth::None => true,
        ViewerAuth::Vnc { challenge, check } => {
            io.write_all(&challenge).await?;
            io.flush().await?;
            let mut response = [0u8; 16];
            io.read_exact(&mut response).await?;
            check(&response)
        }
    };
    io.flush().await?;
    Ok(Viewer {
        version,
        authenticated,
        vnc_auth: offered == SEC_VNC,
    })
}

/// Sends the viewer the SecurityResult: OK, or failed with `reason` (only 3.8 viewers are
/// told the reason). With no RFB authentication, 3.3 and 3.7 have no SecurityResult: a
/// failure then just closes the connection.
pub async fn finish_viewer<S>(
    io: &mut S,
    viewer: &Viewer,
    reason: Option<&str>,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let has_result = viewer.vnc_auth || viewer.version == Version::V3_8;
    if has_result {
        match reason {
            None => io.write_all(&0u32.to_be_bytes()).await?,
            Some(text) => {
                io.write_all(&1u32.to_be_bytes()).await?;
                if viewer.version == Version::V3_8 {
                    let len = u32::try_from(text.len()).unwrap_or(0);
                    io.write_all(&len.to_be_bytes()).await?;
                    io.write_all(&text.as_bytes()[..len as usize]).await?;
                }
            }
        }
    }
    io.flush().await
}

/// The proxy as an RFB client of the server's screen, which must offer security type None
/// (the QEMU driver gives its VMs no VNC password: the socket is reachable only by the
/// gateway). Returns once the server accepted; ClientInit is the viewer's to send.
pub async fn open_server<S>(io: &mut S) -> Result<Version, RfbError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut banner = [0u8; 12];
    io.read_exact(&mut banner).await?;
    let version = Version::parse(&banner)?.min(Version::V3_8);
    io.write_all(version.banner()).await?;
    io.flush().await?;
    if version == Version::V3_3 {
        let mut ty = [0u8; 4];
        io.read_exact(&mut ty).await?;
        return match u32::from_be_bytes(ty) {
            1 => Ok(version),
            0 => Err(RfbError::Refused(read_reason(io).await?)),
            other => Err(RfbError::NeedsAuth(vec![
                u8::try_from(other).unwrap_or(255),
            ])),
        };
    }
    let mut n = [0u8; 1];
    io.read_exact(&mut n).await?;
    if n[0] == SEC_INVALID {
        return Err(RfbError::Refused(read_reason(io).await?));
    }
    let mut types = vec![0u8; usize::from(n[0])];
    io.read_exact(&mut types).await?;
    if !types.contains(&SEC_NONE) {
        return Err(RfbError::NeedsAuth(types));
    }
    io.write_all(&[SEC_NONE]).await?;
    io.flush().await?;
    if version == Version::V3_8 {
        let mut result = [0u8; 4];
        io.read_exact(&mut result).await?;
        if result != [0; 4] {
            return Err(RfbError::Refused(read_reason(io).await?));
        }
    }
    Ok(version)
}

async fn read_reason<S: AsyncRead + Unpin>(io: &mut S) -> Result<String, RfbError> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len).min(MAX_REASON);
    let mut text = vec![0u8; len as usize];
    io.read_exact(&mut text).await?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The viewer's answer to `challenge` for `password`: DES-ECB of the two 8-byte halves, keyed
/// by the password's first 8 bytes (zero-padded) with each byte's bits reversed — the VNC
/// quirk every viewer implements.
pub fn vnc_response(password: &str, challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.as_bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = Des::new(GenericArray::from_slice(&key));
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(half));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse(b"RFB 003.008\n").unwrap(), Version::V3_8);
        assert_eq!(Version::parse(b"RFB 003.007\n").unwrap(), Version::V3_7);
        assert_eq!(Version::parse(b"RFB 003.003\n").unwrap(), Version::V3_3);
        // Apple's 3.889 and other unknown minors above 8 are 3.8; those below are 3.3.
        assert_eq!(Version::parse(b"RFB 003.889\n").unwrap(), Version::V3_8);
        assert_eq!(Version::parse(b"RFB 003.005\n").unwrap(), Version::V3_3);
        assert!(Version::parse(b"GET / HTTP/1").is_err());
        assert!(Version::parse(b"RFB 00x.008\n").is_err());
    }

    #[test]
    fn vnc_response_matches_a_known_answer() {
        // The d3des known answer every VNC implementation is checked against: password
        // "password", challenge 0..16 (computed independently with OpenSSL's DES-ECB and
        // the bit-reversed key 0e86ceceee f64e26).
        let challenge: [u8; 16] = core::array::from_fn(|i| i as u8);
        let r = vnc_response("password", &challenge);
        assert_eq!(hex::encode(r), KNOWN);
        // Only the first 8 characters count.
        assert_eq!(vnc_response("password-and-more", &challenge), r);
        assert_ne!(vnc_response("passwore", &challenge), r);
    }

    const KNOWN: &str = "b866924125c8eebb9debc1db61c538e2";

    #[tokio::test]
    async fn viewer_and_server_handshakes_meet() {
        // The proxy's viewer side against its own server side: a 3.8 session with VNC auth.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let challenge = [7u8; 16];
        let want = vnc_response("secret", &challenge);
        let check = move |r: &[u8; 16]| *r == want;
        let server = tokio::spawn(async move {
            let v = greet_viewer(
                &mut a,
                ViewerAuth::Vnc {
                    challenge,
                    check: &check,
                },
            )
            .await
            .unwrap();
            finish_viewer(&mut a, &v, None).await.unwrap();
            v
        });
        // A minimal viewer.
        let mut banner = [0u8; 12];
        b.read_exact(&mut banner).await.unwrap();
        b.write_all(b"RFB 003.008\n").await.unwrap();
        let mut types = [0u8; 2];
        b.read_exact(&mut types).await.unwrap();
        assert_eq!(types, [1, 2]);
        b.write_all(&[2]).await.unwrap();
        let mut ch = [0u8; 16];
        b.read_exact(&mut ch).await.unwrap();
        b.write_all(&vnc_response("secret", &ch)).await.unwrap();
        let mut result = [0u8; 4];
        b.read_exact(&mut result).await.unwrap();
        assert_eq!(result, [0; 4]);
        let v = server.await.unwrap();
        assert!(v.authenticated);
        assert_eq!(v.version, Version::V3_8);
    }

    #[tokio::test]
    async fn a_3_3_viewer_is_told_the_type_and_a_wrong_answer_fails() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let challenge = [3u8; 16];
        let want = vnc_response("secret", &challenge);
        let check = move |r: &[u8; 16]| *r == want;
        let server = tokio::spawn(async move {
            let v = greet_viewer(
                &mut a,
                ViewerAuth::Vnc {
                    challenge,
                    check: &check,
                },
            )
            .await
            .unwrap();
            finish_viewer(&mut a, &v, Some("authentication failed"))
                .await
                .unwrap();
            v
        });
        let mut banner = [0u8; 12];
        b.read_exact(&mut banner).await.unwrap();
        b.write_all(b"RFB 003.003\n").await.unwrap();
        let mut ty = [0u8; 4];
        b.read_exact(&mut ty).await.unwrap();
        assert_eq!(
            u32::from_be_bytes(ty),
            2,
            "3.3: the server names VNC authentication"
        );
        let mut ch = [0u8; 16];
        b.read_exact(&mut ch).await.unwrap();
        b.write_all(&vnc_response("wrong", &ch)).await.unwrap();
        let mut result = [0u8; 4];
        b.read_exact(&mut result).await.unwrap();
        assert_eq!(u32::from_be_bytes(result), 1);
        // 3.3 has no reason string: the connection just ends.
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        let v = server.await.unwrap();
        assert!(!v.authenticated);
        assert_eq!(v.version, Version::V3_3);
    }

    #[tokio::test]
    async fn a_screen_that_wants_a_password_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let screen = tokio::spawn(async move {
            b.write_all(b"RFB 003.008\n").await.unwrap();
            let mut v = [0u8; 12];
            b.read_exact(&mut v).await.unwrap();
            b.write_all(&[1, 2]).await.unwrap();
            b
        });
        let err = open_server(&mut a).await.unwrap_err();
        assert!(
            matches!(err, RfbError::NeedsAuth(ref t) if t == &[2]),
            "{err}"
        );
        drop(screen.await.unwrap());
    }
}
