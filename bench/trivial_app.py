"""The ceilings of the server stack, served like `harness api --direct`: a FastAPI route under
uvicorn that reads the JSON body and answers a small JSON document (`/trivial`), and one that
also validates it as intake's own request model, PaymentRequestIn (`/model`); no I/O."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from functions.intake.schemas import PaymentRequestIn


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/trivial")
    async def trivial(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True}, status_code=202)

    @app.post("/model", status_code=202)
    async def model(payment: PaymentRequestIn) -> JSONResponse:
        return JSONResponse({"ok": True, "currency": payment.currency}, status_code=202)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


app = create_app()
