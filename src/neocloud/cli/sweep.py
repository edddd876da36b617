"""Commands of this group are registered on the app here."""

from __future__ import annotations
