use entra_emulator::Emulator;
use entra_emulator::demo::*;

use crate::support::*;

#[tokio::test]
async fn the_picker_lists_accounts_hinted_first_and_a_pick_redirects_with_code_and_state() {
    let emu = start().await;
    let request = Authorize::acme()
        .with("login_hint", MEGAN_UPN)
        .with("prompt", "select_account");
    let response = client().get(request.url(&emu)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Sign in to your account</title>"));
    assert!(html.contains("Pick an account"));
    assert!(html.contains("Megan Bowen") && html.contains(ADELE_UPN));
    assert!(
        html.find(MEGAN_UPN).unwrap() < html.find(ADELE_UPN).unwrap(),
        "hinted account first"
    );
    assert!(
        html.contains("pat.guest@contoso.test"),
        "accounts of other tenants are offered too"
    );

    let id = picker_request_id(&html);
    let pick = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/authorize/select",
            emu.authority()
        ))
        .form(&[("request", id.as_str()), ("account", MEGAN_OID)])
        .send()
        .await
        .unwrap();
    let location = location(&pick);
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    let params = location_params(&pick);
    assert_eq!(params["state"], request.state);
    assert!(params["code"].len() > 100);

    let reused = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/authorize/select",
            emu.authority()
        ))
        .form(&[("request", id.as_str()), ("account", MEGAN_OID)])
        .send()
        .await
        .unwrap();
    assert!(
        reused.headers().get("location").is_none(),
        "a picker request is answered once"
    );
}

#[tokio::test]
async fn an_unregistered_redirect_uri_shows_aadsts50011_on_entras_page_never_redirecting() {
    let emu = start().await;
    let evil = "https://evil.example/callback";
    let response = client()
        .get(Authorize::acme().with("redirect_uri", evil).url(&emu))
        .send()
        .await
        .unwrap();
    let html = assert_error_page(response, 50011).await;
    assert!(html.contains(&format!(
        "AADSTS50011: The redirect URI &#39;{evil}&#39; specified in the request does not match the redirect URIs configured for the application &#39;{DEMO_CLIENT_ID}&#39;."
    )), "{html}");
    assert!(html.contains("<title>Sign in to your account</title>"));
}

#[tokio::test]
async fn an_unknown_app_shows_aadsts700016_on_entras_page_never_redirecting() {
    let emu = start().await;
    let unknown = "11111111-2222-3333-4444-555555555555";
    let response = client()
        .get(Authorize::new(ACME_TENANT_ID, unknown).url(&emu))
        .send()
        .await
        .unwrap();
    let html = assert_error_page(response, 700016).await;
    assert!(html.contains(&format!(
        "AADSTS700016: Application with identifier &#39;{unknown}&#39; was not found in the directory &#39;Acme&#39;."
    )), "{html}");

    // A single-directory app doesn't exist in other tenants.
    let response = client()
        .get(Authorize::new(CONTOSO_TENANT_ID, DEMO_SINGLE_TENANT_CLIENT_ID).url(&emu))
        .send()
        .await
        .unwrap();
    assert_error_page(response, 700016).await;
}

#[tokio::test]
async fn a_user_from_another_directory_gets_aadsts50020_on_entras_page() {
    let emu = start().await;
    // Single-directory app through `common`: Pat's home is Contoso.
    let single = Authorize::new("common", DEMO_SINGLE_TENANT_CLIENT_ID);
    let html = assert_error_page(pick(&emu, &single, PAT_UPN).await, 50020).await;
    assert!(html.contains(&format!(
        "AADSTS50020: User account &#39;{PAT_UPN}&#39; from identity provider &#39;https://sts.windows.net/{CONTOSO_TENANT_ID}/&#39; does not exist in tenant &#39;Acme&#39; and cannot access the application &#39;{DEMO_SINGLE_TENANT_CLIENT_ID}&#39;(OnTrackio (Acme only)) in that tenant."
    )), "{html}");
    // Acme's authority: Mallory is neither a member nor a guest of Acme.
    assert_error_page(pick(&emu, &Authorize::acme(), MALLORY_UPN).await, 50020).await;
}

