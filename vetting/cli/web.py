"""``vet web``: serve the web application (:mod:`vetting.web`) over the workspace."""

from __future__ import annotations

import typer

from vetting.cli.support import handles_errors, open_ws


@handles_errors
def web(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default; put "
                                                              "a TLS proxy in front for other machines)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
        origin: str = typer.Option("", "--origin", help="The address browsers use, scheme://host:port, when it "
                                                       "differs from --host and --port (behind a proxy).")) -> None:
    """Serve the web application for investigators, commanders and hiring staff (docs/web.md).

    Each person logs in in the browser with their own account; the server needs no login.
    """
    import uvicorn

    from vetting.web.app import create_app

    ws = open_ws(create=False)
    shown_host = f"[{host}]" if ":" in host else host
    app = create_app(ws, origin=origin or f"http://{shown_host}:{port}")
    typer.echo(f"serving {ws.root} on http://{shown_host}:{port} (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, proxy_headers=False)


def mount(app: typer.Typer) -> None:
    app.command("web")(web)
