"""The Chinese edition (notebooks/zh/) is in step with the English notebooks (scripts/zh_sync.py).

The first test checks the real tree: same cells, same code, same outputs, every English Markdown cell
translated, and no translation older than its English text. The others build small notebook pairs in a
temporary folder (or copy a real pair there) and check that the checker reports exactly what changed and
that a sync repairs code and outputs while keeping the Chinese text.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]


def _load_zh_sync():
    spec = importlib.util.spec_from_file_location("zh_sync", ROOT / "scripts" / "zh_sync.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("zh_sync", module)      # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


zh = _load_zh_sync()


def report(problems) -> str:
    """One line per problem, each naming the notebook (chapter) and the cell id."""
    return (f"{len(problems)} difference(s) between notebooks/ and notebooks/zh/ "
            "(run `make zh-sync`, then translate what is listed as untranslated or stale):\n"
            + "\n".join(f"  {p}" for p in problems))


def test_chinese_edition_is_in_step_with_english():
    problems = zh.check_all()
    assert not problems, report(problems)


# ---------------------------------------------------------------------------------------------------
# Small notebooks in tmp_path
# ---------------------------------------------------------------------------------------------------
def _english_notebook():
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    out = new_output("stream", name="stdout", text="6\n")
    nb.cells = [
        new_markdown_cell("# Chapter 9: A test chapter", id="title"),
        new_code_cell("print(1 + 2 + 3)", id="add", execution_count=1, outputs=[out]),
        new_markdown_cell("The sum is **six**.", id="explain"),
        new_code_cell("x = 2", id="assign", execution_count=2, metadata={"tags": ["nbval-ignore-output"]}),
    ]
    return nb


CHINESE = {"title": "# 第9章：测试用的一章", "explain": "和是**六**。"}


def _translate(folder: Path, name: str, texts: dict[str, str]) -> None:
    """What a translator does: export the English Markdown, fill in Chinese, apply it."""
    exported = folder / "export.json"
    zh.export(Path(name).stem, exported, en_dir=folder / "en", zh_dir=folder / "zh")
    data = json.loads(exported.read_text(encoding="utf-8"))
    for cell_id, text in texts.items():
        data["cells"][cell_id]["zh"] = text
    exported.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    # the export carries the translations already in step, so they are written back as they are
    filled = sum(1 for entry in data["cells"].values() if entry["zh"])
    assert zh.apply(exported, en_dir=folder / "en", zh_dir=folder / "zh") == filled


@pytest.fixture
def pair(tmp_path):
    """A translated pair en/ch09_test.ipynb + zh/ch09_test.ipynb, in step. Returns (en_dir, zh_dir, name)."""
    en_dir, zh_dir, name = tmp_path / "en", tmp_path / "zh", "ch09_test.ipynb"
    en_dir.mkdir()
    nbformat.write(_english_notebook(), en_dir / name)
    assert zh.sync_all(en_dir, zh_dir) == [zh_dir / name]
    _translate(tmp_path, name, CHINESE)
    assert zh.check_all(en_dir, zh_dir) == []
    return en_dir, zh_dir, name


def _kinds(en_dir: Path, zh_dir: Path) -> list[tuple[str, str, str]]:
    return [(p.notebook, p.cell, p.kind) for p in zh.check_all(en_dir, zh_dir)]


def _edit(path: Path, change) -> None:
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c["id"] == cell_id)


def test_untranslated_cells_are_reported_by_id(tmp_path):
    en_dir, zh_dir, name = tmp_path / "en", tmp_path / "zh", "ch09_test.ipynb"
    en_dir.mkdir()
    nbformat.write(_english_notebook(), en_dir / name)
    assert _kinds(en_dir, zh_dir) == [(name, "-", "missing")]
    zh.sync_all(en_dir, zh_dir)
    assert _kinds(en_dir, zh_dir) == [(name, "title", "untranslated"), (name, "explain", "untranslated")]
    _translate(tmp_path, name, {"title": CHINESE["title"]})
    assert _kinds(en_dir, zh_dir) == [(name, "explain", "untranslated")]


def test_editing_one_english_markdown_cell_reports_exactly_that_cell_as_stale(pair):
    en_dir, zh_dir, name = pair
    _edit(en_dir / name, lambda nb: _cell(nb, "explain").update(source="The sum is **six** (1 + 2 + 3)."))
    problems = zh.check_all(en_dir, zh_dir)
    assert [(p.notebook, p.cell, p.kind) for p in problems] == [(name, "explain", "stale")]
    message = report(problems)
    assert "ch09_test.ipynb cell explain: stale" in message
    # A sync cannot fix a stale translation: it keeps the old Chinese, which a translator must redo.
    zh.sync_all(en_dir, zh_dir)
    assert _kinds(en_dir, zh_dir) == [(name, "explain", "stale")]
    assert _cell(nbformat.read(zh_dir / name, as_version=4), "explain")["source"] == CHINESE["explain"]
    _translate(en_dir.parent, name, {"explain": "和是**六**（1 + 2 + 3）。"})
    assert _kinds(en_dir, zh_dir) == []


def test_new_english_code_cell_makes_the_cells_differ_until_sync(pair):
    en_dir, zh_dir, name = pair
    new = new_code_cell("print(x * 21)", id="answer", execution_count=3,
                        outputs=[new_output("stream", name="stdout", text="42\n")])
    _edit(en_dir / name, lambda nb: nb.cells.insert(2, new))
    problems = zh.check_all(en_dir, zh_dir)
    assert [(p.cell, p.kind) for p in problems] == [("-", "cells differ")]
    assert "answer" in problems[0].detail
    assert zh.sync_all(en_dir, zh_dir) == [zh_dir / name]
    assert zh.check_all(en_dir, zh_dir) == []
    cell = _cell(nbformat.read(zh_dir / name, as_version=4), "answer")
    assert cell["source"] == "print(x * 21)" and cell["outputs"][0]["text"] == "42\n"


def test_sync_on_an_unchanged_tree_changes_nothing(pair):
    en_dir, zh_dir, name = pair
    before = (zh_dir / name).read_bytes()
    assert zh.sync_all(en_dir, zh_dir) == []
    assert (zh_dir / name).read_bytes() == before


def test_sync_of_a_real_pair_is_stable(tmp_path):
    """A copy of ch02 and its Chinese twin: after one sync, a second one writes nothing."""
    en_dir, zh_dir = tmp_path / "en", tmp_path / "zh"
    zh_dir.mkdir(parents=True)
    en_dir.mkdir()
    name = "ch02_perceptron.ipynb"
    shutil.copy(ROOT / "notebooks" / name, en_dir / name)
    shutil.copy(ROOT / "notebooks" / "zh" / name, zh_dir / name)
    zh.sync_all(en_dir, zh_dir)
    once = (zh_dir / name).read_bytes()
    assert zh.sync_all(en_dir, zh_dir) == []
    assert (zh_dir / name).read_bytes() == once
    kinds = {p.kind for p in zh.check_all(en_dir, zh_dir)}
    assert kinds <= {"untranslated", "stale"}, kinds


def test_sync_keeps_the_chinese_text_and_copies_new_outputs(pair):
    en_dir, zh_dir, name = pair

    def rerun(nb):
        add = _cell(nb, "add")
        add["source"] = "print(1 + 2 + 3 + 4)"
        add["execution_count"] = 7
        add["outputs"] = [new_output("stream", name="stdout", text="10\n")]
        _cell(nb, "assign")["metadata"]["tags"] = []
    _edit(en_dir / name, rerun)
    assert _kinds(en_dir, zh_dir) == [(name, "add", "code differs"), (name, "assign", "metadata differs")]
    zh.sync_all(en_dir, zh_dir)
    assert zh.check_all(en_dir, zh_dir) == []
    nb = nbformat.read(zh_dir / name, as_version=4)
    add = _cell(nb, "add")
    assert (add["source"], add["execution_count"], add["outputs"][0]["text"]) == ("print(1 + 2 + 3 + 4)", 7, "10\n")
    for cell_id, text in CHINESE.items():
        cell = _cell(nb, cell_id)
        assert cell["source"] == text
        assert cell["metadata"]["zh"]["en_sha"] == zh.en_sha(_cell(nbformat.read(en_dir / name, as_version=4),
                                                                   cell_id)["source"])


def test_outputs_edited_in_the_chinese_notebook_are_reported(pair):
    en_dir, zh_dir, name = pair
    _edit(zh_dir / name, lambda nb: _cell(nb, "add")["outputs"][0].update(text="7\n"))
    assert _kinds(en_dir, zh_dir) == [(name, "add", "outputs differ")]
    zh.sync_all(en_dir, zh_dir)
    assert _kinds(en_dir, zh_dir) == []


def test_untranslated_cell_follows_the_english_text(pair):
    """A cell nobody has translated yet shows the current English, not an older copy of it."""
    en_dir, zh_dir, name = pair
    _edit(en_dir / name, lambda nb: nb.cells.append(new_markdown_cell("Next: a product.", id="next")))
    zh.sync_all(en_dir, zh_dir)
    assert _kinds(en_dir, zh_dir) == [(name, "next", "untranslated")]
    _edit(en_dir / name, lambda nb: _cell(nb, "next").update(source="Next: a product of three numbers."))
    zh.sync_all(en_dir, zh_dir)
    assert _cell(nbformat.read(zh_dir / name, as_version=4), "next")["source"] == "Next: a product of three numbers."


def test_only_the_start_page_and_chapters_need_a_twin(tmp_path):
    for name in ("00_start_here.ipynb", "ch01_intro.ipynb", "glossary.ipynb", "scratch.ipynb"):
        nbformat.write(new_notebook(), tmp_path / name)
    assert [p.name for p in zh.english_notebooks(tmp_path)] == ["00_start_here.ipynb", "ch01_intro.ipynb"]
    assert "glossary.ipynb" not in [p.name for p in zh.english_notebooks()]


def test_execution_timestamps_are_not_a_difference_but_tags_are(pair):
    en_dir, zh_dir, name = pair
    stamp = {"iopub.execute_input": "2026-01-01T00:00:00Z", "shell.execute_reply": "2026-01-01T00:00:01Z"}
    _edit(en_dir / name, lambda nb: _cell(nb, "add")["metadata"].update(execution=stamp))
    assert _kinds(en_dir, zh_dir) == []
    _edit(zh_dir / name, lambda nb: _cell(nb, "add")["metadata"].update(jupyter={"source_hidden": True}))
    assert _kinds(en_dir, zh_dir) == [(name, "add", "metadata differs")]
