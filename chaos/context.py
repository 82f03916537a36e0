"""What every scenario gets: the stack, a proxy in front of the merchant receiver, and the
secrets created so far (the leak scan looks for them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos import leaks
from chaos.load import Load
from chaos.stack import ChaosStack, Merchant
from chaos.tcp_proxy import TcpProxy
from harness.traffic import TEST_CARDS

RECEIVER_PROXY_PORT = 38083


@dataclass
class Chaos:
    stack: ChaosStack
    quick: bool
    """One short pass (inside `make test`) instead of the full suite."""
    proxy: TcpProxy = field(init=False)
    merchants: list[Merchant] = field(default_factory=list)
    extra_secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self.stack.settings
        self.proxy = TcpProxy(RECEIVER_PROXY_PORT, (receiver.host, receiver.receiver_port))

    def merchant(self, name: str) -> Merchant:
        m = self.stack.new_merchant(f"chaos {name}")
        self.merchants.append(m)
        return m

    def load(self, name: str, rate_per_s: float, seconds: float, via_proxy: bool = False) -> Load:
        base = self.proxy.url if via_proxy else self.stack.settings.receiver_url
        return Load(self.stack, self.merchant(name), rate_per_s, seconds, base)

    def secrets(self) -> list[str]:
        return [
            *(c.number for c in TEST_CARDS),
            *(m.api_key for m in self.merchants),
            *self.extra_secrets,
        ]

    def leaks(self) -> list[str]:
        return leaks.find(self.secrets(), self.stack.settings)
