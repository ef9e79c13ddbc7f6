//! IPP probe (printers, port 631): a Get-Printer-Attributes request over HTTP/1.0 to
//! `/ipp/print` (where IPP Everywhere printers answer), and when that printer does not exist a
//! CUPS-Get-Default (a print server names its default queue). Reads the status and the printer's
//! make and model, name and info. No job is ever sent.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::read::{bounded, clean, deadline, MAX_ANSWER};

const GET_PRINTER_ATTRIBUTES: u16 = 0x000B;
const CUPS_GET_DEFAULT: u16 = 0x4001;

/// What an IPP server told.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IppInfo {
    /// The IPP status code of the last answer (0 = successful-ok).
    pub status: u16,
    pub server: Option<String>,
    pub make_and_model: Option<String>,
    pub name: Option<String>,
    pub info: Option<String>,
}

fn attribute(out: &mut Vec<u8>, tag: u8, name: &str, value: &str) {
    out.push(tag);
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// The IPP request body for `operation`.
pub fn request_body(operation: u16, printer_uri: Option<&str>) -> Vec<u8> {
    let mut b = vec![2, 0];
    b.extend_from_slice(&operation.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.push(0x01);
    attribute(&mut b, 0x47, "attributes-charset", "utf-8");
    attribute(&mut b, 0x48, "attributes-natural-language", "en");
    if let Some(uri) = printer_uri {
        attribute(&mut b, 0x45, "printer-uri", uri);
    }
    attribute(&mut b, 0x44, "requested-attributes", "printer-make-and-model");
    attribute(&mut b, 0x44, "", "printer-name");
    attribute(&mut b, 0x44, "", "printer-info");
    b.push(0x03);
    b
}

async fn exchange(addr: SocketAddr, path: &str, body: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let until = deadline(timeout);
    let mut stream = tokio::time::timeout_at(until, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut req = super::http::request(
        "POST",
        path,
        addr,
        &format!("Content-Type: application/ipp\r\nContent-Length: {}\r\n", body.len()),
    );
    req.extend_from_slice(body);
    tokio::time::timeout_at(until, stream.write_all(&req))
        .await
        .ok()?
        .ok()?;
    Some(bounded(&mut stream, MAX_ANSWER, until, |_| false).await)
}

/// Probes `addr`; none when it does not answer IPP.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Option<IppInfo> {
    let host = match addr {
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => a.to_string(),
    };
    let uri = format!("ipp://{host}/ipp/print");
    let answer = exchange(
        addr,
        "/ipp/print",
        &request_body(GET_PRINTER_ATTRIBUTES, Some(&uri)),
        timeout,
    )
    .await?;
    let first = parse(&answer)?;
    if first.status < 0x0400 || first.make_and_model.is_some() {
        return Some(first);
    }
    let answer = exchange(addr, "/", &request_body(CUPS_GET_DEFAULT, None), timeout).await;
    match answer.as_deref().and_then(parse) {
        Some(default) if default.status < 0x0400 => Some(IppInfo {
            server: default.server.or(first.server),
            ..default
        }),
        _ => Some(first),
    }
}

/// Reads an HTTP answer carrying IPP; none when it is not one.
pub fn parse(answer: &[u8]) -> Option<IppInfo> {
    let head = super::http::parse(answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head_text = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    if !head_text.contains("application/ipp") {
        return None;
    }
    let body = &answer[split..];
    if body.len() < 8 || !(1..=2).contains(&body[0]) {
        return None;
    }
    let mut info = IppInfo {
        status: u16::from_be_bytes([body[2], body[3]]),
        server: head.server,
        ..IppInfo::default()
    };
    let mut at = 8;
    let mut last_name = String::new();
    while at < body.len() {
        let tag = body[at];
        at += 1;
        if tag == 0x03 {
            break;
        }
        if tag < 0x10 {
            continue;
        }
        let len =
            |at: usize| -> Option<usize> { Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]) as usize) };
        let name_len = len(at)?;
        let name = body.get(at + 2..at + 2 + name_len)?;
        at += 2 + name_len;
        let value_len = len(at)?;
        let value = body.get(at + 2..at + 2 + value_len)?;
        at += 2 + value_len;
        if !name.is_empty() {
            last_name = String::from_utf8_lossy(name).into_owned();
        }
        let text = Some(clean(value)).filter(|v| !v.is_empty());
        match last_name.as_str() {
            "printer-make-and-model" if info.make_and_model.is_none() => info.make_and_model = text,
            "printer-name" if info.name.is_none() => info.name = text,
            "printer-info" if info.info.is_none() => info.info = text,
            _ => {}
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ipp_answer_and_survives_a_truncated_one() {
        let mut body = vec![2, 0, 0, 0, 0, 0, 0, 1, 0x01];
        attribute(&mut body, 0x47, "attributes-charset", "utf-8");
        body.push(0x04);
        attribute(&mut body, 0x41, "printer-make-and-model", "HP LaserJet M402");
        attribute(&mut body, 0x42, "printer-name", "lab");
        body.push(0x03);
        let mut answer =
            b"HTTP/1.1 200 OK\r\nServer: CUPS/2.4 IPP/2.1\r\nContent-Type: application/ipp\r\n\r\n".to_vec();
        answer.extend_from_slice(&body);
        let info = parse(&answer).unwrap();
        assert_eq!(info.status, 0);
        assert_eq!(info.make_and_model.as_deref(), Some("HP LaserJet M402"));
        assert_eq!(info.name.as_deref(), Some("lab"));
        for cut in 0..answer.len() {
            let _ = parse(&answer[..cut]);
        }
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>"), None);
        assert_eq!(request_body(CUPS_GET_DEFAULT, None)[2..4], [0x40, 0x01]);
    }
}
