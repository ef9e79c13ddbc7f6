//! What pfSense and OPNsense share: both keep their accounts as `<user>` blocks (and groups as
//! `<group>` blocks) in one `config.xml`, reached from a shell opened through the console menu
//! (option 8), and both change a password by a script that asks for it at no-echo questions.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use crate::connector::AccountInfo;

static USER_BLOCK: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)<user>(.*?)</user>"));
static GROUP_BLOCK: LazyLock<Regex> = LazyLock::new(|| re(r"(?s)<group>(.*?)</group>"));
/// The menu's question; the engine answers it with `8` (a shell), never with an empty line,
/// which logs pfSense's SSH session out.
pub(crate) static MENU_QUESTION: LazyLock<Regex> = LazyLock::new(|| re(r"Enter an option:\s*\z"));

/// The text of the first `<tag>` in `block`, or None.
fn field(block: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].find(&format!("</{tag}>"))? + start;
    Some(block[start..end].trim().to_string())
}

fn fields(block: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = block;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].trim().to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// One `<user>`: its name, its password hash (any of the tags pfSense and OPNsense have used),
/// and whether it is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XmlUser {
    pub name: String,
    pub hash: Option<String>,
    pub admin: bool,
    pub privilege: String,
    pub enabled: bool,
}

/// The users of `config.xml`: an administrator is in the `admins` group (by `<groupname>` in
/// the user, or as a `<member>` uid of a group), or holds `page-all` itself or through a group.
pub(crate) fn parse_users(xml: &str) -> Vec<XmlUser> {
    let mut admin_uids: Vec<(String, String)> = Vec::new();
    for g in GROUP_BLOCK.captures_iter(xml) {
        let block = &g[1];
        let name = field(block, "name").unwrap_or_default();
        let all = fields(block, "priv").iter().any(|p| p == "page-all");
        if all || name == "admins" {
            for uid in fields(block, "member") {
                admin_uids.push((uid, name.clone()));
            }
        }
    }
    USER_BLOCK
        .captures_iter(xml)
        .filter_map(|u| {
            let block = &u[1];
            let name = field(block, "name")?;
            let uid = field(block, "uid").unwrap_or_default();
            let mut groups: Vec<String> = fields(block, "groupname");
            for (member, group) in &admin_uids {
                if *member == uid && !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
            let own_all = fields(block, "priv").iter().any(|p| p == "page-all");
            let admin = own_all
                || groups
                    .iter()
                    .any(|g| g == "admins" || admin_uids.iter().any(|(_, n)| n == g));
            let privilege = match (groups.is_empty(), own_all) {
                (true, false) => "no group".to_string(),
                (true, true) => "priv page-all".to_string(),
                (false, own) => format!(
                    "groups {}{}",
                    groups.join(","),
                    if own { ", priv page-all" } else { "" }
                ),
            };
            let hash = ["bcrypt-hash", "sha512-hash", "password", "md5-hash"]
                .iter()
                .find_map(|t| field(block, t));
            Some(XmlUser {
                name,
                hash,
                admin,
                privilege,
                enabled: !block.contains("<disabled/>") && field(block, "disabled").is_none_or(|d| d != "1"),
            })
        })
        .collect()
}

pub(crate) fn accounts(xml: &str) -> Vec<AccountInfo> {
    parse_users(xml)
        .into_iter()
        .map(|u| {
            let mut a = common::user_account(&u.name, u.privilege, u.admin);
            a.enabled = u.enabled;
            a
        })
        .collect()
}

/// The stored hash of `account`, for checking that a change reached `config.xml`.
pub(crate) fn hash_of(xml: &str, account: &str) -> Option<String> {
    parse_users(xml)
        .into_iter()
        .find(|u| u.name == account)
        .and_then(|u| u.hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<pfsense>\n<system>\n\t<group>\n\t\t<name>admins</name>\n\t\t<gid>1999</gid>\n\t\t<member>0</member>\n\t\t<member>2001</member>\n\t\t<priv>page-all</priv>\n\t</group>\n\t<group>\n\t\t<name>all</name>\n\t\t<member>0</member>\n\t\t<member>2000</member>\n\t</group>\n\t<user>\n\t\t<name>admin</name>\n\t\t<uid>0</uid>\n\t\t<groupname>admins</groupname>\n\t\t<bcrypt-hash>$2y$10$abc</bcrypt-hash>\n\t</user>\n\t<user>\n\t\t<name>netops</name>\n\t\t<uid>2001</uid>\n\t\t<bcrypt-hash>$2y$10$def</bcrypt-hash>\n\t</user>\n\t<user>\n\t\t<name>monitor</name>\n\t\t<uid>2000</uid>\n\t\t<disabled/>\n\t\t<bcrypt-hash>$2y$10$ghi</bcrypt-hash>\n\t</user>\n</system>\n</pfsense>";

    #[test]
    fn admins_by_groupname_by_membership_and_not_others() {
        let users = parse_users(XML);
        let summary: Vec<(&str, bool, bool)> = users.iter().map(|u| (u.name.as_str(), u.admin, u.enabled)).collect();
        assert_eq!(
            summary,
            vec![("admin", true, true), ("netops", true, true), ("monitor", false, false)]
        );
        assert_eq!(hash_of(XML, "netops").as_deref(), Some("$2y$10$def"));
        assert!(parse_users("<user><uid>1</uid></user><user>").is_empty());
    }
}