#[tokio::test]
async fn a_disabled_user_gets_aadsts50057_on_entras_page() {
    let emu = start().await;
    let html = assert_error_page(pick(&emu, &Authorize::acme(), DISABLED_UPN).await, 50057).await;
    assert!(html.contains("AADSTS50057: The user account is disabled."));
}

#[tokio::test]
async fn cancelling_the_picker_redirects_access_denied_with_subcode_cancel_and_65004() {
    let emu = start().await;
    let request = Authorize::acme();
    let picker = client()
        .get(request.url(&emu))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = picker_request_id(&picker);
    let response = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/authorize/select",
            emu.authority()
        ))
        .form(&[("request", id.as_str()), ("cancel", "1")])
        .send()
        .await
        .unwrap();
    let params = location_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["error_subcode"], "cancel");
    assert!(
        params["error_description"]
            .starts_with("AADSTS65004: User declined to consent to access the app.\r\nTrace ID: ")
    );
    assert_eq!(params["state"], request.state);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn a_response_type_other_than_code_redirects_unsupported_response_type() {
    let emu = start().await;
    let request = Authorize::acme().with("response_type", "token");
    let response = client().get(request.url(&emu)).send().await.unwrap();
    let params = location_params(&response);
    assert_eq!(params["error"], "unsupported_response_type");
    assert!(params["error_description"].starts_with("AADSTS700054: "));
    assert_eq!(params["state"], request.state);
}

#[tokio::test]
async fn missing_scope_redirects_invalid_request_900144() {
    let emu = start().await;
    let response = client()
        .get(Authorize::acme().with("scope", "").url(&emu))
        .send()
        .await
        .unwrap();
    let params = location_params(&response);
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].starts_with(
        "AADSTS900144: The request body must contain the following parameter: 'scope'."
    ));
}

#[tokio::test]
async fn state_comes_back_with_html_stripped() {
    let emu = start().await;
    let mut request = Authorize::acme();
    request.state = "abc<script>alert(1)</script>def".to_owned();
    let response = pick(&emu, &request, ADELE_UPN).await;
    assert_eq!(location_params(&response)["state"], "abcalert(1)def");
}

#[tokio::test]
async fn fragment_and_form_post_response_modes_deliver_the_code() {
    let emu = start().await;
    let fragment = pick(
        &emu,
        &Authorize::acme().with("response_mode", "fragment"),
        ADELE_UPN,
    )
    .await;
    let location = location(&fragment);
    assert!(
        location.starts_with(&format!("{REDIRECT}#code=")),
        "{location}"
    );
    assert!(location.contains("&state="));

    let form_post = pick(
        &emu,
        &Authorize::acme().with("response_mode", "form_post"),
        ADELE_UPN,
    )
    .await;
    assert_eq!(form_post.status(), 200);
    let html = form_post.text().await.unwrap();
    assert!(html.contains(&format!("action=\"{REDIRECT}\"")), "{html}");
    assert!(html.contains("name=\"code\"") && html.contains("name=\"state\""));
}

#[tokio::test]
async fn loopback_redirect_uris_match_on_any_port_everything_else_exactly() {
    let emu = start().await;
    emu.update_directory(|dir| {
        dir.add_redirect_uri(DEMO_CLIENT_ID, "http://localhost:5000/cb")
            .unwrap();
        dir.add_redirect_uri(DEMO_CLIENT_ID, "http://127.0.0.1/cb")
            .unwrap();
    })
    .unwrap();
    let ok = |uri: &str| Authorize::acme().with("redirect_uri", uri);
    for uri in ["http://localhost:1234/cb", "http://127.0.0.1:9999/cb"] {
        let response = client().get(ok(uri).url(&emu)).send().await.unwrap();
        let html = response.text().await.unwrap();
        assert!(html.contains("Pick an account"), "{uri} accepted");
    }
    for uri in [
        "http://localhost:1234/CB",
        "http://acme.localhost:8081/auth/microsoft/callback",
        "http://acme.localhost:8080/auth/microsoft/callback/",
        "http://ACME.localhost:8080/auth/microsoft/callback",
    ] {
        let response = client().get(ok(uri).url(&emu)).send().await.unwrap();
        assert_error_page(response, 50011).await;
    }
}

