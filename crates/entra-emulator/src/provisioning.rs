//! Microsoft Entra's provisioning service as a SCIM client: it replays the request
//! sequences Entra sends to an application's SCIM 2.0 endpoint (test connection, create,
//! update, disable, enable, delete, group create and membership changes), in either of
//! Entra's two dialects:
//!
//! - [`Mode::Legacy`]: what the service sends by default — capitalised `op` (`"Replace"`,
//!   `"Add"`, `"Remove"`), booleans as the strings `"True"`/`"False"`, and a member removal
//!   that lists the members in `value` (`{"op":"Remove","path":"members","value":[…]}`);
//! - [`Mode::Compliant`]: what the service sends once the app's Tenant URL carries the
//!   feature flag `?aadOptscim062020` — lower-case `op`, JSON booleans, and
//!   `{"op":"remove","path":"members[value eq \"…\"]"}`.
//!
//! Shapes follow Microsoft Learn, "Tutorial: Develop and plan provisioning for a SCIM
//! endpoint in Microsoft Entra ID" (the request/response examples) and "Known issues and
//! resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra user provisioning
//! service". The client does not speak HTTP itself: give it a [`Transport`] (the tests wrap
//! their reqwest client), so the emulator crate needs no HTTP client of its own.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The feature flag that switches Entra to RFC-compliant PATCH requests.
pub const COMPLIANCE_FLAG: &str = "aadOptscim062020";

/// Which of Entra's dialects to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Legacy,
    Compliant,
}

/// One HTTP request the client wants sent.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    /// Always `Authorization: Bearer …`, `Accept`, and `Content-Type` with a body.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// What came back.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse, String>> + Send + 'a>>;

/// Sends one request (any HTTP client will do).
pub trait Transport: Send + Sync {
    fn send(&self, req: HttpRequest) -> SendFuture<'_>;
}

/// A person of the directory, as Entra's default attribute mappings send them.
#[derive(Clone, Debug)]
pub struct DirectoryUser {
    /// The user's object id (`objectId`), sent as `externalId`.
    pub object_id: String,
    /// `userPrincipalName`, sent as `userName`.
    pub user_principal_name: String,
    pub given_name: String,
    pub surname: String,
    pub display_name: String,
    pub mail: String,
    /// `Switch([IsSoftDeleted], , "False", "True", "True", "False")` → `active`.
    pub account_enabled: bool,
}

/// A group of the directory.
#[derive(Clone, Debug)]
pub struct DirectoryGroup {
    pub object_id: String,
    pub display_name: String,
}

/// The outcome of a step: every request it sent, in order, with its answer.
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    pub requests: Vec<(String, String, u16)>,
    pub last: Option<HttpResponse>,
}

impl Exchange {
    pub fn status(&self) -> u16 {
        self.last.as_ref().map_or(0, |r| r.status)
    }
    pub fn json(&self) -> Value {
        self.last.as_ref().map_or(Value::Null, HttpResponse::json)
    }
}

