//! Accounts a plan never schedules on the device: those another system owns (a change there
//! would be undone), and those the device's CLI cannot change. Today the first are UniFi devices,
//! whose SSH credentials the UniFi controller pushes at every provisioning: their accounts are
//! planned as guided steps (see `rotation::guided`) made in the controller, never on the device.

use crate::inventory::TargetKind;

/// What a person does, in the system that owns them, to change the accounts of a `kind` target
/// that a change on the device would not hold; None for kinds whose devices own their accounts.
pub fn changed_elsewhere(kind: TargetKind) -> Option<&'static str> {
    match kind {
        TargetKind::Unifi => Some(
            "This device's SSH credentials belong to its UniFi controller: a change made on the device is undone\n\
             at the next provisioning. Do not change it on the device.\n\
             In the UniFi controller, open the site's device SSH authentication settings (Settings > Site >\n\
             Device Authentication; newer versions: Device SSH Authentication), set the password there and\n\
             Apply: the controller pushes it to every device of the site at the next provisioning (or use\n\
             Manage Device > Force provision).",
        ),
        _ => None,
    }
}

/// Why a plan must not rotate `account` of a `kind` target from its CLI because the CLI has no
/// way to (OPNsense changes only root's password from the shell), or None.
pub fn no_cli_for(kind: TargetKind, account: &str) -> Option<String> {
    match kind {
        TargetKind::Opnsense if account != "root" => Some(
            "OPNsense's CLI changes only root's password: change this account's in the web GUI (System > Access > Users)"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unifi_is_changed_elsewhere_and_the_steps_name_the_controller() {
        for kind in TargetKind::ALL {
            assert_eq!(changed_elsewhere(kind).is_some(), kind == TargetKind::Unifi, "{kind}");
        }
        assert!(no_cli_for(TargetKind::Opnsense, "netops").is_some());
        assert!(
            no_cli_for(TargetKind::Opnsense, "root").is_none() && no_cli_for(TargetKind::Pfsense, "netops").is_none()
        );
        let steps = changed_elsewhere(TargetKind::Unifi).unwrap();
        assert!(
            steps.contains("UniFi controller")
                && steps.contains("next provisioning")
                && steps.contains("Do not change it on the device"),
            "{steps}"
        );
    }
}
