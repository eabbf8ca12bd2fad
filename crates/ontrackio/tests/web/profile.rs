use std::io::Cursor;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::helpers::*;
use ontrackio::audit::actions;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 40, 40]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A valid PNG header claiming 20000×20000 pixels: a decompression bomb's first bytes.
fn huge_png_header() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(kind);
        h.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&h.finalize().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&20000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

async fn upload(
    app: &TestApp,
    c: &reqwest::Client,
    bytes: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let token = app.csrf_token(c, "acme", "/my/profile").await;
    let form = Form::new()
        .text("csrf_token", token)
        .part("avatar", Part::bytes(bytes).file_name(name.to_string()));
    c.post(app.url("acme", "/my/profile/avatar"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_avatar_upload_is_reencoded_served_and_shown_in_the_header() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = upload(&app, &c, png(500, 300), "me.png").await;
    assert_redirects_to(&r, "/my/profile?notice=avatar");
    let html = c
        .get(app.url("acme", "/my/dashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("/avatars/").unwrap();
    let url = &html[start..start + html[start..].find('"').unwrap()];
    let img = c.get(app.url("acme", url)).send().await.unwrap();
    assert_eq!(img.headers()["content-type"], "image/png");
    let decoded = image::load_from_memory(&img.bytes().await.unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    assert_eq!(app.audit_count("acme", actions::AVATAR_CHANGED).await, 1);
}

#[tokio::test]
async fn avatar_uploads_refuse_non_images_3mb_files_and_huge_pngs_with_clear_messages() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let cases = [
        (
            b"just some text, not a picture".to_vec(),
            "That file is not a PNG, JPEG or WebP image.",
        ),
        (
            vec![0x89u8; 3 * 1024 * 1024],
            "The image is larger than 2 MB. Choose a smaller file.",
        ),
        (
            huge_png_header(),
            "The image is 20000×20000 pixels; the most we accept is 8192×8192.",
        ),
    ];
    for (bytes, message) in cases {
        let r = upload(&app, &c, bytes, "x.png").await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message}: {body}"
        );
        assert!(body.contains(message), "{message}");
    }
    assert_eq!(
        app.user("acme", "admin@acme.test")
            .await
            .unwrap()
            .avatar_version,
        0
    );
    assert_eq!(app.audit_count("acme", actions::AVATAR_CHANGED).await, 0);
}

#[tokio::test]
async fn profile_names_are_saved_validated_and_audited() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    let r = app
        .post_form(
            &c,
            "acme",
            "/my/profile",
            "/my/profile",
            &[("first_name", " Ada "), ("last_name", "Lovelace")],
        )
        .await;
    assert_redirects_to(&r, "/my/profile?notice=saved");
    let u = app.user("acme", "admin@acme.test").await.unwrap();
    assert_eq!(
        (u.first_name.as_str(), u.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(app.audit_count("acme", actions::PROFILE_UPDATED).await, 1);
    let long = "x".repeat(101);
    let r = app
        .post_form(
            &c,
            "acme",
            "/my/profile",
            "/my/profile",
            &[("first_name", &long), ("last_name", "L")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("First name must be at most 100 characters.")
    );
}

#[tokio::test]
async fn names_are_escaped_in_every_page() {
    let app = spawn_app().await;
    let c = app.signed_in("acme", "admin@acme.test").await;
    app.post_form(
        &c,
        "acme",
        "/my/profile",
        "/my/profile",
        &[
            ("first_name", "<script>alert(1)</script>"),
            ("last_name", "X"),
        ],
    )
    .await;
    for path in ["/my/dashboard", "/admin/users", "/admin/audit-log"] {
        let html = c
            .get(app.url("acme", path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("<script>alert(1)"), "{path}");
    }
}
