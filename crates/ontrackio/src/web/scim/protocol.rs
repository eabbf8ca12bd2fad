//! SCIM 2.0 as Microsoft Entra's provisioning service speaks it (RFC 7643/7644), pure:
//! filters, PATCH operations, request bodies, and Entra's known deviations accepted side by
//! side with the RFC's forms (capitalised `op`, `"True"`/`"False"` strings for booleans,
//! the legacy member removal `{"op":"Remove","path":"members","value":[{"value":…}]}` and
//! the compliant `members[value eq "…"]` of `aadOptscim062020`, a `replace` without `path`
//! whose value object's keys are paths).

use serde_json::Value;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Longest filter accepted (Entra's are one comparison).
pub const MAX_FILTER_LEN: usize = 512;
/// Most PATCH operations in one request.
pub const MAX_OPERATIONS: usize = 100;
/// Most group members one request may add or remove (Entra sends batches far smaller).
pub const MAX_MEMBERS: usize = 1000;
/// Longest `externalId`, display name or attribute value kept.
pub const MAX_VALUE_LEN: usize = 256;

/// A request SCIM's way of saying no: `scimType` and a detail for the error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub scim_type: &'static str,
    pub detail: String,
}

fn invalid(scim_type: &'static str, detail: impl Into<String>) -> Invalid {
    Invalid {
        scim_type,
        detail: detail.into(),
    }
}

/// `attribute eq "value"`, the only filter Entra sends (RFC 7644 §3.4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Lower-cased attribute path.
    pub attribute: String,
    pub value: String,
}

pub fn parse_filter(input: &str) -> Result<Filter, Invalid> {
    let bad = || {
        invalid(
            "invalidFilter",
            "Only filters of the form attribute eq \"value\" are supported.",
        )
    };
    if input.len() > MAX_FILTER_LEN {
        return Err(invalid("invalidFilter", "The filter is too long."));
    }
    let s = input.trim();
    let (attribute, rest) = s.split_once(char::is_whitespace).ok_or_else(bad)?;
    let rest = rest.trim_start();
    let (op, rest) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let value = parse_json_string(rest.trim()).ok_or_else(bad)?;
    if attribute.is_empty()
        || !attribute
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '$'))
    {
        return Err(bad());
    }
    Ok(Filter {
        attribute: attribute.to_ascii_lowercase(),
        value,
    })
}

/// A whole JSON string literal (`"…"` with JSON escapes) and nothing after it.
fn parse_json_string(s: &str) -> Option<String> {
    if !s.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<Value>(s) {
        Ok(Value::String(v)) => Some(v),
        _ => None,
    }
}

/// A boolean as the RFC sends it, or as Entra's legacy mode does (`"True"`, `"False"`).
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn string(v: &Value, what: &str) -> Result<String, Invalid> {
    match v {
        Value::String(s) if s.chars().count() <= MAX_VALUE_LEN => Ok(s.clone()),
        Value::String(_) => Err(invalid("invalidValue", format!("{what} is too long."))),
        _ => Err(invalid("invalidValue", format!("{what} must be a string."))),
    }
}

/// A user as a POST or PUT describes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserBody {
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
}

pub fn parse_user(body: &Value) -> Result<UserBody, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("invalidSyntax", "The body must be a JSON object."))?;
    let get = |k: &str| {
        obj.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let user_name = match get("userName") {
        Some(v) => string(v, "userName")?,
        None => return Err(invalid("invalidValue", "userName is required.")),
    };
    let mut out = UserBody {
        user_name,
        active: true,
        ..Default::default()
    };
    if let Some(v) = get("externalId").filter(|v| !v.is_null()) {
        out.external_id = Some(string(v, "externalId")?);
    }
    if let Some(v) = get("displayName").filter(|v| !v.is_null()) {
        out.display_name = Some(string(v, "displayName")?);
    }
    if let Some(v) = get("active").filter(|v| !v.is_null()) {
        out.active =
            boolean(v).ok_or_else(|| invalid("invalidValue", "active must be a boolean."))?;
    }
    if let Some(name) = get("name").and_then(Value::as_object) {
        for (k, v) in name {
            if v.is_null() {
                continue;
            }
            if k.eq_ignore_ascii_case("givenName") {
                out.given_name = Some(string(v, "name.givenName")?);
            } else if k.eq_ignore_ascii_case("familyName") {
                out.family_name = Some(string(v, "name.familyName")?);
            }
        }
    }
    Ok(out)
}

