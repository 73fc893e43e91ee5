"""moto's WSGI application and request handler, for :mod:`pclab.localcloud.server`.

The server serves moto's services behind our Lambda routes; building moto's app here keeps every
moto import inside this package.

moto internals read, and why: ``moto.moto_server.werkzeug_app.DomainDispatcherApplication`` and
``create_backend_app`` (moto's own server app, routing each request to its service by host and
headers, as ``moto_server`` does) and ``MotoRequestHandler`` (its werkzeug request handler).

Patched: ``moto.backends.list_of_moto_modules``, which the app calls on every request to route
it: it lists moto's package folder and stats each of its ~180 entries each time (17 % of the
server's samples in py-spy during a 150-call burst, issue 11). The folder does not change while
the server runs; ours lists it once. Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

from typing import Any

from pclab.localcloud.moto._patching import _install_lock, _installed, _patch


def moto_wsgi_app() -> Any:
    """moto's server application: every service moto has, one WSGI app."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    _install_module_listing()
    return DomainDispatcherApplication(create_backend_app)


def _install_module_listing() -> None:
    from moto import backends

    with _install_lock:
        if _installed.get("module_listing"):
            return
        modules = tuple(backends.list_of_moto_modules())

        def list_of_moto_modules() -> tuple[str, ...]:
            """moto's service folders, listed once (they do not change while it runs)."""
            return modules

        _patch(backends, "list_of_moto_modules", list_of_moto_modules)
        _installed["module_listing"] = True


def request_handler(*, verbose: bool) -> type:
    """moto's request handler, logging each request only when ``verbose``."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if verbose:
                super().log_request(*args, **kwargs)

    handler: type = Handler
    return handler
