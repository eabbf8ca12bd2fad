use std::fmt;

/// A user's one role in a workspace. Ordered by power so `>=` reads naturally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Employee,
    Admin,
    SuperAdmin,
}

/// A value that is not one of the three roles.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("“{0}” is not a role: use employee, admin or super-admin.")]
pub struct ParseRoleError(String);

/// A stored status that is not one of the three.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("“{0}” is not a user status.")]
pub struct ParseStatusError(String);

impl Role {
    pub const ALL: [Role; 3] = [Role::Employee, Role::Admin, Role::SuperAdmin];

    pub fn parse(s: &str) -> Result<Self, ParseRoleError> {
        match s.trim() {
            "employee" => Ok(Self::Employee),
            "admin" => Ok(Self::Admin),
            "super-admin" => Ok(Self::SuperAdmin),
            other => Err(ParseRoleError(other.chars().take(40).collect())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Admin => "admin",
            Self::SuperAdmin => "super-admin",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Employee => "Employee",
            Self::Admin => "Admin",
            Self::SuperAdmin => "Super-admin",
        }
    }
    pub fn is_admin(self) -> bool {
        self >= Self::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserStatus {
    Invited,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn parse(s: &str) -> Result<Self, ParseStatusError> {
        match s {
            "invited" => Ok(Self::Invited),
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(ParseStatusError(other.chars().take(40).collect())),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Invited => "Invited",
            Self::Active => "Active",
            Self::Disabled => "Disabled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_order_by_power() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert!(Role::parse("owner").is_err());
        assert!(Role::SuperAdmin > Role::Admin && Role::Admin > Role::Employee);
        assert!(Role::Admin.is_admin() && !Role::Employee.is_admin());
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            UserStatus::Invited,
            UserStatus::Active,
            UserStatus::Disabled,
        ] {
            assert_eq!(UserStatus::parse(s.as_str()), Ok(s));
        }
        assert!(UserStatus::parse("gone").is_err());
    }
}