/// What a PATCH of a user changes; `None`: left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPatch {
    pub user_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `Some(None)`: removed.
    pub external_id: Option<Option<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// The operations of a PATCH body, each as (op, path, value).
/// One operation: what, where (the path, if any), and the value, if any.
type Operation<'a> = (Op, Option<String>, Option<&'a Value>);

fn operations(body: &Value) -> Result<Vec<Operation<'_>>, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("invalidSyntax", "The body must be a JSON object."))?;
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| invalid("invalidSyntax", "Operations is required."))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(invalid(
            "invalidValue",
            format!("At most {MAX_OPERATIONS} operations per request."),
        ));
    }
    ops.iter()
        .map(|op| {
            let o = op
                .as_object()
                .ok_or_else(|| invalid("invalidSyntax", "Each operation must be an object."))?;
            let field = |k: &str| {
                o.iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v)
            };
            // Entra's legacy mode capitalises the op ("Replace"); the RFC's is lower case.
            let kind = match field("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(s) if s == "add" => Op::Add,
                Some(s) if s == "replace" => Op::Replace,
                Some(s) if s == "remove" => Op::Remove,
                _ => {
                    return Err(invalid(
                        "invalidSyntax",
                        "op must be add, replace or remove.",
                    ));
                }
            };
            let path = match field("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.len() <= MAX_FILTER_LEN => Some(p.trim().to_string()),
                Some(_) => return Err(invalid("invalidPath", "path must be a short string.")),
            };
            Ok((kind, path, field("value")))
        })
        .collect()
}

pub fn parse_user_patch(body: &Value) -> Result<UserPatch, Invalid> {
    let mut out = UserPatch::default();
    for (op, path, value) in operations(body)? {
        match (op, path) {
            (Op::Remove, Some(p)) => {
                if p.eq_ignore_ascii_case("externalId") {
                    out.external_id = Some(None);
                }
                // Removing another attribute changes nothing OnTrackio keeps.
            }
            (Op::Remove, None) => {
                return Err(invalid("noTarget", "remove needs a path."));
            }
            (_, Some(p)) => {
                let v =
                    value.ok_or_else(|| invalid("invalidValue", "The operation needs a value."))?;
                set_user_attribute(&mut out, &p, v)?;
            }
            (_, None) => {
                // No path: the value's keys are the attributes (or paths) to set.
                let obj = value.and_then(Value::as_object).ok_or_else(|| {
                    invalid(
                        "invalidValue",
                        "Without a path the value must be an object.",
                    )
                })?;
                for (k, v) in obj {
                    set_user_attribute(&mut out, k, v)?;
                }
            }
        }
    }
    Ok(out)
}

fn set_user_attribute(out: &mut UserPatch, path: &str, v: &Value) -> Result<(), Invalid> {
    let p = path
        .strip_prefix(USER_SCHEMA)
        .map(|s| s.trim_start_matches(':'))
        .unwrap_or(path)
        .to_ascii_lowercase();
    match p.as_str() {
        "active" => {
            out.active = Some(
                boolean(v).ok_or_else(|| invalid("invalidValue", "active must be a boolean."))?,
            );
        }
        "username" => out.user_name = Some(string(v, "userName")?),
        "externalid" => {
            out.external_id = Some(if v.is_null() {
                None
            } else {
                Some(string(v, "externalId")?)
            })
        }
        "name.givenname" => out.given_name = Some(string(v, "name.givenName")?),
        "name.familyname" => out.family_name = Some(string(v, "name.familyName")?),
        "name" => {
            if let Some(obj) = v.as_object() {
                for (k, v) in obj {
                    set_user_attribute(out, &format!("name.{k}"), v)?;
                }
            }
        }
        // Everything else Entra maps by default (displayName, emails, title, addresses,
        // phone numbers, the enterprise extension…) is accepted and not kept: OnTrackio's
        // email is the userName, and its names are name.givenName / name.familyName.
        _ => {}
    }
    Ok(())
}

/// A group as a POST describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBody {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

fn member_ids(v: &Value) -> Result<Vec<String>, Invalid> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![v],
        _ => {
            return Err(invalid(
                "invalidValue",
                "members must be a list of {\"value\": id}.",
            ));
        }
    };
    if items.len() > MAX_MEMBERS {
        return Err(invalid(
            "invalidValue",
            format!("At most {MAX_MEMBERS} members per request."),
        ));
    }
    items
        .into_iter()
        .map(|m| {
            m.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    invalid("invalidValue", "Each member needs a value (the user's id).")
                })
        })
        .collect()
}