/// Entra's provisioning service, pointed at one Tenant URL with one Secret Token.
pub struct ProvisioningClient<T: Transport> {
    base: String,
    token: String,
    mode: Mode,
    transport: T,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl<T: Transport> ProvisioningClient<T> {
    /// `base`: the Tenant URL as typed into Entra (`https://acme.example/scim/v2`).
    pub fn new(base: &str, token: &str, mode: Mode, transport: T) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            mode,
            transport,
        }
    }

    /// As Entra reads the Tenant URL an admin typed: `?aadOptscim062020` (the feature flag)
    /// switches to [`Mode::Compliant`] and is not part of the requests' paths.
    pub fn for_tenant_url(tenant_url: &str, token: &str, transport: T) -> Self {
        let (base, query) = tenant_url.split_once('?').unwrap_or((tenant_url, ""));
        let compliant = query
            .split('&')
            .any(|p| p.split('=').next() == Some(COMPLIANCE_FLAG));
        let mode = if compliant {
            Mode::Compliant
        } else {
            Mode::Legacy
        };
        Self::new(base, token, mode, transport)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The same client with another token (the admin pasted a rotated one).
    pub fn set_token(&mut self, token: &str) {
        self.token = token.to_string();
    }

    /// One raw request, with Entra's headers.
    pub async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpResponse, String> {
        let mut headers = vec![
            (
                "Authorization".to_string(),
                format!("Bearer {}", self.token),
            ),
            ("Accept".to_string(), "application/scim+json".to_string()),
        ];
        if body.is_some() {
            headers.push((
                "Content-Type".to_string(),
                "application/scim+json; charset=utf-8".to_string(),
            ));
        }
        self.transport
            .send(HttpRequest {
                method,
                url: format!("{}{path}", self.base),
                headers,
                body: body.map(Value::to_string),
            })
            .await
    }

    async fn step(
        &self,
        ex: &mut Exchange,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<HttpResponse, String> {
        let r = self.send(method, path, body).await?;
        ex.requests
            .push((method.to_string(), path.to_string(), r.status));
        ex.last = Some(r.clone());
        Ok(r)
    }

    fn op(&self, op: &str) -> String {
        match self.mode {
            Mode::Legacy => {
                let mut c = op.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
            Mode::Compliant => op.to_ascii_lowercase(),
        }
    }

    fn boolean(&self, b: bool) -> Value {
        match self.mode {
            Mode::Legacy => Value::String(if b { "True" } else { "False" }.into()),
            Mode::Compliant => Value::Bool(b),
        }
    }

    fn patch(ops: Vec<Value>) -> Value {
        json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
    }

    /// Entra's **Test Connection**: a query for a user who cannot exist; any 2xx passes.
    pub async fn test_connection(&self) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let probe = uuid::Uuid::new_v4().to_string();
        let filter = encode(&format!("userName eq {}", quote(&probe)));
        self.step(&mut ex, "GET", &format!("/Users?filter={filter}"), None)
            .await?;
        Ok(ex)
    }

    /// The user's SCIM id, matched by `userName` as Entra's default matching does.
    pub async fn find_user(&self, user_name: &str) -> Result<Option<String>, String> {
        let filter = encode(&format!("userName eq {}", quote(user_name)));
        let r = self
            .send("GET", &format!("/Users?filter={filter}"), None)
            .await?;
        Ok(r.json()["Resources"][0]["id"].as_str().map(str::to_string))
    }

    fn user_body(&self, u: &DirectoryUser) -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "externalId": u.object_id,
            "userName": u.user_principal_name,
            "active": self.boolean(u.account_enabled),
            "displayName": u.display_name,
            "emails": [{"primary": true, "type": "work", "value": u.mail}],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": format!("{} {}", u.given_name, u.surname),
                "familyName": u.surname,
                "givenName": u.given_name,
            },
            "roles": []
        })
    }

    /// A user comes into scope: query by `userName`, then create (POST), or, when the
    /// application has the user already, update them (PATCH) — Entra's matching.
    /// The exchange's last answer is the POST's or the PATCH's.
    pub async fn provision_user(
        &self,
        u: &DirectoryUser,
    ) -> Result<(Exchange, Option<String>), String> {
        let mut ex = Exchange::default();
        let filter = encode(&format!("userName eq {}", quote(&u.user_principal_name)));
        let found = self
            .step(&mut ex, "GET", &format!("/Users?filter={filter}"), None)
            .await?;
        if let Some(id) = found.json()["Resources"][0]["id"].as_str() {
            let id = id.to_string();
            let ops = self.update_ops(u);
            self.step(
                &mut ex,
                "PATCH",
                &format!("/Users/{id}"),
                Some(&Self::patch(ops)),
            )
            .await?;
            return Ok((ex, Some(id)));
        }
        let created = self
            .step(&mut ex, "POST", "/Users", Some(&self.user_body(u)))
            .await?;
        let id = created.json()["id"].as_str().map(str::to_string);
        Ok((ex, id))
    }

    fn update_ops(&self, u: &DirectoryUser) -> Vec<Value> {
        match self.mode {
            // One operation per attribute, with a path each.
            Mode::Legacy => vec![
                json!({"op": self.op("add"), "path": "externalId", "value": u.object_id}),
                json!({"op": self.op("replace"), "path": "displayName", "value": u.display_name}),
                json!({"op": self.op("replace"), "path": "emails[type eq \"work\"].value", "value": u.mail}),
                json!({"op": self.op("replace"), "path": "name.givenName", "value": u.given_name}),
                json!({"op": self.op("replace"), "path": "name.familyName", "value": u.surname}),
            ],
            // One `replace` without a path whose value's keys are the paths.
            Mode::Compliant => vec![json!({
                "op": "replace",
                "value": {
                    "externalId": u.object_id,
                    "displayName": u.display_name,
                    "emails[type eq \"work\"].value": u.mail,
                    "name.givenName": u.given_name,
                    "name.familyName": u.surname,
                }
            })],
        }
    }

    /// An attribute changed in the directory: PATCH the user.
    pub async fn update_user(&self, id: &str, u: &DirectoryUser) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let ops = self.update_ops(u);
        self.step(
            &mut ex,
            "PATCH",
            &format!("/Users/{id}"),
            Some(&Self::patch(ops)),
        )
        .await?;
        Ok(ex)
    }

    /// The user's UPN changed: `userName` replaced.
    pub async fn rename_user(&self, id: &str, user_name: &str) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let ops = vec![json!({"op": self.op("replace"), "path": "userName", "value": user_name})];
        self.step(
            &mut ex,
            "PATCH",
            &format!("/Users/{id}"),
            Some(&Self::patch(ops)),
        )
        .await?;
        Ok(ex)
    }

    /// The user is disabled in the directory, unassigned, or out of scope: `active` false.
    pub async fn disable_user(&self, id: &str) -> Result<Exchange, String> {
        self.set_active(id, false).await
    }

    /// The user is enabled again or back in scope.
    pub async fn enable_user(&self, id: &str) -> Result<Exchange, String> {
        self.set_active(id, true).await
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let op = json!({"op": self.op("replace"), "path": "active", "value": self.boolean(active)});
        self.step(
            &mut ex,
            "PATCH",
            &format!("/Users/{id}"),
            Some(&Self::patch(vec![op])),
        )
        .await?;
        Ok(ex)
    }

    /// The user is deleted from the directory (after the soft-delete period): DELETE.
    pub async fn delete_user(&self, id: &str) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        self.step(&mut ex, "DELETE", &format!("/Users/{id}"), None)
            .await?;
        Ok(ex)
    }

    /// A group comes into scope: query by `displayName` without members, then POST.
    pub async fn provision_group(
        &self,
        g: &DirectoryGroup,
    ) -> Result<(Exchange, Option<String>), String> {
        let mut ex = Exchange::default();
        let filter = encode(&format!("displayName eq {}", quote(&g.display_name)));
        let found = self
            .step(
                &mut ex,
                "GET",
                &format!("/Groups?excludedAttributes=members&filter={filter}"),
                None,
            )
            .await?;
        if let Some(id) = found.json()["Resources"][0]["id"].as_str() {
            return Ok((ex, Some(id.to_string())));
        }
        let body = json!({
            "schemas": [GROUP_SCHEMA],
            "externalId": g.object_id,
            "displayName": g.display_name,
            "members": [],
            "meta": {"resourceType": "Group"}
        });
        let created = self.step(&mut ex, "POST", "/Groups", Some(&body)).await?;
        let id = created.json()["id"].as_str().map(str::to_string);
        Ok((ex, id))
    }

    /// Members join the group (users already provisioned, by their SCIM ids).
    pub async fn add_members(&self, group: &str, users: &[&str]) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let members: Vec<Value> = users
            .iter()
            .map(|u| json!({"$ref": null, "value": u}))
            .collect();
        let op = json!({"op": self.op("add"), "path": "members", "value": members});
        self.step(
            &mut ex,
            "PATCH",
            &format!("/Groups/{group}"),
            Some(&Self::patch(vec![op])),
        )
        .await?;
        Ok(ex)
    }

    /// Members leave the group: the legacy shape lists them in `value`; the compliant one
    /// sends one filtered path per member.
    pub async fn remove_members(&self, group: &str, users: &[&str]) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let ops = match self.mode {
            Mode::Legacy => {
                let members: Vec<Value> = users
                    .iter()
                    .map(|u| json!({"$ref": null, "value": u}))
                    .collect();
                vec![json!({"op": "Remove", "path": "members", "value": members})]
            }
            Mode::Compliant => users
                .iter()
                .map(|u| json!({"op": "remove", "path": format!("members[value eq {}]", quote(u))}))
                .collect(),
        };
        self.step(
            &mut ex,
            "PATCH",
            &format!("/Groups/{group}"),
            Some(&Self::patch(ops)),
        )
        .await?;
        Ok(ex)
    }

    /// The group is renamed in the directory.
    pub async fn rename_group(&self, group: &str, display_name: &str) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        let op = json!({"op": self.op("replace"), "path": "displayName", "value": display_name});
        self.step(
            &mut ex,
            "PATCH",
            &format!("/Groups/{group}"),
            Some(&Self::patch(vec![op])),
        )
        .await?;
        Ok(ex)
    }

    /// The group leaves scope or is deleted.
    pub async fn delete_group(&self, group: &str) -> Result<Exchange, String> {
        let mut ex = Exchange::default();
        self.step(&mut ex, "DELETE", &format!("/Groups/{group}"), None)
            .await?;
        Ok(ex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<HttpRequest>>>);

    impl Transport for Recorder {
        fn send(&self, req: HttpRequest) -> SendFuture<'_> {
            self.0.lock().push(req);
            Box::pin(async {
                Ok(HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: r#"{"Resources":[]}"#.into(),
                })
            })
        }
    }

    fn body(r: &HttpRequest) -> Value {
        serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn the_feature_flag_in_the_tenant_url_chooses_the_compliant_dialect() {
        let c = ProvisioningClient::for_tenant_url(
            "https://acme.example/scim/v2?aadOptscim062020",
            "t",
            Recorder::default(),
        );
        assert_eq!(c.mode(), Mode::Compliant);
        assert_eq!(c.base, "https://acme.example/scim/v2");
        let c = ProvisioningClient::for_tenant_url(
            "https://acme.example/scim/v2/",
            "t",
            Recorder::default(),
        );
        assert_eq!(c.mode(), Mode::Legacy);
        assert_eq!(c.base, "https://acme.example/scim/v2");
    }

    #[tokio::test]
    async fn the_two_dialects_disable_and_remove_members_in_their_own_shapes() {
        for (mode, op, value) in [
            (Mode::Legacy, "Replace", json!("False")),
            (Mode::Compliant, "replace", json!(false)),
        ] {
            let rec = Recorder::default();
            let c = ProvisioningClient::new("http://x/scim/v2/", "t", mode, rec.clone());
            c.disable_user("u1").await.unwrap();
            c.remove_members("g1", &["u1"]).await.unwrap();
            let sent = rec.0.lock().clone();
            assert_eq!(sent[0].method, "PATCH");
            assert_eq!(sent[0].url, "http://x/scim/v2/Users/u1");
            let b = body(&sent[0]);
            assert_eq!(b["Operations"][0]["op"], op);
            assert_eq!(b["Operations"][0]["value"], value);
            let r = body(&sent[1]);
            match mode {
                Mode::Legacy => {
                    assert_eq!(r["Operations"][0]["path"], "members");
                    assert_eq!(r["Operations"][0]["value"][0]["value"], "u1");
                }
                Mode::Compliant => {
                    assert_eq!(r["Operations"][0]["path"], "members[value eq \"u1\"]");
                    assert!(r["Operations"][0].get("value").is_none());
                }
            }
            assert!(
                sent[0]
                    .headers
                    .iter()
                    .any(|(k, v)| k == "Authorization" && v == "Bearer t")
            );
        }
    }
}
