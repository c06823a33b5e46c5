//! TLS to the broker (`[mqtt] url = "mqtts://..."`, `ca_file`,
//! `client_cert`, `client_key`) over rumqttc's rustls transport.
//!
//! The PEM files are read and checked once at start-up, so a missing or
//! wrong file is a start-up error naming it rather than a connection that
//! fails forever. Without `ca_file` the system's roots are used (Debian's
//! `/etc/ssl/certs/ca-certificates.crt`). The broker's certificate must name
//! the host hubd connects to (a DNS name or an IP address SAN).

use std::path::{Path, PathBuf};

use rumqttc::{TlsConfiguration, Transport};
use thiserror::Error;

/// The system's CA bundle (Debian's `ca-certificates`).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read the MQTT {what} `{path}`: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the MQTT {what} `{path}` holds no PEM {expected}")]
    NotPem { what: &'static str, path: PathBuf, expected: &'static str },
}

/// The PEM files of a TLS link (paths already resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    /// Client certificate and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

fn read_pem(what: &'static str, path: &Path, markers: &[&str], expected: &'static str) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    if !markers.iter().any(|m| text.contains(&format!("-----BEGIN {m}-----"))) {
        return Err(TlsError::NotPem { what, path: path.to_path_buf(), expected });
    }
    Ok(bytes)
}

/// A checked TLS configuration; its `Debug` never prints the key.
#[derive(Clone)]
pub struct TlsTransport(TlsConfiguration);

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport(..)")
    }
}

impl TlsTransport {
    /// rumqttc's transport.
    pub fn transport(&self) -> Transport {
        Transport::tls_with_config(self.0.clone())
    }
}

/// rumqttc's TLS configuration for `files`.
pub fn transport(files: &TlsFiles) -> Result<TlsTransport, TlsError> {
    let ca_path = files.ca.clone().unwrap_or_else(|| PathBuf::from(SYSTEM_ROOTS));
    let ca = read_pem("CA file", &ca_path, &["CERTIFICATE"], "certificate")?;
    let client_auth = match &files.client {
        Some((cert, key)) => Some((
            read_pem("client certificate", cert, &["CERTIFICATE"], "certificate")?,
            read_pem("client key", key, &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"], "private key")?,
        )),
        None => None,
    };
    Ok(TlsTransport(TlsConfiguration::Simple { ca, alpn: None, client_auth }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_non_pem_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = transport(&TlsFiles { ca: Some(dir.path().join("absent.pem")), client: None }).unwrap_err();
        assert!(matches!(&e, TlsError::Read { what: "CA file", .. }) && e.to_string().contains("absent.pem"), "{e}");
        let e = transport(&TlsFiles { ca: Some(junk.clone()), client: None }).unwrap_err();
        assert!(matches!(e, TlsError::NotPem { what: "CA file", .. }), "{e}");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").unwrap();
        let e = transport(&TlsFiles { ca: Some(ca.clone()), client: Some((ca.clone(), junk)) }).unwrap_err();
        assert!(matches!(e, TlsError::NotPem { what: "client key", .. }), "{e}");
        let t = transport(&TlsFiles { ca: Some(ca), client: None }).unwrap();
        assert!(matches!(t.transport(), Transport::Tls(_)));
        assert_eq!(format!("{t:?}"), "TlsTransport(..)");
    }
}
