"""Pages behind a session, the console's (``/agent``) and the merchant's
(``/merchant``) alike: the session cookie given at sign-in and taken back
at sign-out, the hook that sends a visitor without a session to the
sign-in page, and the router with Litestar's CSRF protection on every form.

Each set of pages has its own ``SessionPages``: its path, its cookie, and
the ``Sessions`` that sign its cookies (adapters/http/session.py) with a
key no other set's cookie shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware

from adapters.http.security import page_headers
from adapters.http.session import Sessions


def see_other(location: str) -> Response[bytes]:
    """303 to ``location``, with the pages' security headers."""
    return Response(b"", status_code=303, headers={**page_headers(), "Location": location})


@dataclass(frozen=True)
class SessionPages:
    path: str  # "/agent"
    cookie: str  # the session cookie's name; its CSRF cookie is ``<cookie>_csrf``
    scope_key: str  # where the hook puts the request's ConsoleSession
    sessions: Sessions

    def signed_in(self, request: Request[Any, Any, Any], value: str,
                  location: str) -> Response[bytes]:
        """On to ``location`` with the new session's cookie (HttpOnly,
        SameSite=Strict, Secure over HTTPS, scoped to the pages' path)."""
        response = see_other(location)
        response.set_cookie(self.cookie, value, path=self.path, max_age=self.sessions.lifetime,
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    def signed_out(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """End the request's session in every worker, drop its cookie, and on
        to the sign-in page."""
        session = self.sessions.session(request.cookies.get(self.cookie))
        if session is not None:
            self.sessions.sign_out(session)
        response = see_other(f"{self.path}/sign-in")
        response.delete_cookie(self.cookie, path=self.path)
        return response

    def _hook(self) -> Any:
        open_paths = frozenset({f"{self.path}/sign-in", f"{self.path}/sign-out"})

        async def hook(request: Request[Any, Any, Any]) -> Response[bytes] | None:
            """Pages behind the session: without one, on to the sign-in page
            (a form posted without one is refused)."""
            if request.scope["path"] in open_paths:
                return None
            found = self.sessions.session(request.cookies.get(self.cookie))
            if found is not None:
                request.scope[self.scope_key] = found  # type: ignore[literal-required]
                return None
            if request.method == "GET":
                return see_other(f"{self.path}/sign-in")
            return Response(b"sign in first", status_code=401, media_type=MediaType.TEXT,
                            headers=page_headers())

        return hook

    def router(self, handlers: Sequence[Any], name: str, dependency: Any) -> Router:
        """The pages on one router: the session hook, CSRF on every form, and
        ``dependency`` given to the handlers as ``name``."""
        csrf = CSRFConfig(secret=self.sessions.csrf_secret, cookie_name=f"{self.cookie}_csrf",
                          cookie_path=self.path, cookie_httponly=True, cookie_samesite="strict")
        return Router(
            path="/", route_handlers=list(handlers), before_request=self._hook(),
            middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
            dependencies={name: Provide(lambda: dependency, use_cache=True,
                                        sync_to_thread=False)})
