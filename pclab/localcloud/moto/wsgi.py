"""moto's WSGI application and request handler, for :mod:`pclab.localcloud.server`.

The server serves moto's services behind our Lambda routes; building moto's app here keeps every
moto import inside this package.

moto internals read, and why: ``moto.moto_server.werkzeug_app.DomainDispatcherApplication`` and
``create_backend_app`` (moto's own server app, routing each request to its service by host and
headers, as ``moto_server`` does) and ``MotoRequestHandler`` (its werkzeug request handler).
Nothing is patched here. Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

from typing import Any


def moto_wsgi_app() -> Any:
    """moto's server application: every service moto has, one WSGI app."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def request_handler(*, verbose: bool) -> type:
    """moto's request handler, logging each request only when ``verbose``."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if verbose:
                super().log_request(*args, **kwargs)

    handler: type = Handler
    return handler
