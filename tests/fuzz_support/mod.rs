//! What the `tests/fuzz_*.rs` property tests share: the case count (bounded for CI, raised by
//! `KEYREEVE_FUZZ_CASES` for a long run, see docs/fuzzing.md) and the ways outside input is made
//! hostile: random text, and valid samples mutated by byte flips, truncation, insertion, deletion
//! and duplication.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property when `KEYREEVE_FUZZ_CASES` is not set: a few seconds per test.
const DEFAULT_CASES: u32 = 256;

/// The proptest configuration of every fuzz property. Failures are not persisted to files: a
/// failing input found once is pinned as a regular regression test instead.
pub fn config() -> Config {
    let cases = std::env::var("KEYREEVE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Bytes that make parsers take their unusual paths: separators, quotes, brackets, line breaks,
/// escapes, huge and negative numbers, multi-byte and invalid UTF-8.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\t",
    b" ",
    b":",
    b",",
    b";",
    b"=",
    b"#",
    b"!",
    b"\"",
    b"'",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b"<",
    b">",
    b"/",
    b"-",
    b"*",
    b"$",
    b"%",
    b"0",
    b"-1",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"1e999",
    b"null",
    b"true",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b"\xf0\x9f\x94\x91",
    b"\xff",
    b"\xc3",
    b"\x1b[31m",
    b"\x08",
    b"--More--",
    b"&amp;",
    b"&#0;",
    b"]]>",
    b"\xef\xbb\xbf",
];

/// One change to a sample. Positions are taken modulo the sample's length, so that any value
/// applies to any sample.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit { at: usize, bit: u8 },
    SetByte { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    InsertToken { at: usize, token: usize },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        4 => (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::InsertToken { at, token }),
        2 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

/// A few mutations, to be applied in order.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..6)
}

/// `sample` changed by `mutations`.
pub fn apply(sample: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = sample.to_vec();
    for m in mutations {
        let at = |a: usize, n: usize| if n == 0 { 0 } else { a % n };
        match m {
            Mutation::FlipBit { at: a, bit } => {
                if !out.is_empty() {
                    let i = at(*a, out.len());
                    out[i] ^= 1 << bit;
                }
            }
            Mutation::SetByte { at: a, byte } => {
                if !out.is_empty() {
                    let i = at(*a, out.len());
                    out[i] = *byte;
                }
            }
            Mutation::Truncate { at: a } => {
                let i = at(*a, out.len() + 1);
                out.truncate(i);
            }
            Mutation::Insert { at: a, bytes } => {
                let i = at(*a, out.len() + 1);
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::InsertToken { at: a, token } => {
                let i = at(*a, out.len() + 1);
                out.splice(i..i, TOKENS[*token].iter().copied());
            }
            Mutation::Delete { at: a, len } => {
                let i = at(*a, out.len() + 1);
                let end = (i + len).min(out.len());
                out.drain(i..end);
            }
            Mutation::Duplicate { at: a, len } => {
                let i = at(*a, out.len() + 1);
                let end = (i + len).min(out.len());
                let copy = out[i..end].to_vec();
                out.splice(end..end, copy);
            }
        }
    }
    out
}

/// `sample` changed by `mutations`, as text (invalid UTF-8 replaced, as a lossy reader would).
pub fn apply_text(sample: &str, mutations: &[Mutation]) -> String {
    String::from_utf8_lossy(&apply(sample.as_bytes(), mutations)).into_owned()
}

/// Random text: any characters, or lines of the tokens parsers split on.
pub fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,200}",
        proptest::collection::vec(
            prop_oneof![
                (0..TOKENS.len()).prop_map(|i| String::from_utf8_lossy(TOKENS[i]).into_owned()),
                "[a-zA-Z0-9_.-]{1,12}",
            ],
            0..60
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Random bytes, not necessarily UTF-8.
pub fn noise_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        noise().prop_map(String::into_bytes),
    ]
}

/// `sample` mutated, or random text: the two kinds of hostile input every property gets.
pub fn hostile_text(sample: String) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mutations().prop_map(move |m| apply_text(&sample, &m)),
        1 => noise(),
    ]
}

/// Bytes version of [`hostile_text`].
pub fn hostile_bytes(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutations().prop_map(move |m| apply(&sample, &m)),
        1 => noise_bytes(),
    ]
}