pub fn parse_group(body: &Value) -> Result<GroupBody, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("invalidSyntax", "The body must be a JSON object."))?;
    let get = |k: &str| {
        obj.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let display_name = match get("displayName") {
        Some(v) => string(v, "displayName")?,
        None => return Err(invalid("invalidValue", "displayName is required.")),
    };
    if display_name.trim().is_empty() || display_name.chars().any(char::is_control) {
        return Err(invalid("invalidValue", "displayName must be a name."));
    }
    let external_id = match get("externalId") {
        None | Some(Value::Null) => None,
        Some(v) => Some(string(v, "externalId")?),
    };
    let members = match get("members") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => member_ids(v)?,
    };
    Ok(GroupBody {
        display_name,
        external_id,
        members,
    })
}

/// What a PATCH of a group changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupPatch {
    pub display_name: Option<String>,
    pub external_id: Option<Option<String>>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Every current member goes (a `remove` of `members` with neither filter nor value,
    /// or a `replace` of `members`, before its `add`).
    pub remove_all: bool,
}

/// `members[value eq "id"]`, the compliant removal of one member.
fn member_filter(path: &str) -> Option<String> {
    let head = path.get(..8)?;
    if !head.eq_ignore_ascii_case("members[") {
        return None;
    }
    let inner = path.get(8..)?.strip_suffix(']')?;
    let f = parse_filter(inner).ok()?;
    (f.attribute == "value").then_some(f.value)
}

pub fn parse_group_patch(body: &Value) -> Result<GroupPatch, Invalid> {
    let mut out = GroupPatch::default();
    for (op, path, value) in operations(body)? {
        let lower = path.as_deref().map(str::to_ascii_lowercase);
        match (op, lower.as_deref()) {
            (Op::Add, Some("members")) => out.add.extend(member_ids(need(value)?)?),
            (Op::Replace, Some("members")) => {
                out.remove_all = true;
                out.add = member_ids(need(value)?)?;
            }
            (Op::Remove, Some("members")) => match value {
                // Entra's legacy shape: the members to remove as the value.
                Some(v) if !v.is_null() => out.remove.extend(member_ids(v)?),
                _ => out.remove_all = true,
            },
            (Op::Remove, Some(p)) if p.starts_with("members[") => {
                let id = member_filter(path.as_deref().unwrap_or_default())
                    .ok_or_else(|| invalid("invalidPath", "Use members[value eq \"id\"]."))?;
                out.remove.push(id);
            }
            (Op::Add | Op::Replace, Some("displayname")) => {
                out.display_name = Some(string(need(value)?, "displayName")?);
            }
            (Op::Add | Op::Replace, Some("externalid")) => {
                out.external_id = Some(Some(string(need(value)?, "externalId")?));
            }
            (Op::Remove, Some("externalid")) => out.external_id = Some(None),
            (Op::Add | Op::Replace, None) => {
                let obj = value.and_then(Value::as_object).ok_or_else(|| {
                    invalid(
                        "invalidValue",
                        "Without a path the value must be an object.",
                    )
                })?;
                for (k, v) in obj {
                    match k.to_ascii_lowercase().as_str() {
                        "displayname" => out.display_name = Some(string(v, "displayName")?),
                        "externalid" => out.external_id = Some(Some(string(v, "externalId")?)),
                        "members" => {
                            if op == Op::Replace {
                                out.remove_all = true;
                                out.add = member_ids(v)?;
                            } else {
                                out.add.extend(member_ids(v)?);
                            }
                        }
                        _ => {}
                    }
                }
            }
            (Op::Remove, None) => return Err(invalid("noTarget", "remove needs a path.")),
            // Other group attributes are not kept.
            _ => {}
        }
        if out.add.len() + out.remove.len() > MAX_MEMBERS {
            return Err(invalid(
                "invalidValue",
                format!("At most {MAX_MEMBERS} members per request."),
            ));
        }
    }
    Ok(out)
}

