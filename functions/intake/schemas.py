"""The public HTTP contract of intake (DESIGN.md §3): request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from common.domain.payment import PaymentStatus
from common.domain.payment_view import PaymentView


def _one_amount_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One clear error for a wrong type, instead of one per member of the union."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "amount_type", 'amount must be a decimal string like "49.99" or a number'
        ) from None


Amount = Annotated[StrictStr | StrictInt | StrictFloat, WrapValidator(_one_amount_error)]
MetadataKey = Annotated[str, Field(min_length=1, max_length=40)]
MetadataValue = Annotated[str, Field(max_length=500)]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


class CardIn(ApiModel):
    number: str = Field(min_length=1, max_length=32, examples=["4242424242424242"])
    exp_month: int = Field(ge=1, le=12, examples=[12])
    exp_year: int = Field(ge=2000, le=2200, examples=[2030])
    cvc: str = Field(max_length=4, examples=["123"])
    holder_name: str | None = Field(default=None, max_length=100)


class PaymentRequestIn(ApiModel):
    amount: Amount = Field(
        description="Decimal amount in major units, as a string (preferred) or a number.",
        examples=["49.99"],
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    webhook_url: str = Field(
        min_length=1,
        max_length=2048,
        description="Absolute http(s) URL the outcome is POSTed to; no credentials, and its "
        "host must resolve to public addresses only (checked again at every delivery).",
        examples=["https://shop.example/hooks/payments"],
        json_schema_extra={"format": "uri"},
    )
    reference: str | None = Field(default=None, max_length=128)
    description: str | None = Field(default=None, max_length=500)
    card: CardIn
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=20)


class OutModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PaymentAccepted(OutModel):
    transaction_id: str
    status: PaymentStatus
    amount: str
    currency: str
    reference: str | None
    created_at: datetime


class WebhookOut(OutModel):
    webhook_id: str
    status: str = Field(description="scheduled | delivered | failed")
    attempts: int
    last_response_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None


class ResendAccepted(OutModel):
    webhook_id: str
    status: str
    next_attempt_at: datetime | None


class PaymentOut(PaymentView):
    """The payment as GET shows it: the public view (the webhook's `data`) and its webhook."""

    webhook: WebhookOut | None = Field(description="null until the payment is final")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] = Field(default_factory=list)


class Health(BaseModel):
    status: str
    dependencies: dict[str, str]
