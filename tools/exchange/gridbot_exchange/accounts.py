"""Accounts: balances (free, locked) and fee rates, reached through one or more API keys (a key rotation adds
a new key to the account, then revokes the old one, as on a real exchange), with the house and fee ledgers as
the counterparty, so every asset's total over accounts + house + fees is conserved exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gridbot_exchange.errors import insufficient

ZERO = Decimal(0)
HOUSE = "__house__"
FEES = "__fees__"


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Account:
    key: str  # the account's name: its first API key
    maker_fee: Decimal
    taker_fee: Decimal
    start: dict[str, Decimal]
    balances: dict[str, Balance] = field(default_factory=dict)
    fee_asset: str | None = None  # pays commissions in it (at a discount) while it holds enough, as with BNB

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.balances = {a: Balance(free=v) for a, v in self.start.items()}

    def bal(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def lock(self, asset: str, amount: Decimal) -> None:
        b = self.bal(asset)
        if amount > b.free:
            raise insufficient()
        b.free -= amount
        b.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        b = self.bal(asset)
        b.locked -= amount
        b.free += amount

    def snapshot(self) -> dict[str, dict[str, str]]:
        return {
            a: {"free": f"{b.free:.8f}", "locked": f"{b.locked:.8f}"}
            for a, b in sorted(self.balances.items())
        }


@dataclass
class ApiKey:
    """One API key of an account; its use is counted so a test can see which key a bot signs with."""

    account: Account
    secret: str
    requests: int = 0
    last_ms: int | None = None

    def used(self, now_ms: int) -> None:
        self.requests += 1
        self.last_ms = now_ms


class Ledger:
    """Every account and its API keys, plus the house (the other side of each trade) and the fees."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, ApiKey] = {}
        self.house: dict[str, Decimal] = {}
        self.fees: dict[str, Decimal] = {}

    def add(self, account: Account, secret: str) -> None:
        self.accounts[account.key] = account
        self.keys[account.key] = ApiKey(account, secret)

    def reset(self) -> None:
        for a in self.accounts.values():
            a.reset()
        self.house.clear()
        self.fees.clear()

    def settle(
        self,
        acct: Account,
        base: str,
        quote: str,
        is_buy: bool,
        qty: Decimal,
        quote_qty: Decimal,
        fee: Decimal,
        fee_asset: str,
    ) -> None:
        """Move a fill's assets out of the account's locked funds and its fee into the fee ledger: taken from
        what it receives (base for a buy, quote for a sell) or from its free fee asset (BNB)."""
        if is_buy:
            acct.bal(quote).locked -= quote_qty
            acct.bal(base).free += qty
            self._move(self.house, base, -qty)
            self._move(self.house, quote, quote_qty)
        else:
            acct.bal(base).locked -= qty
            acct.bal(quote).free += quote_qty
            self._move(self.house, base, qty)
            self._move(self.house, quote, -quote_qty)
        acct.bal(fee_asset).free -= fee
        self._move(self.fees, fee_asset, fee)

    @staticmethod
    def _move(book: dict[str, Decimal], asset: str, amount: Decimal) -> None:
        book[asset] = book.get(asset, ZERO) + amount

    def totals(self) -> dict[str, Decimal]:
        """Per asset: accounts (free + locked) + house + fees; constant over any session."""
        out: dict[str, Decimal] = {}
        for a in self.accounts.values():
            for asset, b in a.balances.items():
                self._move(out, asset, b.free + b.locked)
        for book in (self.house, self.fees):
            for asset, v in book.items():
                self._move(out, asset, v)
        return out
