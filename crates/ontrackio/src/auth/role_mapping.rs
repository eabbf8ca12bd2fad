//! Roles from the directory: values the identity provider vouches for (Entra's app roles
//! in the ID token's `roles` claim; later SAML and SCIM groups) mapped to workspace roles,
//! and what that means for one sign-in. Pure: parsing what an admin typed, resolving a
//! sign-in's values, deciding a role change. The database work is in `auth::sign_in`.

use crate::domain::Role;

/// Lines an admin may write: more than any app registration declares.
const MAX_RULES: usize = 100;
/// App role values are at most 120 characters in Entra (the `value` of an app role).
const MAX_VALUE_LEN: usize = 120;

/// One line of the mapping: a directory value and the role it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub value: String,
    pub role: Role,
}

/// A workspace's mapping for one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleMapping {
    rules: Vec<Rule>,
    /// The super-admin ticked "the directory may grant super-admin": only then may a line
    /// map to super-admin, and only then does the directory change a super-admin's role.
    pub manages_super_admin: bool,
    /// Refuse the sign-in when no value maps (else the default role, employee).
    pub strict: bool,
}

/// Why what an admin typed is not a mapping; each names the line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "Line {line}: write one app role value, an equals sign and a role, for example “ITAM.Admin = admin”."
    )]
    Shape { line: usize },
    #[error("Line {line}: the app role value is longer than {MAX_VALUE_LEN} characters.")]
    TooLong { line: usize },
    #[error("Line {line}: “{role}” is not a role; use employee, admin or super-admin.")]
    UnknownRole { line: usize, role: String },
    #[error(
        "Line {line}: mapping to super-admin needs the box “Let the directory grant super-admin” ticked."
    )]
    SuperAdminNotAllowed { line: usize },
    #[error("Line {line}: “{value}” is mapped twice.")]
    Duplicate { line: usize, value: String },
    #[error("At most {MAX_RULES} lines.")]
    TooMany,
}

/// What the directory said about a person's values.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// The complete list (possibly empty).
    Known(&'a [String]),
    /// The list is incomplete (Microsoft's group overage): never read as "none".
    Unknown,
}

/// An Entra object id: a mapping line whose value is one names a group, not an app role.
fn is_object_id(value: &str) -> bool {
    uuid::Uuid::try_parse(value).is_ok()
}

/// What the mapping makes of one sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryRole {
    /// The workspace takes no roles from this provider.
    NotManaged,
    /// The directory's values map to this role (the highest of several).
    Mapped {
        role: Role,
        manages_super_admin: bool,
    },
    /// No value maps.
    NoneMapped {
        strict: bool,
        manages_super_admin: bool,
    },
    /// The directory's answer is incomplete: roles stay as they are.
    Unknown,
}

