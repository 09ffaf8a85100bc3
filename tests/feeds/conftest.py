"""What the feed tests share: an ADT journal on a fresh SQLite store."""

from __future__ import annotations

import pytest

from forecast.feeds.journal import AdtJournal
from forecast.feeds.locations import LocationMap
from forecast.feeds.pseudonyms import Pseudonyms
from forecast.store import EpisodeStore

# The point-of-care codes the messages of these tests name, and their units.
LOCATIONS = LocationMap({"POC-ICU": "intensive_care", "POC-MED": "internal_medicine", "AVD-ÅSA": "surgery"})


@pytest.fixture
def journal(tmp_path):
    """An ADT journal on an empty SQLite store, with a fixed secret for its visit keys."""
    store = EpisodeStore(f"sqlite:///{tmp_path / 'episodes.db'}")
    journal = AdtJournal(store, LOCATIONS, Pseudonyms(b"s" * 32))
    journal.create()
    yield journal
    store.dispose()
