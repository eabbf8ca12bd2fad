//! What every workspace request passes through, in this order: the site its `Host` names,
//! the signed-in user of a workspace (read from the database for a state-changing request),
//! then CSRF for state-changing requests.
//!
//! A `tower` service rather than `middleware::from_fn`: `from_fn` clones the routes below it
//! and boxes a future on every request. Here a page view that the caches can answer alone
//! (the workspace and the session known to this node, a `GET`) goes straight to the routes;
//! anything that needs the database or reads a form body takes the boxed, async path.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::Either;

use super::{AppState, csrf, host, session};

#[derive(Clone)]
pub struct EdgeLayer {
    state: AppState,
}

impl EdgeLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            state: self.state.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    state: AppState,
    inner: S,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxedResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if fast_path(&self.state, &mut req) {
            return Either::Left(self.inner.call(req));
        }
        // The service that was polled ready goes with the request; a clone stays.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Either::Right(Box::pin(slow_path(state, req, inner)))
    }
}

/// Decides a safe request from the caches alone, marking it as [`slow_path`] would; false
/// if the database, a form body or an error page is needed.
fn fast_path(state: &AppState, req: &mut Request) -> bool {
    if csrf::is_state_changing(req.method()) {
        return false;
    }
    let Some(site) = host::resolve_cached(state, req.headers()) else {
        return false;
    };
    if let host::Site::Workspace(ws) = &site {
        let Some(cu) = session::load_cached(state, ws, req.headers()) else {
            return false;
        };
        if let Some(cu) = cu {
            req.extensions_mut().insert(cu);
        }
    }
    req.extensions_mut().insert(site);
    true
}

async fn slow_path<S>(
    state: AppState,
    mut req: Request,
    mut inner: S,
) -> Result<Response, Infallible>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let site = match host::resolve(&state, req.headers()).await {
        Ok(site) => site,
        Err(page) => return Ok(page),
    };
    if let host::Site::Workspace(ws) = &site {
        // A state-changing request reads its session from the database, never the cache.
        let changing = csrf::is_state_changing(req.method());
        let cu = match session::load(&state, ws, req.headers(), changing).await {
            Ok(cu) => cu,
            Err(page) => return Ok(page),
        };
        if changing && !csrf::is_cross_site_by_protocol(req.uri().path()) {
            req = match csrf::verify(&state, ws, cu.as_ref(), req).await {
                Ok(req) => req,
                Err(page) => return Ok(page),
            };
        }
        if let Some(cu) = cu {
            req.extensions_mut().insert(cu);
        }
    }
    req.extensions_mut().insert(site);
    inner.call(req).await
}