impl RoleMapping {
    /// Parses the card's text: one `value = role` per line; blank lines and lines starting
    /// with `#` are skipped.
    pub fn parse(
        text: &str,
        manages_super_admin: bool,
        strict: bool,
    ) -> Result<Self, MappingError> {
        let mut rules: Vec<Rule> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if rules.len() == MAX_RULES {
                return Err(MappingError::TooMany);
            }
            let (value, role) = trimmed
                .rsplit_once('=')
                .map(|(v, r)| (v.trim(), r.trim()))
                .filter(|(v, r)| !v.is_empty() && !r.is_empty())
                .ok_or(MappingError::Shape { line })?;
            if value.chars().count() > MAX_VALUE_LEN {
                return Err(MappingError::TooLong { line });
            }
            if value.chars().any(char::is_control) {
                return Err(MappingError::Shape { line });
            }
            let role =
                Role::parse(&role.to_ascii_lowercase()).map_err(|_| MappingError::UnknownRole {
                    line,
                    role: role.chars().take(40).collect(),
                })?;
            if role == Role::SuperAdmin && !manages_super_admin {
                return Err(MappingError::SuperAdminNotAllowed { line });
            }
            if rules.iter().any(|r| r.value == value) {
                return Err(MappingError::Duplicate {
                    line,
                    value: value.to_string(),
                });
            }
            rules.push(Rule {
                value: if is_object_id(value) {
                    value.to_ascii_lowercase()
                } else {
                    value.to_string()
                },
                role,
            });
        }
        Ok(Self {
            rules,
            manages_super_admin,
            strict,
        })
    }

    /// The text the card shows (and stores): one `value = role` per line.
    pub fn to_text(&self) -> String {
        self.rules
            .iter()
            .map(|r| format!("{} = {}", r.value, r.role.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// No lines: the directory does not decide roles.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a line names a group (by object id) rather than an app role.
    pub fn maps_groups(&self) -> bool {
        self.rules.iter().any(|r| is_object_id(&r.value))
    }

    /// A sign-in that brings app roles and, maybe, groups: the groups' overage makes the
    /// answer unknown only when a line names a group (app roles have no overage).
    pub fn resolve_roles_and_groups(
        &self,
        roles: &[String],
        groups: Option<&[String]>,
        groups_overage: bool,
    ) -> DirectoryRole {
        if groups_overage && self.maps_groups() {
            return self.resolve(Values::Unknown);
        }
        let mut all: Vec<String> = roles.to_vec();
        all.extend(groups.unwrap_or_default().iter().cloned());
        self.resolve(Values::Known(&all))
    }

    /// The sign-in's role as the directory decides it. Values match exactly (Entra's app
    /// role values are case-sensitive; group object ids are compared in lower case);
    /// several matches give the highest role.
    pub fn resolve(&self, values: Values<'_>) -> DirectoryRole {
        if self.is_empty() {
            return DirectoryRole::NotManaged;
        }
        let Values::Known(values) = values else {
            return DirectoryRole::Unknown;
        };
        let best = self
            .rules
            .iter()
            .filter(|r| {
                values.iter().any(|v| {
                    *v == r.value || (is_object_id(&r.value) && v.eq_ignore_ascii_case(&r.value))
                })
            })
            .map(|r| r.role)
            .max();
        match best {
            Some(role) => DirectoryRole::Mapped {
                role,
                manages_super_admin: self.manages_super_admin,
            },
            None => DirectoryRole::NoneMapped {
                strict: self.strict,
                manages_super_admin: self.manages_super_admin,
            },
        }
    }
}

impl DirectoryRole {
    /// Whether the sign-in is refused: strict, and no value maps.
    pub fn refuses(self) -> bool {
        matches!(self, Self::NoneMapped { strict: true, .. })
    }

    /// The role of a user provisioned by this sign-in.
    pub fn for_new_user(self) -> Role {
        match self {
            Self::Mapped { role, .. } => role,
            _ => Role::Employee,
        }
    }

    /// The role an existing user should have after this sign-in, when it differs from
    /// `current`: the mapped role, or the default when nothing maps. A super-admin is left
    /// alone unless the directory manages super-admin.
    pub fn change_for(self, current: Role) -> Option<Role> {
        let (target, manages_super_admin) = match self {
            Self::Mapped {
                role,
                manages_super_admin,
            } => (role, manages_super_admin),
            Self::NoneMapped {
                manages_super_admin,
                ..
            } => (Role::Employee, manages_super_admin),
            Self::NotManaged | Self::Unknown => return None,
        };
        if current == Role::SuperAdmin && !manages_super_admin {
            return None;
        }
        (target != current).then_some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_mapping_is_one_value_and_role_per_line_and_refuses_mistakes_by_line() {
        let m = RoleMapping::parse(
            "# Entra app roles\nITAM.Admin = admin\n\n ITAM.User=employee \nITAM.Owner = Super-Admin\n",
            true,
            false,
        )
        .unwrap();
        assert_eq!(m.rules().len(), 3);
        assert_eq!(
            m.to_text(),
            "ITAM.Admin = admin\nITAM.User = employee\nITAM.Owner = super-admin"
        );
        let err = |t: &str, sa: bool| RoleMapping::parse(t, sa, false).unwrap_err();
        assert_eq!(
            err("ITAM.Admin admin", true),
            MappingError::Shape { line: 1 }
        );
        assert_eq!(
            err("a = admin\n= admin", true),
            MappingError::Shape { line: 2 }
        );
        assert!(matches!(
            err("a = owner", true),
            MappingError::UnknownRole { line: 1, .. }
        ));
        assert_eq!(
            err("a = super-admin", false),
            MappingError::SuperAdminNotAllowed { line: 1 }
        );
        assert!(matches!(
            err("a = admin\na = employee", true),
            MappingError::Duplicate { line: 2, .. }
        ));
        assert_eq!(
            err(&format!("{} = admin", "x".repeat(121)), true),
            MappingError::TooLong { line: 1 }
        );
        let many: String = (0..101).map(|i| format!("r{i} = employee\n")).collect();
        assert_eq!(err(&many, true), MappingError::TooMany);
    }

    #[test]
    fn the_highest_mapped_role_wins_and_nothing_mapped_is_the_default_or_a_refusal() {
        let m =
            RoleMapping::parse("ITAM.User = employee\nITAM.Admin = admin", false, false).unwrap();
        let admin_and_user = values(&["ITAM.User", "ITAM.Admin"]);
        assert_eq!(
            m.resolve(Values::Known(&admin_and_user)),
            DirectoryRole::Mapped {
                role: Role::Admin,
                manages_super_admin: false
            }
        );
        // Case matters, as in Entra.
        let other = values(&["itam.admin"]);
        let none = m.resolve(Values::Known(&other));
        assert!(matches!(
            none,
            DirectoryRole::NoneMapped { strict: false, .. }
        ));
        assert!(!none.refuses());
        assert_eq!(none.for_new_user(), Role::Employee);
        let strict = RoleMapping::parse("ITAM.Admin = admin", false, true).unwrap();
        assert!(strict.resolve(Values::Known(&[])).refuses());
        assert_eq!(m.resolve(Values::Unknown), DirectoryRole::Unknown);
        assert_eq!(
            RoleMapping::default().resolve(Values::Known(&admin_and_user)),
            DirectoryRole::NotManaged
        );
    }

    #[test]
    fn role_changes_follow_the_directory_both_ways_but_leave_super_admins_alone_unless_managed() {
        let mapped = |role, msa| DirectoryRole::Mapped {
            role,
            manages_super_admin: msa,
        };
        let none = |msa| DirectoryRole::NoneMapped {
            strict: false,
            manages_super_admin: msa,
        };
        // (directory, current role, expected change)
        let cases = [
            (
                mapped(Role::Admin, false),
                Role::Employee,
                Some(Role::Admin),
            ),
            (
                mapped(Role::Employee, false),
                Role::Admin,
                Some(Role::Employee),
            ),
            (mapped(Role::Admin, false), Role::Admin, None),
            (none(false), Role::Admin, Some(Role::Employee)),
            (mapped(Role::Admin, false), Role::SuperAdmin, None),
            (none(false), Role::SuperAdmin, None),
            (
                mapped(Role::Admin, true),
                Role::SuperAdmin,
                Some(Role::Admin),
            ),
            (
                mapped(Role::SuperAdmin, true),
                Role::Employee,
                Some(Role::SuperAdmin),
            ),
            (DirectoryRole::Unknown, Role::Admin, None),
            (DirectoryRole::NotManaged, Role::Admin, None),
        ];
        for (directory, current, want) in cases {
            assert_eq!(
                directory.change_for(current),
                want,
                "{directory:?} {current:?}"
            );
        }
    }

    /// Entra's group overage (`_claim_names`) is "unknown", never "no groups": a mapping
    /// with group lines leaves the role as it is, and a strict one does not refuse.
    #[test]
    fn a_group_overage_is_unknown_when_groups_are_mapped_and_irrelevant_otherwise() {
        let staff = "7C4E2A9B-5D1F-4E3A-8B6C-0D2F4A6B8C9E";
        let by_group =
            RoleMapping::parse(&format!("{staff} = admin\nAdmin = admin"), false, true).unwrap();
        let groups = values(&["7c4e2a9b-5d1f-4e3a-8b6c-0d2f4a6b8c9e"]);
        assert_eq!(
            by_group.resolve_roles_and_groups(&[], Some(&groups), false),
            DirectoryRole::Mapped {
                role: Role::Admin,
                manages_super_admin: false
            }
        );
        let unknown = by_group.resolve_roles_and_groups(&[], None, true);
        assert_eq!(unknown, DirectoryRole::Unknown);
        assert!(!unknown.refuses());
        assert_eq!(unknown.change_for(Role::Admin), None);
        // Only app roles mapped: the overage changes nothing.
        let by_role = RoleMapping::parse("Admin = admin", false, true).unwrap();
        let admin = values(&["Admin"]);
        assert!(matches!(
            by_role.resolve_roles_and_groups(&admin, None, true),
            DirectoryRole::Mapped {
                role: Role::Admin,
                ..
            }
        ));
    }
}
