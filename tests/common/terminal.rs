//! An interactive pty terminal on an emulated lab device, over ssh2, for tests that check what a
//! device prints (prompts, banners, menus, paging, errors) byte for byte, the way a technician's
//! terminal would see it. (tests/lab_devices.rs has its own copy from before this module.)

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use keyreeve::lab::LabDeviceInfo;
use regex::Regex;

pub fn connect(info: &LabDeviceInfo, user: &str, password: &str) -> Result<ssh2::Session, String> {
    let tcp = TcpStream::connect((info.address.as_str(), info.port)).map_err(|e| format!("connect: {e}"))?;
    let mut sess = ssh2::Session::new().map_err(|e| e.to_string())?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(10_000);
    sess.handshake().map_err(|e| format!("handshake: {e}"))?;
    let hash = sess.host_key_hash(ssh2::HashType::Sha256).ok_or("no host key hash")?;
    let fp = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    );
    assert_eq!(
        fp, info.host_key_fingerprint,
        "host key fingerprint as reported by the lab"
    );
    sess.userauth_password(user, password)
        .map_err(|e| format!("auth: {e}"))?;
    Ok(sess)
}

/// An interactive pty shell.
pub struct Term {
    _sess: ssh2::Session,
    ch: ssh2::Channel,
    buf: String,
}

impl Term {
    pub fn open(info: &LabDeviceInfo, user: &str, password: &str, prompt: &str) -> Term {
        Term::open_with_greeting(info, user, password, prompt).0
    }

    /// A shell and what the device printed up to its first prompt.
    pub fn open_with_greeting(info: &LabDeviceInfo, user: &str, password: &str, prompt: &str) -> (Term, String) {
        let sess = connect(info, user, password).expect("login");
        let mut ch = sess.channel_session().expect("channel");
        ch.request_pty("vt100", None, Some((80, 24, 0, 0))).expect("pty");
        ch.shell().expect("shell");
        sess.set_blocking(false);
        let mut t = Term {
            _sess: sess,
            ch,
            buf: String::new(),
        };
        let greeting = t.expect(prompt);
        (t, greeting)
    }

    pub fn write(&mut self, s: &str) {
        let mut data = s.as_bytes();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !data.is_empty() {
            match self.ch.write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("write: {e}"),
            }
        }
    }

    /// Reads until `pattern` matches the end of what arrived; returns everything up to the match end.
    pub fn try_expect(&mut self, pattern: &str, timeout: Duration) -> Result<String, String> {
        let re = Regex::new(pattern).expect("regex");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = re.find(&self.buf) {
                let out = self.buf[..m.end()].to_string();
                self.buf = self.buf[m.end()..].to_string();
                return Ok(out);
            }
            let mut chunk = [0u8; 4096];
            match self.ch.read(&mut chunk) {
                Ok(0) if self.ch.eof() => return Err(format!("closed; seen: {:?}", self.buf)),
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("read: {e}; seen: {:?}", self.buf)),
            }
            if Instant::now() > deadline {
                return Err(format!("timeout waiting for {pattern:?}; seen: {:?}", self.buf));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn expect(&mut self, pattern: &str) -> String {
        self.try_expect(pattern, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends a line and reads until `pattern`.
    pub fn cmd(&mut self, line: &str, pattern: &str) -> String {
        self.write(&format!("{line}\r"));
        self.expect(pattern)
    }

    pub fn closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut chunk = [0u8; 1024];
            match self.ch.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return true,
            }
            if self.ch.eof() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}