fn need(v: Option<&Value>) -> Result<&Value, Invalid> {
    v.filter(|v| !v.is_null())
        .ok_or_else(|| invalid("invalidValue", "The operation needs a value."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    #[test]
    fn filters_are_one_equality_with_a_json_string() {
        assert_eq!(
            parse_filter(r#"userName eq "ada@acme.test""#).unwrap(),
            Filter {
                attribute: "username".into(),
                value: "ada@acme.test".into()
            }
        );
        assert_eq!(
            parse_filter(r#"externalId EQ "a \"b\"""#).unwrap().value,
            "a \"b\""
        );
        for bad in [
            "",
            "userName",
            r#"userName co "a""#,
            r#"userName eq a"#,
            r#"userName eq "a" and active eq true"#,
            r#"user Name eq "a""#,
        ] {
            assert_eq!(
                parse_filter(bad).unwrap_err().scim_type,
                "invalidFilter",
                "{bad}"
            );
        }
        assert!(parse_filter(&format!(r#"userName eq "{}""#, "a".repeat(600))).is_err());
    }

    #[test]
    fn entra_legacy_and_compliant_user_patches_mean_the_same() {
        let legacy = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "name.givenName", "value": "Ada"}
        ]});
        let compliant = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "value": {"active": false, "name.givenName": "Ada"}}
        ]});
        let a = parse_user_patch(&legacy).unwrap();
        let b = parse_user_patch(&compliant).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.active, Some(false));
        assert_eq!(a.given_name.as_deref(), Some("Ada"));
    }

    #[test]
    fn a_user_patch_refuses_what_it_cannot_read() {
        for body in [
            json!({}),
            json!({"Operations": [{"op": "Frobnicate", "path": "active", "value": true}]}),
            json!({"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
            json!({"Operations": [{"op": "replace", "value": 3}]}),
            json!({"Operations": [{"op": "remove"}]}),
            json!([1, 2]),
        ] {
            assert!(parse_user_patch(&body).is_err(), "{body}");
        }
        let many: Vec<_> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "replace", "path": "active", "value": true}))
            .collect();
        assert!(parse_user_patch(&json!({"Operations": many})).is_err());
    }

    #[test]
    fn member_removal_in_both_of_entras_shapes() {
        let legacy = json!({"Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]}
        ]});
        let compliant = json!({"Operations": [
            {"op": "remove", "path": "members[value eq \"u1\"]"}
        ]});
        assert_eq!(parse_group_patch(&legacy).unwrap().remove, vec!["u1"]);
        assert_eq!(parse_group_patch(&compliant).unwrap().remove, vec!["u1"]);
        let all = json!({"Operations": [{"op": "remove", "path": "members"}]});
        assert!(parse_group_patch(&all).unwrap().remove_all);
        let add = json!({"Operations": [
            {"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}
        ]});
        assert_eq!(parse_group_patch(&add).unwrap().add, vec!["u1", "u2"]);
    }

    #[test]
    fn odd_paths_and_filters_are_refused_without_a_panic() {
        for path in [
            "members[",
            "membersé[value eq \"x\"]",
            "mémbers[value eq \"x\"]",
            "members[value eq \"x\"",
            "members[display eq \"x\"]",
            "members[]",
            "m",
            "",
        ] {
            let body = json!({"Operations": [{"op": "remove", "path": path}]});
            let _ = parse_group_patch(&body);
            let _ = parse_user_patch(&body);
        }
        for f in [
            "é eq \"x\"",
            "userName eq \"\u{0}\"",
            "a eq \"",
            "a eq \"x\" ",
            "\u{3000}",
        ] {
            let _ = parse_filter(f);
        }
        assert_eq!(
            parse_group_patch(
                &json!({"Operations": [{"op": "remove", "path": "members[display eq \"x\"]"}]})
            )
            .unwrap_err()
            .scim_type,
            "invalidPath"
        );
    }

    #[test]
    fn too_many_members_in_one_request_are_refused() {
        let members: Vec<_> = (0..=MAX_MEMBERS)
            .map(|i| json!({"value": i.to_string()}))
            .collect();
        let body = json!({"Operations": [{"op": "add", "path": "members", "value": members}]});
        assert_eq!(
            parse_group_patch(&body).unwrap_err().scim_type,
            "invalidValue"
        );
    }

    #[test]
    fn a_user_body_reads_entras_create() {
        let body = json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a1b",
            "userName": "ada@acme.test",
            "active": "True",
            "displayName": "Ada Lovelace",
            "emails": [{"primary": true, "type": "work", "value": "ada@acme.test"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
            "roles": []
        });
        let u = parse_user(&body).unwrap();
        assert_eq!(u.user_name, "ada@acme.test");
        assert!(u.active);
        assert_eq!(u.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(u.external_id.as_deref(), Some("0a1b"));
        assert!(parse_user(&json!({"active": true})).is_err());
    }
}
