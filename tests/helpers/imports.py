"""What the importer tests share: expect one SinecliError whose message holds every fragment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sinecli.errors import SinecliError


def expect_failure(read: Callable[..., Any], text: str | bytes, *fragments: str,
                   **options: Any) -> str:
    """`read(text, **options)` must raise one SinecliError naming every fragment; its text."""
    with pytest.raises(SinecliError) as info:
        read(text, **options)
    message = str(info.value)
    assert all(f in message for f in fragments), message
    return message
