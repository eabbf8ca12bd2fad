//! A browser's view of HTTP, kept deliberately thin so the driver spends little of the
//! machine's CPU: one HTTP/1.1 keep-alive connection per origin (hyper's connection API,
//! no pool), a cookie jar, and nothing else. Each simulated browser opens its own
//! connections, as a real one would.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// No single request of a bounded run may take longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: Bytes,
}

/// One keep-alive connection to one address; reopened if the server closed it.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    async fn open(&mut self) -> anyhow::Result<&mut SendRequest<Empty<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(self.sender.insert(sender))
    }

    /// `GET path_and_query` with this `Host` and `Cookie` header.
    pub async fn get(
        &mut self,
        host: &str,
        path_and_query: &str,
        cookie: Option<&str>,
    ) -> anyhow::Result<Response> {
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.get_inner(host, path_and_query, cookie),
        )
        .await
        .map_err(|_| anyhow!("GET {path_and_query}: no answer within {REQUEST_TIMEOUT:?}"))?
    }

    async fn get_inner(
        &mut self,
        host: &str,
        path_and_query: &str,
        cookie: Option<&str>,
    ) -> anyhow::Result<Response> {
        let reusable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let sender = if reusable {
            self.sender.as_mut().expect("checked")
        } else {
            self.open().await?
        };
        let mut req = http::Request::builder()
            .method("GET")
            .uri(path_and_query)
            .header(header::HOST, host)
            .header(header::USER_AGENT, "ontrackio-bench/0.1");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let resp = sender
            .send_request(req.body(Empty::new())?)
            .await
            .with_context(|| format!("GET {path_and_query}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        let text = |v: &http::HeaderValue| v.to_str().ok().map(str::to_owned);
        Ok(Response {
            status: parts.status.as_u16(),
            location: parts.headers.get(header::LOCATION).and_then(text),
            set_cookies: parts
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(text)
                .collect(),
            body,
        })
    }
}

/// Cookies of one site, with their paths (the flow cookie lives under `/auth/microsoft`).
#[derive(Default)]
pub struct Jar {
    cookies: Vec<(String, String, String)>,
}

impl Jar {
    pub fn store(&mut self, set_cookies: &[String]) -> anyhow::Result<()> {
        for sc in set_cookies {
            let mut parts = sc.split(';').map(str::trim);
            let (name, value) = parts
                .next()
                .and_then(|nv| nv.split_once('='))
                .ok_or_else(|| anyhow!("malformed Set-Cookie: {sc}"))?;
            let mut path = "/".to_string();
            let mut removal = value.is_empty();
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                if k.eq_ignore_ascii_case("path") {
                    path = v.to_string();
                } else if k.eq_ignore_ascii_case("max-age") && v.trim().starts_with(['0', '-']) {
                    removal = true;
                } else if k.eq_ignore_ascii_case("domain") {
                    bail!("the product set a Domain cookie (never expected): {sc}");
                }
            }
            self.cookies.retain(|(n, _, p)| !(n == name && *p == path));
            if !removal {
                self.cookies.push((name.into(), value.into(), path));
            }
        }
        Ok(())
    }

    /// The `Cookie` header a browser sends to `path`.
    pub fn header_for(&self, path: &str) -> Option<String> {
        let matching: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, _, p)| {
                path == p || path.starts_with(&format!("{}/", p.trim_end_matches('/'))) || p == "/"
            })
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect();
        (!matching.is_empty()).then(|| matching.join("; "))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_follow_their_path_and_removals() {
        let mut jar = Jar::default();
        jar.store(&[
            "flow=abc; Path=/auth/microsoft; Max-Age=600; HttpOnly; SameSite=Lax".into(),
            "csrf=x; Path=/".into(),
        ])
        .unwrap();
        assert_eq!(
            jar.header_for("/auth/microsoft/callback").as_deref(),
            Some("flow=abc; csrf=x")
        );
        assert_eq!(jar.header_for("/my/dashboard").as_deref(), Some("csrf=x"));
        jar.store(&["flow=; Path=/auth/microsoft; Max-Age=0".into()])
            .unwrap();
        assert_eq!(
            jar.header_for("/auth/microsoft/callback").as_deref(),
            Some("csrf=x")
        );
        assert!(jar.store(&["s=1; Domain=localhost".into()]).is_err());
    }
}
