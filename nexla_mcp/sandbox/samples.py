"""Deterministic sample records per business domain, and the schemas they imply."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class Domain:
    make: Callable[[random.Random, int], Record]
    numeric_field: str  # the field a schema_mismatch breaks
    key_field: str  # the field a resource_conflict duplicates
    record_bytes: int


def _orders(rng: random.Random, i: int) -> Record:
    return {
        "order_id": f"A-{100000 + i}",
        "customer_id": rng.randint(1000, 9999),
        "order_total": round(rng.uniform(5, 400), 2),
        "currency": "USD",
        "status": rng.choice(["paid", "shipped", "refunded"]),
        "created_at": f"2025-03-0{1 + i % 9}T1{i % 10}:0{i % 6}:00Z",
    }


def _customers(rng: random.Random, i: int) -> Record:
    return {
        "customer_id": 20000 + i,
        "email": f"customer{i}@example.net",
        "country": rng.choice(["US", "CA", "GB", "DE"]),
        "lifetime_value": round(rng.uniform(0, 5000), 2),
        "signup_date": f"2024-0{1 + i % 9}-1{i % 10}",
    }


def _events(rng: random.Random, i: int) -> Record:
    return {
        "event_id": f"evt_{rng.getrandbits(40):010x}",
        "session_id": f"s-{rng.randint(1, 99999)}",
        "event_type": rng.choice(["page_view", "add_to_cart", "checkout"]),
        "page": rng.choice(["/", "/cart", "/p/sku-1182"]),
        "duration_ms": rng.randint(50, 9000),
        "ts": 1741082400000 + i * 1375,
    }


def _payments(rng: random.Random, i: int) -> Record:
    return {
        "payment_id": f"pay_{rng.getrandbits(36):09x}",
        "amount": round(rng.uniform(1, 900), 2),
        "currency": rng.choice(["USD", "EUR", "GBP"]),
        "method": rng.choice(["card", "ach", "wallet"]),
        "captured_at": f"2025-03-04T0{i % 10}:1{i % 6}:00Z",
    }


def _contacts(rng: random.Random, i: int) -> Record:
    return {
        "contact_id": 51000 + i,
        "email": f"lead{i}@prospect.example",
        "first_name": rng.choice(["Ana", "Ben", "Chen", "Dev"]),
        "lifecycle_stage": rng.choice(["lead", "mql", "customer"]),
        "score": rng.randint(0, 100),
    }


def _ledger(rng: random.Random, i: int) -> Record:
    return {
        "entry_id": 700000 + i,
        "account": rng.choice(["4000-Revenue", "5000-COGS", "1200-AR"]),
        "debit": round(rng.uniform(0, 10000), 2),
        "credit": 0.0,
        "posted_on": f"2025-02-{10 + i % 18}",
    }


def _inventory(rng: random.Random, i: int) -> Record:
    return {
        "sku": f"SKU-{1100 + i}",
        "warehouse": rng.choice(["NJ-1", "TX-2", "CA-3"]),
        "quantity": rng.randint(0, 800),
        "unit_cost": round(rng.uniform(1, 120), 2),
    }


def _rates(rng: random.Random, i: int) -> Record:
    return {
        "base": "USD",
        "quote": ["EUR", "GBP", "JPY", "CAD", "MXN"][i % 5],
        "rate": round(rng.uniform(0.5, 150), 4),
        "as_of": "2025-03-04",
    }


DOMAINS: dict[str, Domain] = {
    "orders": Domain(_orders, "order_total", "order_id", 610),
    "customers": Domain(_customers, "lifetime_value", "customer_id", 420),
    "events": Domain(_events, "duration_ms", "event_id", 350),
    "payments": Domain(_payments, "amount", "payment_id", 380),
    "contacts": Domain(_contacts, "score", "contact_id", 450),
    "ledger": Domain(_ledger, "debit", "entry_id", 300),
    "inventory": Domain(_inventory, "quantity", "sku", 260),
    "rates": Domain(_rates, "rate", "quote", 120),
}


def domain(name: str) -> Domain:
    return DOMAINS.get(name, DOMAINS["orders"])


def records(domain_name: str, seed: int, count: int) -> list[Record]:
    rng = random.Random(f"samples:{domain_name}:{seed}")
    make = domain(domain_name).make
    return [make(rng, index) for index in range(count)]


def derive(record: Record) -> Record:
    """What a derived nexset's transform makes of one input record."""
    output = {key.lower(): value for key, value in record.items()}
    output["load_date"] = "2025-03-04"
    return output


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def schema_of(record: Record) -> dict[str, Any]:
    properties = {
        key: {"type": _JSON_TYPES.get(type(value), "string")} for key, value in record.items()
    }
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": properties,
    }
