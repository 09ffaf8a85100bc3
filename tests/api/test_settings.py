"""The service's settings (settings.py): where the episodes store lives by default, and its override."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forecast.api import Settings, create_app
from tests.api.conftest import EPISODE, KEY, Loader, post
from tests.bundles import make_served


def test_episodes_are_stored_in_the_users_data_folder_not_the_working_folder(tmp_path, monkeypatch):
    work, data_home = tmp_path / "checkout", tmp_path / "data"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.delenv("BEDCAST_EPISODES_URL", raising=False)
    settings = Settings(api_key=KEY)
    assert settings.episodes_url == f"sqlite:///{data_home / 'bedcast' / 'episodes.db'}"
    with TestClient(create_app(settings, loader=Loader(make_served()))) as client:
        assert post(client, EPISODE).json()["added"] == 1
    assert (data_home / "bedcast" / "episodes.db").is_file()
    assert list(work.iterdir()) == []


def test_without_xdg_the_store_is_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("BEDCAST_EPISODES_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().episodes_url == f"sqlite:///{tmp_path / '.local' / 'share' / 'bedcast' / 'episodes.db'}"


def test_the_environment_names_another_store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'stays.db'}"
    monkeypatch.setenv("BEDCAST_EPISODES_URL", url)
    settings = Settings(api_key=KEY)
    assert settings.episodes_url == url
    with TestClient(create_app(settings, loader=Loader(make_served()))) as client:
        assert post(client, EPISODE).json()["stored"] == 1
    assert (tmp_path / "elsewhere" / "stays.db").is_file()