#[tokio::test]
async fn a_registered_uri_without_a_path_gets_a_trailing_slash() {
    let emu = start().await;
    emu.update_directory(|dir| {
        dir.add_redirect_uri(DEMO_CLIENT_ID, "https://app.example")
            .unwrap()
    })
    .unwrap();
    let response = pick(
        &emu,
        &Authorize::acme().with("redirect_uri", "https://app.example"),
        ADELE_UPN,
    )
    .await;
    assert!(location(&response).starts_with("https://app.example/?code="));
}

#[tokio::test]
async fn auto_select_skips_the_picker_for_a_login_hint_naming_an_account() {
    let emu = Emulator::builder().auto_select(true).start().await.unwrap();
    let request = Authorize::acme()
        .with("login_hint", ALEX_UPN)
        .with("prompt", "select_account");
    let response = client().get(request.url(&emu)).send().await.unwrap();
    let params = location_params(&response);
    assert!(params.contains_key("code"));
    assert_eq!(params["state"], request.state);

    let unknown = Authorize::acme().with("login_hint", "nobody@acme.test");
    let response = client().get(unknown.url(&emu)).send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "an unknown hint still shows the picker"
    );
}

#[tokio::test]
async fn without_auto_select_a_login_hint_still_shows_the_picker() {
    let emu = start().await;
    let response = client()
        .get(Authorize::acme().with("login_hint", ALEX_UPN).url(&emu))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Pick an account"));
}

#[tokio::test]
async fn the_session_cookie_signs_in_silently_unless_the_app_asks_to_select_an_account() {
    let emu = start().await;
    let none = client()
        .get(Authorize::acme().with("prompt", "none").url(&emu))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location_params(&none)["error"],
        "login_required",
        "prompt=none without a session"
    );

    let pick = pick(&emu, &Authorize::acme(), ADELE_UPN).await;
    let cookie = pick
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let silent = client()
        .get(Authorize::acme().with("prompt", "none").url(&emu))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(location_params(&silent).contains_key("code"));
    let select = client()
        .get(Authorize::acme().with("prompt", "select_account").url(&emu))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        select.status(),
        200,
        "prompt=select_account shows the picker"
    );

    let logout = client()
        .get(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/logout?post_logout_redirect_uri={REDIRECT}&state=bye",
            emu.authority()
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&logout), format!("{REDIRECT}?state=bye"));
    let after = client()
        .get(Authorize::acme().with("prompt", "none").url(&emu))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location_params(&after)["error"],
        "login_required",
        "logout ended the session"
    );
}

#[tokio::test]
async fn logout_to_an_unregistered_uri_shows_the_signed_out_page() {
    let emu = start().await;
    let response = client()
        .get(format!(
            "{}/common/oauth2/v2.0/logout?post_logout_redirect_uri=https://evil.example/",
            emu.authority()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("You signed out of your account")
    );
}

#[tokio::test]
async fn an_unknown_tenant_at_authorize_shows_aadsts90002_on_entras_page() {
    let emu = start().await;
    let response = client()
        .get(Authorize::new("nowhere.example", DEMO_CLIENT_ID).url(&emu))
        .send()
        .await
        .unwrap();
    assert_error_page(response, 90002).await;
}

#[tokio::test]
async fn values_echoed_on_the_error_page_are_html_escaped() {
    let emu = start().await;
    let request = Authorize::acme().with(
        "redirect_uri",
        "https://x.example/<script>alert(1)</script>",
    );
    let html =
        assert_error_page(client().get(request.url(&emu)).send().await.unwrap(), 50011).await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn the_handle_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<entra_emulator::EmulatorHandle>();
}
