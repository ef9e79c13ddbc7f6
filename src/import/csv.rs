//! A spreadsheet's CSV: one header row, then one credential per row. Columns are found by their
//! usual names (the exports of keyreeve, KeePassXC, Bitwarden, LastPass and most spreadsheets),
//! or named with `--map title=Name,username=Login,...`. Read with csv-core into one wiped buffer,
//! so that no copy of a password is left behind in a reader's own buffers; each password goes
//! straight into a [`Password`].

use std::path::Path;

use csv_core::ReadRecordResult;
use zeroize::Zeroizing;

use super::{date, Bad, ImportError, KeyreeveOrigin, Location, Parsed, Record};
use crate::secret::Password;

/// The fields a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Username,
    Password,
    Url,
    Notes,
    Group,
}

const FIELDS: [(Field, &str, &[&str]); 6] = [
    (
        Field::Title,
        "title",
        &[
            "title", "name", "target", "entry", "item", "account", "system", "device",
        ],
    ),
    (
        Field::Username,
        "username",
        &["username", "user name", "user", "login", "login_username", "login name"],
    ),
    (
        Field::Password,
        "password",
        &["password", "pass", "passwd", "pwd", "login_password", "secret"],
    ),
    (
        Field::Url,
        "url",
        &[
            "url",
            "uri",
            "login_uri",
            "website",
            "web site",
            "address",
            "host",
            "ip",
            "hostname",
        ],
    ),
    (
        Field::Notes,
        "notes",
        &["notes", "note", "comments", "comment", "description", "extra"],
    ),
    (Field::Group, "group", &["group", "folder", "grouping", "category"]),
];

/// `--map title=Name,username=Login`: column names for fields, overriding the usual names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap(Vec<(String, String)>);

impl ColumnMap {
    pub fn parse(text: &str) -> Result<ColumnMap, ImportError> {
        let mut pairs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((field, column)) = part.split_once('=') else {
                return Err(ImportError::BadMap(format!("`{part}` is not FIELD=COLUMN")));
            };
            let field = field.trim().to_ascii_lowercase();
            if !FIELDS.iter().any(|(_, name, _)| *name == field) {
                return Err(ImportError::BadMap(format!("`{field}` is not a field")));
            }
            pairs.push((field, column.trim().to_string()));
        }
        Ok(ColumnMap(pairs))
    }
}

/// The records of a CSV file; `file` names it in errors.
pub fn parse(input: &[u8], map: &ColumnMap, file: &Path) -> Result<Parsed, ImportError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let unreadable = |reason: String| ImportError::Unreadable {
        path: file.to_path_buf(),
        reason,
    };
    let mut rows = Rows::new(input);
    let header = match rows.next_row() {
        Some((_, Ok(fields))) => fields,
        Some((line, Err(e))) => return Err(unreadable(format!("line {line}: {e}"))),
        None => return Err(ImportError::Empty(file.to_path_buf())),
    };
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_lowercase()).collect();
    let find = |field: Field, name: &str, usual: &[&str]| -> Result<Option<usize>, ImportError> {
        if let Some((_, column)) = map.0.iter().find(|(f, _)| f == name) {
            let wanted = column.to_lowercase();
            return columns.iter().position(|c| *c == wanted).map(Some).ok_or_else(|| {
                unreadable(format!(
                    "--map names column `{column}` for {name}, but the header has no such column ({})",
                    columns.join(", ")
                ))
            });
        }
        let _ = field;
        Ok(usual.iter().find_map(|u| columns.iter().position(|c| c == u)))
    };
    let mut at = [None; 6];
    for (i, (field, name, usual)) in FIELDS.iter().enumerate() {
        at[i] = find(*field, name, usual)?;
    }
    let [title, username, password, url, notes, group] = at;
    let Some(password) = password else {
        return Err(unreadable(format!(
            "the header names no password column ({}); name it with --map password=COLUMN",
            columns.join(", ")
        )));
    };
    let column = |name: &str| columns.iter().position(|c| c == name);
    // keyreeve's own CSV export: the vault path and the target's kind, port and dates.
    let native = match (column("path"), column("kind"), column("last_rotated")) {
        (Some(path), Some(kind), Some(rotated)) => Some((
            path,
            kind,
            rotated,
            column("port"),
            column("last_verified"),
            column("address"),
        )),
        _ => None,
    };

    let mut parsed = Parsed::default();
    while let Some((line, row)) = rows.next_row() {
        let at = Location {
            unit: "line",
            number: line,
        };
        let fields = match row {
            Ok(f) => f,
            Err(reason) => {
                parsed.bad.push(Bad { at, reason });
                continue;
            }
        };
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if fields.len() != columns.len() {
            parsed.bad.push(Bad {
                at,
                reason: format!("{} fields where the header has {}", fields.len(), columns.len()),
            });
            continue;
        }
        let get = |i: Option<usize>| i.map(|i| fields[i].to_string()).unwrap_or_default();
        let mut r = Record::new(at, Password::new(fields[password].to_string()));
        r.title = get(title).trim().to_string();
        r.username = get(username);
        r.url = get(url).trim().to_string();
        r.notes = get(notes);
        r.group = Some(get(group).trim().to_string()).filter(|g| !g.is_empty());
        if let Some((path, kind, rotated, port, verified, address)) = native {
            r.origin = Some(KeyreeveOrigin {
                path: fields[path].to_string(),
                kind: Some(fields[kind].to_string()).filter(|k| !k.is_empty()),
                address: address.map(|a| fields[a].to_string()),
                port: port.and_then(|p| fields[p].parse().ok()),
                rotated_at: date(&fields[rotated]),
                verified_at: verified.and_then(|v| date(&fields[v])),
            });
        }
        parsed.records.push(r);
    }
    Ok(parsed)
}

