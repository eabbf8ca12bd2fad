//! What an AADSTS code means and what an admin does about it (DESIGN §5.5). Microsoft's
//! own descriptions change and are not meant for branching, so the page names the code
//! and our explanation, and keeps Microsoft's text only as a detail.

pub struct Explanation {
    pub title: &'static str,
    pub meaning: &'static str,
    pub fix: &'static str,
}

pub fn explain(code: u32) -> Option<Explanation> {
    let e = |title, meaning, fix| {
        Some(Explanation {
            title,
            meaning,
            fix,
        })
    };
    match code {
        50011 => e(
            "The redirect URI does not match",
            "Microsoft refused to send the sign-in back because this workspace's redirect URI is not registered on the app.",
            "In Entra, open the app → Authentication → Web and add this workspace's redirect URI exactly as the Microsoft Entra ID card shows it (https, same path; one entry per workspace — Entra has no wildcards).",
        ),
        50020 => e(
            "The account is not in the app's directory",
            "The app is registered for a single directory, and this account belongs to another one.",
            "Either switch the app to “Accounts in any organizational directory” and set Directory (tenant) ID to common with an email-domain allowlist, or have the user sign in with an account of your directory.",
        ),
        50057 => e(
            "The Microsoft account is disabled",
            "The account is disabled in Microsoft Entra ID.",
            "A directory admin can re-enable the account in Entra → Users.",
        ),
        50076 | 50079 => e(
            "Multi-factor authentication is required",
            "A Conditional Access policy requires MFA, which could not be completed in this sign-in.",
            "Ask the user to complete MFA registration with Microsoft, then try again. OnTrackio honours the policy as it is.",
        ),
        53003 => e(
            "Blocked by Conditional Access",
            "A Conditional Access policy in your directory blocked this sign-in.",
            "Review the sign-in in Entra → Sign-in logs to see which policy applied, and adjust it if OnTrackio should be allowed.",
        ),
        65001 => e(
            "Consent has not been granted",
            "Nobody has consented to the app's permissions (openid, profile, email, User.Read) in this directory.",
            "In Entra, open the app → API permissions and select “Grant admin consent for your organisation”.",
        ),
        65004 => e(
            "Consent was declined",
            "The user declined the permissions the app asks for.",
            "Ask the user to try again and accept, or grant admin consent in Entra → API permissions.",
        ),
        700016 => e(
            "The app was not found in the directory",
            "The Application (client) ID is not registered in the directory that was asked.",
            "Check Application (client) ID and Directory (tenant) ID on the Microsoft Entra ID card against the app's Overview page in Entra.",
        ),
        7000215 => e(
            "The client secret is wrong",
            "Microsoft rejected the client secret. A common cause is pasting the secret ID instead of its Value.",
            "In Entra → Certificates & secrets, create a new client secret, copy its Value (not the secret ID), paste it into Client secret value on the card, and save.",
        ),
        7000222 => e(
            "The client secret has expired",
            "Client secrets always expire, and this one has.",
            "Rotate: create a new secret in Entra → Certificates & secrets, copy its Value, paste it into Client secret value on the Microsoft Entra ID card, save, then delete the old secret after a brief overlap.",
        ),
        90002 => e(
            "The directory was not found",
            "Microsoft does not know the Directory (tenant) ID that was used.",
            "Copy the Directory (tenant) ID from the app's Overview page in Entra into the card, or use common.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_design_names_is_explained() {
        for code in [
            50011, 50020, 65001, 700016, 7000215, 7000222, 90002, 50076, 53003,
        ] {
            let e = explain(code).unwrap_or_else(|| panic!("{code}"));
            assert!(!e.title.is_empty() && !e.meaning.is_empty() && !e.fix.is_empty());
        }
        assert!(explain(1).is_none());
    }
}
