"""The security settings: data roots read from HYPERLAW_DATA_ROOTS (resolved, existing folders only),
and the data-path check that uses them (links resolved, one message for refused and missing)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from app.errors import InvalidInput
from app.settings import Settings
from app.specs import DATA_PATH_REFUSED, check_data


def test_data_roots_are_empty_by_default(monkeypatch):
    monkeypatch.delenv("HYPERLAW_DATA_ROOTS", raising=False)
    assert Settings().data_roots == []


def test_data_roots_from_the_environment_are_resolved(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "b")
    monkeypatch.setenv("HYPERLAW_DATA_ROOTS", f"{tmp_path}/a{os.pathsep}{tmp_path}/link")
    assert Settings().data_roots == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]


def test_a_data_root_that_is_not_a_folder_is_refused_at_start_up(tmp_path):
    with pytest.raises(ValidationError, match="is not an existing folder: create it"):
        Settings(data_roots=[tmp_path / "nowhere"])


def test_check_data(tmp_path):
    (tmp_path / "corpus.txt").write_text("hello")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    roots = [tmp_path]
    check_data(f"text:{tmp_path}/corpus.txt", roots)
    check_data(f"tokens:{tmp_path}", roots)
    for built_in in ("synthetic:markov", "pystdlib", "nosuch:thing", 5, None):
        check_data(built_in, [])  # not a file source: RunSpec judges it
    for data in (f"text:{tmp_path}/corpus.txt", "text:/etc/hostname"):
        with pytest.raises(InvalidInput, match="not under a configured data root"):
            check_data(data, [])
    for data in (f"text:{tmp_path}/loop", f"text:{tmp_path}/none", "text:", "tokens:/", "text:/etc/hostname"):
        with pytest.raises(InvalidInput) as refused:
            check_data(data, roots)
        assert (str(refused.value), refused.value.field) == (DATA_PATH_REFUSED, "data")
