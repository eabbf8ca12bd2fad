//! One naming scheme shared by the emulator's directory, the product's pre-populated
//! database and the driver: workspace `ws` is `bench{ws}.localhost`, backed by its own
//! Entra tenant whose verified domain is `bench{ws}.test`; user `j` of it is
//! `u{j}@bench{ws}.test`. Ids are GUID-shaped and derived from (ws, j), so a row inserted
//! by SQL and an account in the emulator agree without sharing any state.

/// The one multi-tenant app registration every workspace uses (through `AZURE_*`).
pub const CLIENT_ID: &str = "e0be0c4a-5b1d-4c2e-9f3a-000000000001";
/// A fixture, not a secret: it exists only in a throwaway emulator on loopback.
pub const CLIENT_SECRET: &str = "Bench~client.secret_0123456789abcdefXYZ";

/// Odd multipliers scatter `j` over 48 bits (a bijection), so ids are not in insertion
/// order: index lookups and inserts behave as with the product's random UUIDs.
const OID_MUL: u64 = 0x9E37_79B9;
const USER_MUL: u64 = 0x85EB_CA6B;
const MASK48: u64 = (1 << 48) - 1;

pub fn slug(ws: usize) -> String {
    format!("bench{ws}")
}

pub fn domain(ws: usize) -> String {
    format!("bench{ws}.test")
}

pub fn workspace_id(ws: usize) -> String {
    format!("a0000000-0000-4000-8000-{ws:012x}")
}

pub fn tenant_id(ws: usize) -> String {
    format!("c0000000-0000-4000-8000-{ws:012x}")
}

pub fn oid(ws: usize, j: u64) -> String {
    format!(
        "d0000000-{ws:04x}-4000-8000-{:012x}",
        (j * OID_MUL) & MASK48
    )
}

/// Only the SQL builds user ids; this mirrors it so a test can check they agree.
#[cfg(test)]
pub fn user_id(ws: usize, j: u64) -> String {
    format!(
        "b0000000-{ws:04x}-4000-8000-{:012x}",
        (j * USER_MUL) & MASK48
    )
}

pub fn upn(ws: usize, j: u64) -> String {
    format!("u{j}@{}", domain(ws))
}

/// The same expressions in SQL, for bulk inserts (`j` and `ws` are columns or binds).
pub mod sql {
    pub const OID_MUL: u64 = super::OID_MUL;
    pub const USER_MUL: u64 = super::USER_MUL;
    pub const MOD48: u64 = super::MASK48 + 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_guid_shaped_lowercase_and_distinct() {
        let a = oid(3, 1);
        assert_eq!(a.len(), 36);
        assert_eq!(a, a.to_ascii_lowercase());
        assert_ne!(oid(3, 1), oid(3, 2));
        assert_ne!(oid(3, 1), oid(4, 1));
        assert_ne!(user_id(0, 999_999), user_id(0, 999_998));
        assert_eq!(upn(2, 7), "u7@bench2.test");
    }
}
