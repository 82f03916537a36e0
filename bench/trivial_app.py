"""The ceiling of the server stack: a FastAPI route under uvicorn that reads the JSON body and
answers a small JSON document, with no I/O (served like `harness api --direct`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/trivial")
    async def trivial(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True}, status_code=202)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


app = create_app()
