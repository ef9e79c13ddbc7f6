//! Foreign text made safe to show: what devices, directories, imported files and snapshots say
//! reaches a terminal and a reviewer's Markdown only through these functions, so that no name or
//! message can move the cursor, recolour or clear the screen, forge a line, reorder what is
//! shown (bidirectional overrides), or break a Markdown table or add a link to it.
//!
//! One function for the terminal ([`terminal`], and [`terminal_lines`] for multi-line messages),
//! one for Markdown ([`markdown`], and [`markdown_code`] for names) and one for HTML ([`html`]).

use std::borrow::Cow;

/// Characters that show nothing themselves but change how the text around them is shown or
/// read: bidirectional controls, zero-width characters, line and paragraph separators, tags.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// `text` for one line of a terminal: every control and invisible character written as an
/// escape (`\n`, `\t`, `\r`, `\u{1b}`), the rest as it is.
pub fn terminal(text: &str) -> Cow<'_, str> {
    escape_unless(text, |_| false)
}

/// Like [`terminal`], but line breaks and tabs stay: for messages of several lines (errors and
/// their hints, notes).
pub fn terminal_lines(text: &str) -> Cow<'_, str> {
    escape_unless(text, |c| c == '\n' || c == '\t')
}

fn escape_unless(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let needs = |c: char| (c.is_control() || is_invisible(c)) && !keep(c);
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            other => out.extend(other.escape_unicode()),
        }
    }
    Cow::Owned(out)
}

/// `text` as the content of a Markdown table cell, shown as it is: on one line (breaks become
/// spaces), with control characters escaped, and every character Markdown would read as table
/// structure, HTML, an entity, a link or code escaped.
pub fn markdown(text: &str) -> String {
    let one_line = text.replace("\r\n", " ").replace(['\r', '\n'], " ");
    let mut out = String::with_capacity(one_line.len() + 8);
    for c in terminal(&one_line).chars() {
        match c {
            '\\' | '|' | '[' | ']' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A name as Markdown code (`name`), with a longer fence for its own backticks. A code span
/// shows backslashes and entities as they are, so it cannot carry the escapes a table needs
/// for `|`: a name holding `|` or `\` is shown as escaped text instead.
pub fn markdown_code(name: &str) -> String {
    if name.contains(['|', '\\', '\r', '\n']) {
        return markdown(name);
    }
    let name = terminal(name);
    if name.contains('`') {
        format!("`` {name} ``")
    } else {
        format!("`{name}`")
    }
}

/// `text` as HTML (element content or a quoted attribute value, SVG text included), shown as it
/// is: the five characters HTML reads as markup written as entities, and control and invisible
/// characters escaped as [`terminal`] does, so that no name can reorder what a page shows.
pub fn html(text: &str) -> String {
    let shown = terminal(text);
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_holds_no_markup() {
        assert_eq!(
            html("<script>alert(\"x\")</script> & 'q'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"
        );
        assert_eq!(html("adm\u{202e}in"), "adm\\u{202e}in");
        assert_eq!(html("josé"), "josé");
    }

    #[test]
    fn the_terminal_sees_no_control_or_invisible_character() {
        assert!(matches!(terminal("acme/rtr1/admin"), Cow::Borrowed(_)));
        assert_eq!(terminal("a\nb\tc\r\u{1b}[2J"), "a\\nb\\tc\\r\\u{1b}[2J");
        assert_eq!(terminal("adm\u{202e}in"), "adm\\u{202e}in");
        assert_eq!(terminal("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(
            terminal_lines("line one\n\u{1b}]0;title\u{7}\tx"),
            "line one\n\\u{1b}]0;title\\u{7}\tx"
        );
        assert_eq!(terminal("ACME\\svc josé"), "ACME\\svc josé");
    }

    #[test]
    fn markdown_cells_keep_their_table_and_hold_no_markup() {
        assert_eq!(markdown("group=full|x\nnext"), "group=full\\|x next");
        assert_eq!(markdown("via a -> Domain Admins"), "via a -> Domain Admins");
        assert_eq!(
            markdown("[click](http://x) <img src=x> &lt; a\\|b `c`"),
            "\\[click\\](http://x) &lt;img src=x> &amp;lt; a\\\\\\|b \\`c\\`"
        );
        assert_eq!(markdown("\u{1b}[31mroot"), "\\\\u{1b}\\[31mroot");
        assert_eq!(markdown_code("netops"), "`netops`");
        assert_eq!(markdown_code("a`b"), "`` a`b ``");
        assert_eq!(markdown_code("a|b"), "a\\|b");
        assert_eq!(markdown_code("x\u{1b}[2J"), "`x\\u{1b}[2J`");
        // Every cell of a row stays a cell: a pipe is escaped and never preceded by an
        // unescaped backslash (GFM reads `\\|` as a backslash and a cell border).
        for hostile in ["a\\|b", "a\\\\|b", "|", "\\", "a|\\|\\\\|"] {
            let cell = markdown(hostile);
            let mut chars = cell.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => assert!(chars.next().is_some(), "{cell}"),
                    '|' => panic!("bare pipe in {cell}"),
                    _ => {}
                }
            }
        }
    }
}
