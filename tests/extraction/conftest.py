"""The generated sample invoices (examples/invoices) and their true values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger_mcp.ledger.extraction import ExtractedInvoice, detect_mime, extract

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "invoices"
EXPECTED: dict[str, Any] = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))

_cache: dict[str, ExtractedInvoice] = {}


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def extracted(name: str) -> ExtractedInvoice:
    """Each sample is extracted once per test session: OCR takes seconds per page."""
    if name not in _cache:
        data = sample_bytes(name)
        _cache[name] = extract(data, detect_mime(data, name))
    return _cache[name]


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES
