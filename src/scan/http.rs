//! HTTP and HTTPS probe: one `GET /` (HTTP/1.0, so no chunked answer), then the status, the
//! `Server` header, the page title and, over TLS, the certificate's subject. It sends no
//! credential and follows no redirect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::read::{bounded, clean, deadline, MAX_ANSWER};

/// What a web server told about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HttpInfo {
    pub status: Option<u16>,
    pub server: Option<String>,
    pub title: Option<String>,
    /// The TLS certificate's subject (HTTPS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
}

/// An HTTP request for `path` to `addr`.
pub fn request(method: &str, path: &str, addr: SocketAddr, headers: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: keyreeve-scan\r\nAccept: */*\r\n{headers}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Probes `addr` over plain HTTP, or TLS when `tls`; none when nothing HTTP-like answered.
pub async fn probe(addr: SocketAddr, tls: bool, timeout: Duration) -> Option<HttpInfo> {
    let until = deadline(timeout);
    let tcp = tokio::time::timeout_at(until, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let req = request("GET", "/", addr, "");
    let enough = |b: &[u8]| {
        let lower = String::from_utf8_lossy(b).to_ascii_lowercase();
        lower.contains("</title>")
    };
    let (answer, cert_subject) = if tls {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(no_verify_config()));
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let mut stream = tokio::time::timeout_at(until, connector.connect(name, tcp))
            .await
            .ok()?
            .ok()?;
        let subject = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|der| subject_of(der.as_ref()));
        tokio::time::timeout_at(until, stream.write_all(&req))
            .await
            .ok()?
            .ok()?;
        (bounded(&mut stream, MAX_ANSWER, until, enough).await, subject)
    } else {
        let mut stream = tcp;
        tokio::time::timeout_at(until, stream.write_all(&req))
            .await
            .ok()?
            .ok()?;
        (bounded(&mut stream, MAX_ANSWER, until, enough).await, None)
    };
    let mut info = parse(&answer)?;
    info.cert_subject = cert_subject;
    Some(info)
}

/// Reads an HTTP answer (possibly cut short); none when it does not start like one.
pub fn parse(answer: &[u8]) -> Option<HttpInfo> {
    if !answer.starts_with(b"HTTP/") {
        return None;
    }
    let head_end = find(answer, b"\r\n\r\n").unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    let server = lines
        .take(100)
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("server")
                .then(|| clean(value.as_bytes()))
        })
        .filter(|s| !s.is_empty());
    let body = answer.get(head_end..).unwrap_or_default();
    Some(HttpInfo {
        status,
        server,
        title: title(body),
        cert_subject: None,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The text of the page's `<title>`.
pub fn title(body: &[u8]) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let open = find(&lower, b"<title")?;
    let start = open + find(&lower[open..], b">")? + 1;
    let end = start + find(&lower[start..], b"</title").unwrap_or(lower.len() - start);
    Some(clean(&body[start..end])).filter(|t| !t.is_empty())
}

/// A certificate's subject, e.g. `O=Lab Devices, CN=lab-portal.lab.test`.
fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(clean(cert.tbs_certificate.subject.to_string().as_bytes()))
}

/// A TLS client that accepts any certificate. Acceptable ONLY because the scan sends no secret:
/// it reads the certificate to describe the device (self-signed ones are the rule on printers
/// and appliances) and sends a bare `GET /`. Never use it for anything that logs in.
fn no_verify_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_server_and_title_even_cut_short() {
        let a = b"HTTP/1.1 200 OK\r\nServer: CUPS/2.4 IPP/2.1\r\nContent-Type: text/html\r\n\r\n<html><HEAD><TITLE>Home - CUPS 2.4.2</TITLE>";
        let i = parse(a).unwrap();
        assert_eq!(i.status, Some(200));
        assert_eq!(i.server.as_deref(), Some("CUPS/2.4 IPP/2.1"));
        assert_eq!(i.title.as_deref(), Some("Home - CUPS 2.4.2"));
        let cut = parse(b"HTTP/1.1 401 Unauthorized\r\nServer: \x1b[31mevil\r\n\r\n<title>Log\nin").unwrap();
        assert_eq!(cut.server.as_deref(), Some("[31mevil"));
        assert_eq!(cut.title.as_deref(), Some("Log in"));
        assert_eq!(parse(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
    }
}
