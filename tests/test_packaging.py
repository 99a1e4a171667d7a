"""The built wheel carries what an installed copy needs: the learned weights and all user-facing wording.

A real `pip wheel` of the checkout (no dependencies, the venv's own setuptools), read back as a zip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import app.config
from app.config import PROJECT_ROOT, get_settings, shipped_folder
from app.errors import SearchBackendRefusedError
from app.index.search import open_search


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools would leave build/ and the egg-info in the checkout, and a stale build/lib
    # could ship a module app/ no longer has
    source = tmp_path_factory.mktemp("source") / "newsqa"
    top_level = {".git", ".venv", "index", "build", "newsqa.egg-info", "test-artifacts", ".mypy_cache", ".ruff_cache"}

    def ignored(folder: str, names: list[str]) -> set[str]:  # top-level only: app/index/ is a package
        return top_level & set(names) if Path(folder) == PROJECT_ROOT else {"__pycache__"} & set(names)

    shutil.copytree(PROJECT_ROOT, source, ignore=ignored)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
         str(source)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = out.glob("newsqa-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_ships_every_prompt_and_the_weights(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    prompts = PROJECT_ROOT / "prompts"
    for path in prompts.rglob("*"):
        if path.is_file():
            shipped = next((n for n in names if n.endswith(f"/data/share/newsqa/prompts/{path.relative_to(prompts)}")),
                           None)
            assert shipped is not None, path
            assert wheel.read(shipped) == path.read_bytes()
    assert {"app/weights/quote_ranker.json", "app/weights/abstention.json", "app/weights/version_rival.json"} <= names
    assert {"app/api/routes/pages.py", "app/answer/quotes.py", "app/index/store.py"} <= names  # every package


def test_an_installed_copy_reads_its_wording_from_where_the_wheel_put_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert shipped_folder("prompts") == PROJECT_ROOT / "prompts"  # a checkout: the repository's folder
    monkeypatch.setattr(app.config, "PROJECT_ROOT", tmp_path)  # site-packages' parent holds no prompts/
    assert shipped_folder("prompts") == Path(sys.prefix) / "share" / "newsqa" / "prompts"


def test_the_milvus_backend_without_its_client_installed_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image built without EXTRAS=milvus, asked for the Milvus backend. The import is made to fail (a None in
    sys.modules), since this venv has pymilvus: uninstalling it would break the other tests."""
    monkeypatch.setitem(sys.modules, "app.index.milvus", None)
    with pytest.raises(SearchBackendRefusedError, match=r"pip install 'newsqa\[milvus\]'.*EXTRAS=milvus"):
        open_search(get_settings(search_backend="milvus"))
