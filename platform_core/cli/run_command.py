"""``manage.py run``: the development server, or gunicorn with ``--workers``."""

from __future__ import annotations

from typing import Any


def serve(host: str, port: int, workers: int, threads: int) -> int:
    """Serve the app until interrupted."""
    if workers <= 0:
        from platform_core.app import create_app
        from platform_core.serving import prepare_to_serve

        app = create_app()
        prepare_to_serve()
        app.run(host=host, port=port, threaded=True)
        return 0
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread"
                if threads > 1
                else "platform_core.web.gunicorn_worker.PromptCloseSyncWorker",
                "accesslog": None,
                "keepalive": 5,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from platform_core.app import create_app
            from platform_core.serving import prepare_to_serve

            app = create_app()
            prepare_to_serve()
            return app

    _Gunicorn().run()
    return 0
