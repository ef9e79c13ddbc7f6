//! What a guided (`kind = "manual"`) target is: a printer, a phone system, a web portal... The
//! category picks the policy's password rules (many printers and phones take only short
//! passwords from a small alphabet) and groups counts in `status` and the review.

use serde::{Deserialize, Serialize};

/// The category of a guided target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Printer,
    Voip,
    Wireless,
    Nas,
    Hypervisor,
    AvConsole,
    WebPortal,
    RemoteSupport,
    Vpn,
    Database,
    Other,
}

impl Category {
    pub const ALL: [Category; 11] = [
        Category::Printer,
        Category::Voip,
        Category::Wireless,
        Category::Nas,
        Category::Hypervisor,
        Category::AvConsole,
        Category::WebPortal,
        Category::RemoteSupport,
        Category::Vpn,
        Category::Database,
        Category::Other,
    ];

    /// The name used in `keyreeve.toml` and the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Printer => "printer",
            Category::Voip => "voip",
            Category::Wireless => "wireless",
            Category::Nas => "nas",
            Category::Hypervisor => "hypervisor",
            Category::AvConsole => "av-console",
            Category::WebPortal => "web-portal",
            Category::RemoteSupport => "remote-support",
            Category::Vpn => "vpn",
            Category::Database => "database",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Every name, for messages that list them.
    pub fn names() -> String {
        Category::ALL.map(Category::as_str).join(", ")
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_parses_back_from_its_name() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(Category::parse("printers"), None);
    }
}
