from __future__ import annotations

import pytest

from embed.models import EmbedOrigin

BOARD = "https://board.example.com"


@pytest.fixture
def board_origin(db) -> EmbedOrigin:
    """The one whitelisted origin: https://board.example.com (stored normalised)."""
    return EmbedOrigin.objects.create(origin=BOARD, label="wall screen")
