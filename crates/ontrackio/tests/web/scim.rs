//! SCIM 2.0 provisioning as Microsoft Entra speaks it, driven by the emulator crate's
//! provisioning client in both of Entra's dialects (legacy and `aadOptscim062020`): the
//! user and group sequences, the token card (shown once, hashed, rotated, revoked, audited),
//! authentication, Entra's quirks, SCIM's errors, sessions ending on deprovisioning, roles
//! from groups that never reach super-admin, a race, the rate limit, and the link between a
//! SCIM-created user and their first Microsoft sign-in.

use entra_emulator::demo as ms;
use entra_emulator::provisioning::{
    DirectoryGroup, DirectoryUser, HttpRequest, HttpResponse, Mode, ProvisioningClient, SendFuture,
    Transport,
};
use ontrackio::domain::{Role, UserStatus};
use ontrackio::store;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const CARD: &str = "/admin/settings/integrations/scim";
const TOKEN: &str = "/admin/settings/integrations/scim/token";
const MAPPING: &str = "/admin/settings/integrations/scim/mapping";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The provisioning client's transport: the tests' reqwest client, which maps
/// `*.localhost` to the app.
struct Reqwest(Client);

impl Transport for Reqwest {
    fn send(&self, req: HttpRequest) -> SendFuture<'_> {
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
            let mut b = self.0.request(method, &req.url);
            for (k, v) in &req.headers {
                b = b.header(k, v);
            }
            if let Some(body) = req.body {
                b = b.body(body);
            }
            let r = b.send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let body = r.text().await.map_err(|e| e.to_string())?;
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
}

fn base(app: &TestApp, slug: &str) -> String {
    app.url(slug, "/scim/v2")
}

/// Entra pointed at the workspace, the dialect chosen as an admin does: by the feature flag
/// in the Tenant URL.
fn entra(app: &TestApp, slug: &str, token: &str, mode: Mode) -> ProvisioningClient<Reqwest> {
    let tenant_url = match mode {
        Mode::Legacy => base(app, slug),
        Mode::Compliant => format!("{}?aadOptscim062020", base(app, slug)),
    };
    let c = ProvisioningClient::for_tenant_url(&tenant_url, token, Reqwest(app.browser()));
    assert_eq!(c.mode(), mode);
    c
}