/// Rows of a CSV text, each as its fields, read into one wiped buffer.
struct Rows<'a> {
    input: &'a [u8],
    pos: usize,
    line: usize,
    reader: csv_core::Reader,
    /// One record's fields, back to back: never larger than the input.
    out: Zeroizing<Vec<u8>>,
    ends: Vec<usize>,
}

/// One row's fields as text (wiped when dropped).
type Fields = Vec<Zeroizing<String>>;

impl<'a> Rows<'a> {
    fn new(input: &'a [u8]) -> Rows<'a> {
        Rows {
            input,
            pos: 0,
            line: 1,
            reader: csv_core::Reader::new(),
            out: Zeroizing::new(vec![0; input.len() + 1]),
            ends: vec![0; 64],
        }
    }

    /// The next row and the line it starts on; none at the end.
    fn next_row(&mut self) -> Option<(usize, Result<Fields, String>)> {
        // Blank lines between rows are skipped by the reader: count them first.
        while let Some(&c) = self.input.get(self.pos) {
            match c {
                b'\n' => self.line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        let start_line = self.line;
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                &self.input[self.pos..],
                &mut self.out[out_len..],
                &mut self.ends[ends_len..],
            );
            self.line += self.input[self.pos..self.pos + read]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.pos += read;
            // csv-core counts field ends from the record's start across calls: no adjustment.
            out_len += written;
            ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty => continue,
                ReadRecordResult::OutputFull => {
                    return Some((start_line, Err("a record larger than the file (a bug)".into())));
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() > 4096 {
                        return Some((start_line, Err("more than 4096 fields".into())));
                    }
                    self.ends.resize(self.ends.len() * 2, 0);
                }
                ReadRecordResult::Record => break,
                ReadRecordResult::End => return None,
            }
        }
        let mut fields = Fields::with_capacity(ends_len);
        let mut start = 0;
        for &end in &self.ends[..ends_len] {
            match std::str::from_utf8(&self.out[start..end]) {
                Ok(text) => fields.push(Zeroizing::new(text.to_string())),
                Err(_) => return Some((start_line, Err(format!("field {} is not UTF-8 text", fields.len() + 1)))),
            }
            start = end;
        }
        Some((start_line, Ok(fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, map: &str) -> Result<Parsed, ImportError> {
        parse(text.as_bytes(), &ColumnMap::parse(map).unwrap(), Path::new("list.csv"))
    }

    #[test]
    fn usual_column_names_and_quoted_multiline_fields() {
        let p = read(
            "\u{feff}Title,User Name,Password,URL,Notes\n\
             Printer,admin,\"pa,ss\"\"word\",http://10.0.0.40,\"two\nlines\"\n\
             \n\
             NAS,root,nas-pass,https://nas.lan,\n",
            "",
        )
        .unwrap();
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        assert_eq!(p.records.len(), 2);
        let r = &p.records[0];
        assert_eq!(
            (r.title.as_str(), r.username.as_str(), r.password.expose()),
            ("Printer", "admin", "pa,ss\"word")
        );
        assert_eq!((r.url.as_str(), r.notes.as_str()), ("http://10.0.0.40", "two\nlines"));
        assert_eq!(r.at.number, 2);
        assert_eq!(
            p.records[1].at.number, 5,
            "the blank line and the quoted line break are counted"
        );
    }

    /// Found by tests/fuzz_import_scan.rs: a last row without a line break ends in a second read
    /// of the reader, whose field ends were counted twice.
    #[test]
    fn a_last_row_without_a_line_break_is_read_whole() {
        let p = read("Title,Password\nfw1,abc\nfw2,\"d,e\"", "").unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            (p.records[1].title.as_str(), p.records[1].password.expose()),
            ("fw2", "d,e")
        );
    }

    #[test]
    fn map_names_other_columns_and_malformed_rows_are_reported_by_line() {
        let text = "Gerät,Benutzer,Kennwort\nfw1,admin,s1\nfw2,admin\nfw3,root,s3,extra\n";
        let err = read(text, "").unwrap_err().to_string();
        assert!(err.contains("no password column (gerät, benutzer, kennwort)"), "{err}");
        let p = read(text, "title=Gerät,username=Benutzer,password=Kennwort").unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].title, "fw1");
        let bad: Vec<String> = p.bad.iter().map(|b| b.to_string()).collect();
        assert_eq!(
            bad,
            [
                "line 3: 2 fields where the header has 3",
                "line 4: 4 fields where the header has 3"
            ]
        );
        assert!(!bad.iter().any(|b| b.contains("s3")));
        let err = read(text, "password=Nope").unwrap_err().to_string();
        assert!(err.contains("`Nope`"), "{err}");
        assert!(ColumnMap::parse("colour=x").is_err());
    }
}
