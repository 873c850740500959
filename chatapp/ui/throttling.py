"""Failed log-ins, counted so that an attacker cannot lock a real user out.

Three counts, in the rate-limit storage (RATELIMIT_STORAGE_URI):
- per (account, client address), LOGIN_LIMIT_PER_ACCOUNT_ADDRESS: past it, that address waits
  before it may try that account again, even with the right password;
- per client address, LOGIN_LIMIT_PER_ADDRESS, whatever the accounts: password spraying;
- per account, LOGIN_LIMIT_PER_ACCOUNT, from any address: a much higher ceiling, and past it only
  the addresses that have failed for the account wait. An address with no failures for it
  still gets its password checked, so the real user, elsewhere, logs in.
Successful log-ins count nowhere. The password change form's "current password" counts the same
way, keyed by the signed-in account.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from flask import current_app, request
from limits import RateLimitItem, parse_many

from ..extensions import limiter

EXTENSION_KEY = "chatapp.login_throttle"


@dataclass
class LoginThrottle:
    per_account_address: str
    per_address: str
    per_account: str

    @cached_property
    def limits(self) -> dict[str, list[RateLimitItem]]:
        return {
            "account-address": parse_many(self.per_account_address),
            "address": parse_many(self.per_address),
            "account": parse_many(self.per_account),
        }

    @staticmethod
    def _keys(account: str, address: str) -> dict[str, tuple[str, ...]]:
        return {
            "account-address": ("login-account-address", account, address),
            "address": ("login-address", address),
            "account": ("login-account", account),
        }

    def allows(self, account: str, address: str) -> bool:
        """Whether `address` may try a password for `account` now."""
        if not limiter.enabled:
            return True
        strategy, keys = limiter.limiter, self._keys(account, address)
        for name in ("account-address", "address"):
            if not all(strategy.test(limit, *keys[name]) for limit in self.limits[name]):
                return False
        if all(strategy.test(limit, *keys["account"]) for limit in self.limits["account"]):
            return True
        return not self.has_failed(account, address)  # the account is under attack: only clean addresses

    def has_failed(self, account: str, address: str) -> bool:
        strategy, key = limiter.limiter, self._keys(account, address)["account-address"]
        return any(strategy.get_window_stats(limit, *key).remaining < limit.amount for limit in self.limits["account-address"])

    def failed(self, account: str, address: str) -> None:
        """Count one failed attempt in all three."""
        if not limiter.enabled:
            return
        for name, key in self._keys(account, address).items():
            for limit in self.limits[name]:
                limiter.limiter.hit(limit, *key)


def login_throttle() -> LoginThrottle:
    throttle = current_app.extensions.get(EXTENSION_KEY)
    if throttle is None:
        config = current_app.config
        throttle = LoginThrottle(
            config["LOGIN_LIMIT_PER_ACCOUNT_ADDRESS"], config["LOGIN_LIMIT_PER_ADDRESS"], config["LOGIN_LIMIT_PER_ACCOUNT"]
        )
        current_app.extensions[EXTENSION_KEY] = throttle
    return throttle


def client_address() -> str:
    """The client's address as the configured proxies report it (chatapp.proxy)."""
    return request.remote_addr or "unknown"