/// The super-admin generates the workspace's token on the card; returns it as shown once.
async fn generate_token(app: &TestApp, slug: &str, admin: &str) -> String {
    let browser = app.signed_in(slug, admin).await;
    let r = app
        .post_form(&browser, slug, TOKEN, CARD, &[("action", "generate")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    token_on(&r.text().await.unwrap())
}

fn token_on(html: &str) -> String {
    let start = html
        .find("id=\"value-token\">")
        .expect("the token is shown")
        + 17;
    let end = start + html[start..].find("</code>").unwrap();
    html[start..end].to_string()
}

fn directory_user(n: &str, oid: &str) -> DirectoryUser {
    DirectoryUser {
        object_id: oid.to_string(),
        user_principal_name: format!("{n}@acme.test"),
        given_name: "Given".into(),
        surname: n.to_string(),
        display_name: format!("Given {n}"),
        mail: format!("{n}@acme.test"),
        account_enabled: true,
    }
}

fn oid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn scim_get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let r = app
        .browser()
        .get(format!("{}{path}", base(app, "acme")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A request, and the status and `scimType` it must get.
type BadRequest = (
    &'static str,
    String,
    Option<Value>,
    u16,
    Option<&'static str>,
);

fn assert_scim_error(body: &Value, status: &str) {
    assert_eq!(body["schemas"][0], ERROR_SCHEMA, "{body}");
    assert_eq!(body["status"], status, "{body}");
}

#[tokio::test]
async fn entra_test_connection_and_the_discovery_endpoints_answer_in_scim_json() {
    let app = spawn_app().await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Legacy);
    let ex = entra.test_connection().await.unwrap();
    assert_eq!(ex.status(), 200);
    assert_eq!(ex.json()["totalResults"], 0);
    assert_eq!(
        ex.last.as_ref().unwrap().header("content-type"),
        Some("application/scim+json")
    );
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        let r = entra.send("GET", path, None).await.unwrap();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
    }
    let spc = entra
        .send("GET", "/ServiceProviderConfig", None)
        .await
        .unwrap()
        .json();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    // The feature flag, should it arrive on a request, is ignored.
    let (s, b) = scim_get(
        &app,
        &token,
        "/Users?aadOptscim062020&filter=userName%20eq%20%22x%40acme.test%22",
    )
    .await;
    assert_eq!((s, b["totalResults"].clone()), (StatusCode::OK, json!(0)));
    // An unknown filter *value* is an empty list, whichever attribute.
    let (s, b) = scim_get(&app, &token, "/Users?filter=externalId%20eq%20%22nobody%22").await;
    assert_eq!((s, b["totalResults"].clone()), (StatusCode::OK, json!(0)));
}

/// The whole life of a user and a group, in one of Entra's dialects.
async fn lifecycle(mode: Mode) {
    let app = spawn_app().await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, mode);
    let u = directory_user("ada", &oid());

    // Create: a query by userName finds nobody, then a POST.
    let (ex, id) = entra.provision_user(&u).await.unwrap();
    let methods: Vec<&str> = ex.requests.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(methods, ["GET", "POST"]);
    assert_eq!(ex.status(), 201, "{}", ex.json());
    let id = id.unwrap();
    let created = app.user("acme", "ada@acme.test").await.unwrap();
    assert_eq!(created.id.as_str(), id);
    assert_eq!(created.role, Role::Employee);
    assert_eq!(created.status, UserStatus::Invited);
    assert_eq!(
        (created.first_name.as_str(), created.last_name.as_str()),
        ("Given", "ada")
    );
    assert_eq!(ex.json()["externalId"], u.object_id.as_str());
    assert_eq!(app.audit_count("acme", "Provisioned by SCIM").await, 1);
    let row = app
        .audit("acme")
        .await
        .into_iter()
        .find(|e| e.action == "Provisioned by SCIM")
        .unwrap();
    assert_eq!(row.actor_label, "SCIM");

    // Found again by userName and by externalId.
    assert_eq!(
        entra.find_user("ada@acme.test").await.unwrap().as_deref(),
        Some(id.as_str())
    );
    let (s, b) = scim_get(
        &app,
        &token,
        &format!("/Users?filter=externalId%20eq%20%22{}%22", u.object_id),
    )
    .await;
    assert_eq!(
        (s, b["Resources"][0]["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    // Update: new names.
    let mut renamed = u.clone();
    renamed.given_name = "Augusta".into();
    renamed.surname = "King".into();
    let ex = entra.update_user(&id, &renamed).await.unwrap();
    assert_eq!(ex.status(), 200, "{}", ex.json());
    let now = app.user("acme", "ada@acme.test").await.unwrap();
    assert_eq!(
        (now.first_name.as_str(), now.last_name.as_str()),
        ("Augusta", "King")
    );
    assert_eq!(app.audit_count("acme", "Updated by SCIM").await, 1);
    // The same update again changes nothing and writes nothing.
    entra.update_user(&id, &renamed).await.unwrap();
    assert_eq!(app.audit_count("acme", "Updated by SCIM").await, 1);

    // Disable, enable.
    let ex = entra.disable_user(&id).await.unwrap();
    assert_eq!(ex.status(), 200, "{}", ex.json());
    assert_eq!(ex.json()["active"], false);
    assert_eq!(
        app.user("acme", "ada@acme.test").await.unwrap().status,
        UserStatus::Disabled
    );
    assert_eq!(app.audit_count("acme", "Deprovisioned by SCIM").await, 1);
    let ex = entra.enable_user(&id).await.unwrap();
    assert_eq!(ex.json()["active"], true);
    assert_eq!(
        app.user("acme", "ada@acme.test").await.unwrap().status,
        UserStatus::Invited
    );
    assert_eq!(app.audit_count("acme", "Reprovisioned by SCIM").await, 1);

    // Groups: create, add, remove (the dialect's own removal shape), delete.
    let g = DirectoryGroup {
        object_id: oid(),
        display_name: "Finance".into(),
    };
    let (ex, gid) = entra.provision_group(&g).await.unwrap();
    assert_eq!(ex.status(), 201, "{}", ex.json());
    let gid = gid.unwrap();
    let ex = entra.add_members(&gid, &[&id]).await.unwrap();
    assert_eq!(ex.status(), 204, "{}", ex.json());
    let (_, group) = scim_get(&app, &token, &format!("/Groups/{gid}")).await;
    assert_eq!(group["members"][0]["value"], id.as_str());
    let ex = entra.remove_members(&gid, &[&id]).await.unwrap();
    assert_eq!(ex.status(), 204, "{}", ex.json());
    let (_, group) = scim_get(&app, &token, &format!("/Groups/{gid}")).await;
    assert_eq!(group["members"], json!([]));
    // A `replace` of members: everyone out, the new list in.
    let (_, other) = entra
        .provision_user(&directory_user("bea", &oid()))
        .await
        .unwrap();
    let other = other.unwrap();
    entra.add_members(&gid, &[&id]).await.unwrap();
    let replace =
        json!({"Operations": [{"op": "replace", "path": "members", "value": [{"value": other}]}]});
    let r = entra
        .send("PATCH", &format!("/Groups/{gid}"), Some(&replace))
        .await
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.body);
    let (_, group) = scim_get(&app, &token, &format!("/Groups/{gid}")).await;
    assert_eq!(group["members"].as_array().unwrap().len(), 1);
    assert_eq!(group["members"][0]["value"], other.as_str());
    assert_eq!(
        entra
            .rename_group(&gid, "Finance EMEA")
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(entra.delete_group(&gid).await.unwrap().status(), 204);
    let (s, b) = scim_get(&app, &token, &format!("/Groups/{gid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_scim_error(&b, "404");

    // Delete: the user is disabled, SCIM no longer sees them, the account stays.
    assert_eq!(entra.delete_user(&id).await.unwrap().status(), 204);
    let (s, b) = scim_get(&app, &token, &format!("/Users/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_scim_error(&b, "404");
    assert_eq!(entra.find_user("ada@acme.test").await.unwrap(), None);
    assert_eq!(
        app.user("acme", "ada@acme.test").await.unwrap().status,
        UserStatus::Disabled
    );

    // Back in scope: Entra creates the user again, and the same account returns.
    let (ex, again) = entra.provision_user(&u).await.unwrap();
    assert_eq!(ex.status(), 201, "{}", ex.json());
    assert_eq!(again.as_deref(), Some(id.as_str()));
    assert_ne!(
        app.user("acme", "ada@acme.test").await.unwrap().status,
        UserStatus::Disabled
    );
}

#[tokio::test]
async fn entras_legacy_dialect_provisions_updates_disables_and_deletes() {
    lifecycle(Mode::Legacy).await;
}

#[tokio::test]
async fn entras_compliant_dialect_provisions_updates_disables_and_deletes() {
    lifecycle(Mode::Compliant).await;
}

#[tokio::test]
async fn an_existing_user_is_matched_by_user_name_and_updated_instead_of_duplicated() {
    let app = spawn_app().await;
    app.invite("acme", "grace@acme.test", Role::Admin, false)
        .await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Compliant);
    let (ex, id) = entra
        .provision_user(&directory_user("grace", &oid()))
        .await
        .unwrap();
    let methods: Vec<&str> = ex.requests.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH"]);
    let grace = app.user("acme", "grace@acme.test").await.unwrap();
    assert_eq!(id.as_deref(), Some(grace.id.as_str()));
    // The role an admin gave stays: SCIM creates employees, it does not demote by itself.
    assert_eq!(grace.role, Role::Admin);
    assert_eq!(grace.last_name, "grace");
}

#[tokio::test]
async fn requests_without_the_workspaces_token_get_401_in_scims_error_schema() {
    let app = spawn_app().await;
    app.create_workspace("globex", "Globex", "admin@globex.test")
        .await;
    // No token yet: every request is refused.
    let (s, b) = scim_get(&app, "anything", "/Users").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_scim_error(&b, "401");
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let globex = generate_token(&app, "globex", "admin@globex.test").await;
    let missing = app
        .browser()
        .get(format!("{}/Users", base(&app, "acme")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["content-type"], "application/scim+json");
    assert!(missing.headers().contains_key("www-authenticate"));
    for wrong in [
        format!("{token}x"),
        globex.clone(),
        "Basic abc".into(),
        String::new(),
    ] {
        let (s, b) = scim_get(&app, &wrong, "/Users").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{wrong}");
        assert_scim_error(&b, "401");
    }
    // The first refusal of the minute is in the audit log; the rest are only counted.
    assert_eq!(app.audit_count("acme", "SCIM request refused").await, 1);
    // Each workspace's own token works there.
    assert_eq!(scim_get(&app, &token, "/Users").await.0, StatusCode::OK);
    let r = app
        .browser()
        .get(format!("{}/Users", base(&app, "globex")))
        .bearer_auth(&globex)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_token_is_shown_once_stored_hashed_rotated_and_revoked_with_audit_rows() {
    let app = spawn_app().await;
    let browser = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(&browser, "acme", TOKEN, CARD, &[("action", "generate")])
        .await;
    let first = token_on(&r.text().await.unwrap());
    assert!(first.starts_with("otscim_"));
    // Never shown again.
    let page = browser.get(app.url("acme", CARD)).send().await.unwrap();
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(!html.contains(&first));
    assert!(html.contains(&app.url("acme", "/scim/v2")));
    // Only the hash is stored.
    let ws = app.workspace("acme").await;
    let row = store::scim::settings(app.db.pool(), &ws.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.token_hash.as_deref(),
        Some(ontrackio::crypto::hash_token(&first).as_str())
    );
    assert_eq!(scim_get(&app, &first, "/Users").await.0, StatusCode::OK);

    // Rotate: the old token stops at once, the new one works.
    let r = app
        .post_form(&browser, "acme", TOKEN, CARD, &[("action", "rotate")])
        .await;
    let second = token_on(&r.text().await.unwrap());
    assert_ne!(first, second);
    assert_eq!(
        scim_get(&app, &first, "/Users").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(scim_get(&app, &second, "/Users").await.0, StatusCode::OK);

    // Revoke: nothing works.
    let r = app
        .post_form(&browser, "acme", TOKEN, CARD, &[("action", "revoke")])
        .await;
    assert_redirects_to(&r, &format!("{CARD}?notice=revoked"));
    assert_eq!(
        scim_get(&app, &second, "/Users").await.0,
        StatusCode::UNAUTHORIZED
    );

    for action in [
        "SCIM token created",
        "SCIM token rotated",
        "SCIM token revoked",
    ] {
        assert_eq!(app.audit_count("acme", action).await, 1, "{action}");
    }
    for e in app.audit("acme").await {
        let d = e.details.to_string();
        assert!(!d.contains(&first) && !d.contains(&second), "{d}");
    }
}

#[tokio::test]
async fn only_a_super_admin_reaches_the_card_and_its_forms_need_csrf() {
    let app = spawn_app().await;
    app.add_user("acme", "boss@acme.test", Role::Admin).await;
    let admin = app.signed_in("acme", "boss@acme.test").await;
    let r = admin.get(app.url("acme", CARD)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let sa = app.signed_in("acme", "admin@acme.test").await;
    let r = sa
        .post(app.url("acme", TOKEN))
        .form(&[("action", "generate")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let ws = app.workspace("acme").await;
    assert!(
        store::scim::settings(app.db.pool(), &ws.id)
            .await
            .unwrap()
            .is_none()
    );
    // The Integrations list shows the card.
    let html = sa
        .get(app.url("acme", "/admin/settings/integrations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"card-scim\""));
}

#[tokio::test]
async fn entras_quirks_are_accepted() {
    let app = spawn_app().await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Legacy);
    let (_, id) = entra
        .provision_user(&directory_user("lin", &oid()))
        .await
        .unwrap();
    let id = id.unwrap();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    // `active` as the string "False", with a capitalised op and no path.
    let r = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch(
                json!([{"op": "Replace", "value": {"active": "False"}}]),
            )),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.user("acme", "lin@acme.test").await.unwrap().status,
        UserStatus::Disabled
    );
    // "True" and attributes OnTrackio does not keep (accepted, ignored).
    let r = entra
        .send(
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch(json!([
                {"op": "Replace", "path": "active", "value": "True"},
                {"op": "Add", "path": "title", "value": "Engineer"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"}
            ]))),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(
        app.user("acme", "lin@acme.test").await.unwrap().status,
        UserStatus::Disabled
    );
    // PUT replaces.
    let r = entra
        .send(
            "PUT",
            &format!("/Users/{id}"),
            Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "lin@acme.test", "name": {"givenName": "Lin", "familyName": "Put"}, "active": true})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.user("acme", "lin@acme.test").await.unwrap().last_name,
        "Put"
    );
}

#[tokio::test]
async fn bad_requests_get_scims_errors_never_a_500() {
    let app = spawn_app().await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Compliant);
    let (_, id) = entra
        .provision_user(&directory_user("kim", &oid()))
        .await
        .unwrap();
    let id = id.unwrap();
    // A duplicate userName: 409 uniqueness.
    let (ex, _) = entra
        .provision_user(&directory_user("kim", &oid()))
        .await
        .unwrap();
    assert_eq!(ex.requests.last().unwrap().0, "PATCH");
    let dup = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kim@acme.test", "active": true});
    let r = entra.send("POST", "/Users", Some(&dup)).await.unwrap();
    assert_eq!(r.status, 409);
    assert_scim_error(&r.json(), "409");
    assert_eq!(r.json()["scimType"], "uniqueness");
    // A duplicate externalId: 409 too.
    let taken = json!({"userName": "other@acme.test", "externalId": "x-1"});
    assert_eq!(
        entra
            .send("POST", "/Users", Some(&taken))
            .await
            .unwrap()
            .status,
        201
    );
    let taken2 = json!({"userName": "other2@acme.test", "externalId": "x-1"});
    let r = entra.send("POST", "/Users", Some(&taken2)).await.unwrap();
    assert_eq!(
        (r.status, r.json()["scimType"].clone()),
        (409, json!("uniqueness"))
    );

    let cases: Vec<BadRequest> = vec![
        (
            "POST",
            "/Users".into(),
            Some(json!({"userName": "not an email"})),
            400,
            Some("invalidValue"),
        ),
        (
            "POST",
            "/Users".into(),
            Some(json!({"active": true})),
            400,
            Some("invalidValue"),
        ),
        (
            "POST",
            "/Users".into(),
            Some(json!([1])),
            400,
            Some("invalidSyntax"),
        ),
        (
            "GET",
            "/Users?filter=userName%20co%20%22a%22".into(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (
            "GET",
            format!("/Users?filter={}", "a".repeat(600)),
            None,
            400,
            Some("invalidFilter"),
        ),
        ("GET", "/Users/not-a-uuid".into(), None, 404, None),
        ("GET", format!("/Users/{}", oid()), None, 404, None),
        (
            "PATCH",
            format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "jump"}]})),
            400,
            Some("invalidSyntax"),
        ),
        (
            "PATCH",
            format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]})),
            400,
            Some("invalidValue"),
        ),
        (
            "POST",
            "/Groups".into(),
            Some(json!({"displayName": "G", "members": [{"value": oid()}]})),
            400,
            Some("invalidValue"),
        ),
        ("GET", "/Nope".into(), None, 404, None),
        ("PUT", "/Groups/x".into(), Some(json!({})), 405, None),
    ];
    for (method, path, body, status, scim_type) in cases {
        let r = entra.send(method, &path, body.as_ref()).await.unwrap();
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_scim_error(&r.json(), &status.to_string());
        assert_eq!(r.json()["scimType"].as_str(), scim_type, "{method} {path}");
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
    }
    // Too many members in one request.
    let (_, gid) = entra
        .provision_group(&DirectoryGroup {
            object_id: oid(),
            display_name: "Big".into(),
        })
        .await
        .unwrap();
    let many: Vec<String> = (0..1001).map(|_| oid()).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let ex = entra.add_members(&gid.unwrap(), &refs).await.unwrap();
    assert_eq!(ex.status(), 400);
    assert_eq!(ex.json()["scimType"], "invalidValue");
    // A body over the limit.
    let huge = json!({"userName": "big@acme.test", "displayName": "x".repeat(300 * 1024)});
    let r = entra.send("POST", "/Users", Some(&huge)).await.unwrap();
    assert_eq!(r.status, 413);
    assert_scim_error(&r.json(), "413");
}

#[tokio::test]
async fn deprovisioning_ends_every_session_of_the_user_at_once() {
    let app = spawn_app().await;
    app.add_user("acme", "leaver@acme.test", Role::Employee)
        .await;
    let leaver = app.signed_in("acme", "leaver@acme.test").await;
    let dashboard = app.url("acme", "/my/dashboard");
    assert_eq!(
        leaver.get(&dashboard).send().await.unwrap().status(),
        StatusCode::OK
    );
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    for mode in [Mode::Legacy, Mode::Compliant] {
        let entra = entra(&app, "acme", &token, mode);
        let id = entra.find_user("leaver@acme.test").await.unwrap().unwrap();
        assert_eq!(entra.disable_user(&id).await.unwrap().status(), 200);
        let r = leaver.get(&dashboard).send().await.unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        assert!(location(&r).starts_with("/login"), "{}", location(&r));
        entra.enable_user(&id).await.unwrap();
        assert_eq!(
            app.user("acme", "leaver@acme.test").await.unwrap().status,
            UserStatus::Active
        );
    }
    // DELETE as well.
    let again = app.signed_in("acme", "leaver@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Compliant);
    let id = entra.find_user("leaver@acme.test").await.unwrap().unwrap();
    assert_eq!(entra.delete_user(&id).await.unwrap().status(), 204);
    assert!(
        again
            .get(&dashboard)
            .send()
            .await
            .unwrap()
            .status()
            .is_redirection()
    );
    let ws = app.workspace("acme").await;
    let user = app.user("acme", "leaver@acme.test").await.unwrap();
    let sessions: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND workspace_id = $2",
    )
    .bind(user.id.as_str())
    .bind(ws.id.as_str())
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn scim_can_never_create_grant_or_take_away_super_admin() {
    let app = spawn_app().await;
    app.add_user("acme", "second@acme.test", Role::SuperAdmin)
        .await;
    let sa = app.signed_in("acme", "admin@acme.test").await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    // The mapping cannot name super-admin.
    let r = app
        .post_form(
            &sa,
            "acme",
            MAPPING,
            CARD,
            &[("mapping", "Owners = super-admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("SCIM never grants super-admin")
    );
    let r = app
        .post_form(
            &sa,
            "acme",
            MAPPING,
            CARD,
            &[("mapping", "IT Admins = admin\nStaff = employee")],
        )
        .await;
    assert_redirects_to(&r, &format!("{CARD}?notice=mapping"));
    assert_eq!(app.audit_count("acme", "SCIM group mapping saved").await, 1);

    let entra = entra(&app, "acme", &token, Mode::Compliant);
    let (_, ada) = entra
        .provision_user(&directory_user("ada", &oid()))
        .await
        .unwrap();
    let ada = ada.unwrap();
    let second = entra.find_user("second@acme.test").await.unwrap().unwrap();
    let (_, gid) = entra
        .provision_group(&DirectoryGroup {
            object_id: oid(),
            display_name: "IT Admins".into(),
        })
        .await
        .unwrap();
    let gid = gid.unwrap();
    // Membership of a mapped group makes Ada an admin, and leaves a super-admin as is.
    assert_eq!(
        entra
            .add_members(&gid, &[&ada, &second])
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.user("acme", "ada@acme.test").await.unwrap().role,
        Role::Admin
    );
    assert_eq!(
        app.user("acme", "second@acme.test").await.unwrap().role,
        Role::SuperAdmin
    );
    assert_eq!(app.audit_count("acme", "Role changed by SCIM").await, 1);
    // Leaving it makes her an employee again.
    assert_eq!(
        entra.remove_members(&gid, &[&ada]).await.unwrap().status(),
        204
    );
    assert_eq!(
        app.user("acme", "ada@acme.test").await.unwrap().role,
        Role::Employee
    );
    // SCIM cannot disable or delete a super-admin.
    for ex in [
        entra.disable_user(&second).await.unwrap(),
        entra.delete_user(&second).await.unwrap(),
    ] {
        assert_eq!(ex.status(), 403, "{}", ex.json());
        assert_scim_error(&ex.json(), "403");
    }
    assert_eq!(
        app.user("acme", "second@acme.test").await.unwrap().status,
        UserStatus::Active
    );
    // Saying what a super-admin already is changes nothing, and is no error.
    assert_eq!(entra.enable_user(&second).await.unwrap().status(), 200);
    // An externalId on a super-admin is kept but never linked as their Microsoft identity.
    let r = entra
        .send(
            "PATCH",
            &format!("/Users/{second}"),
            Some(&json!({"Operations": [{"op": "add", "path": "externalId", "value": oid()}]})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let linked: i64 = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_identities")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(linked, 0);
    // Nor change a super-admin's email.
    let ex = entra
        .rename_user(&second, "someone-else@acme.test")
        .await
        .unwrap();
    assert_eq!(ex.status(), 403);
    // A user created through SCIM is always an employee, whatever the body says.
    let body = json!({"userName": "sneaky@acme.test", "roles": [{"value": "super-admin", "primary": true}]});
    assert_eq!(
        entra
            .send("POST", "/Users", Some(&body))
            .await
            .unwrap()
            .status,
        201
    );
    assert_eq!(
        app.user("acme", "sneaky@acme.test").await.unwrap().role,
        Role::Employee
    );
}

#[tokio::test]
async fn two_simultaneous_creates_of_one_user_make_one_user_and_one_conflict() {
    let app = spawn_app().await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    for round in 0..5 {
        let name = format!("twin{round}");
        let body =
            json!({"userName": format!("{name}@acme.test"), "externalId": oid(), "active": true});
        let a = entra(&app, "acme", &token, Mode::Compliant);
        let b = entra(&app, "acme", &token, Mode::Compliant);
        let (ra, rb) = tokio::join!(
            a.send("POST", "/Users", Some(&body)),
            b.send("POST", "/Users", Some(&body))
        );
        let mut statuses = [ra.unwrap().status, rb.unwrap().status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "round {round}");
        let (_, list) = scim_get(
            &app,
            &token,
            &format!("/Users?filter=userName%20eq%20%22{name}%40acme.test%22"),
        )
        .await;
        assert_eq!(list["totalResults"], 1);
    }
    assert_eq!(app.audit_count("acme", "Provisioned by SCIM").await, 5);
}

#[tokio::test]
async fn a_runaway_client_is_rate_limited_with_429_and_retry_after() {
    let app = spawn_app().await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = std::sync::Arc::new(entra(&app, "acme", &token, Mode::Compliant));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let e = entra.clone();
        tasks.spawn(async move { e.send("GET", "/ServiceProviderConfig", None).await.unwrap() });
    }
    let mut limited = None;
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        match r.status {
            200 => ok += 1,
            429 => limited = Some(r),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    let limited = limited.expect("some requests were limited");
    assert!(ok >= 80, "the burst passes: {ok}");
    assert!(limited.header("retry-after").is_some());
    assert_scim_error(&limited.json(), "429");
    // Another workspace is not affected.
    app.create_workspace("globex", "Globex", "admin@globex.test")
        .await;
    let globex = generate_token(&app, "globex", "admin@globex.test").await;
    let r = app
        .browser()
        .get(format!("{}/Users", base(&app, "globex")))
        .bearer_auth(&globex)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_provisioned_with_their_object_id_is_the_one_their_microsoft_sign_in_reaches() {
    let app = spawn_app_with_microsoft(ms::ACME_TENANT_ID, "acme.test").await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Compliant);
    let adele = DirectoryUser {
        object_id: ms::ADELE_OID.into(),
        user_principal_name: ms::ADELE_UPN.into(),
        given_name: "Adele".into(),
        surname: "Vance".into(),
        display_name: "Adele Vance".into(),
        mail: ms::ADELE_UPN.into(),
        account_enabled: true,
    };
    let (ex, id) = entra.provision_user(&adele).await.unwrap();
    assert_eq!(ex.status(), 201, "{}", ex.json());
    let id = id.unwrap();
    let ws = app.workspace("acme").await;
    let linked = store::user_identities::find_user(
        app.db.pool(),
        &ws.id,
        "microsoft",
        ms::ACME_TENANT_ID,
        ms::ADELE_OID,
    )
    .await
    .unwrap()
    .expect("linked by (tid, oid)");
    assert_eq!(linked.id.as_str(), id);
    let browser = app.browser();
    let r = app.microsoft_sign_in(&browser, "acme", ms::ADELE_UPN).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(
        app.audit_count("acme", "User provisioned from Microsoft")
            .await,
        0
    );
    assert_eq!(app.audit_count("acme", "Microsoft account linked").await, 0);
    assert_eq!(
        app.user("acme", ms::ADELE_UPN).await.unwrap().status,
        UserStatus::Active
    );
    // Deprovisioned: the next Microsoft sign-in is refused.
    entra.disable_user(&id).await.unwrap();
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::ADELE_UPN)
        .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn under_common_nothing_is_linked_and_sign_in_keeps_its_email_rules() {
    let app = spawn_app_with_microsoft("common", "acme.test").await;
    let token = generate_token(&app, "acme", "admin@acme.test").await;
    let entra = entra(&app, "acme", &token, Mode::Legacy);
    // Someone provisions a user whose externalId is another directory's object id.
    let body =
        json!({"userName": "alex.wilber@acme.test", "externalId": ms::MALLORY_OID, "active": true});
    assert_eq!(
        entra
            .send("POST", "/Users", Some(&body))
            .await
            .unwrap()
            .status,
        201
    );
    let ws = app.workspace("acme").await;
    let linked: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM user_identities WHERE workspace_id = $1",
    )
    .bind(ws.id.as_str())
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(linked, 0);
    // Mallory (whose unverified mail claims Alex's address) still gets nowhere.
    let r = app
        .microsoft_sign_in(&app.browser(), "acme", ms::MALLORY_UPN)
        .await;
    assert_ne!(r.status(), StatusCode::SEE_OTHER);
}
