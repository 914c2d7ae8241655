"""Keep the Chinese edition (notebooks/zh/) in step with the English notebooks (notebooks/).

The English notebooks are the one source of truth for code: every code cell of a Chinese notebook, with its
outputs, is a copy of the English cell with the same id. Only the Markdown differs. Each translated Markdown
cell records which English text it translates:

    cell.metadata["zh"] = {"en_sha": "<first 12 hex digits of sha256(English source)>"}

so a later change to the English cell shows up as a *stale* translation.

    python scripts/zh_sync.py            # copy code cells/outputs into notebooks/zh/, keep the Chinese Markdown
    python scripts/zh_sync.py --check    # report every difference, untranslated or stale cell; exit 1 if any
    python scripts/zh_sync.py --export ch03 out.json   # English Markdown of one notebook, to translate
    python scripts/zh_sync.py --apply in.json          # write translations {id: {"en_sha", "zh"}} back

A Markdown cell that is new in English is copied into the Chinese notebook in English, without the "zh"
marker: `--check` reports it as untranslated until someone translates it.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EN_DIR = ROOT / "notebooks"
ZH_DIR = EN_DIR / "zh"


def english_notebooks(en_dir: Path = EN_DIR) -> list[Path]:
    """Every English notebook that has a Chinese twin: the start page and the chapters."""
    return sorted(p for p in en_dir.glob("*.ipynb") if p.name[:2].isdigit() or p.name.startswith("ch"))


def en_sha(source: str) -> str:
    """Short fingerprint of an English Markdown cell's text (what a translation records)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (messages), else as it is."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def translated_sha(cell) -> str | None:
    """The en_sha a Chinese Markdown cell was translated from, or None if it is not translated."""
    return (cell.get("metadata", {}).get("zh") or {}).get("en_sha")


def synced(en_nb, zh_nb):
    """The Chinese notebook rebuilt from ``en_nb``: English code cells and outputs, Chinese Markdown kept.

    Cells are matched by id. A Markdown cell keeps its Chinese text (and its "zh" marker) when the Chinese
    notebook has a translated one (with the marker) with that id; otherwise it is copied from English,
    unmarked, so an untranslated cell always shows the current English text. Notebook metadata follows
    the English notebook.
    """
    zh_md = {c["id"]: c for c in (zh_nb.cells if zh_nb is not None else [])
             if c["cell_type"] == "markdown" and translated_sha(c) is not None}
    out = copy.deepcopy(en_nb)
    cells = []
    for cell in en_nb.cells:
        if cell["cell_type"] == "markdown" and cell["id"] in zh_md:
            zh_cell = copy.deepcopy(zh_md[cell["id"]])
            # Tags and other metadata follow the English cell; the Chinese text and its marker stay.
            meta = copy.deepcopy(cell.get("metadata", {}))
            if "zh" in zh_cell.get("metadata", {}):
                meta["zh"] = zh_cell["metadata"]["zh"]
            zh_cell["metadata"] = meta
            cells.append(zh_cell)
        else:
            cells.append(copy.deepcopy(cell))
    out.cells = cells
    return out


@dataclass(frozen=True)
class Problem:
    notebook: str
    cell: str          # cell id ("-" for the notebook as a whole)
    kind: str          # "missing", "cells differ", "code differs", "outputs differ", "metadata differs",
    #                    "untranslated", "stale"
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def problems(en_path: Path, zh_path: Path) -> list[Problem]:
    """Every way the Chinese twin of ``en_path`` is out of step with it (empty list: in step)."""
    name = en_path.name
    if not zh_path.exists():
        return [Problem(name, "-", "missing", f"{_shown(zh_path)} does not exist")]
    en_nb, zh_nb = nbformat.read(en_path, as_version=4), nbformat.read(zh_path, as_version=4)
    en_layout = [(c["id"], c["cell_type"]) for c in en_nb.cells]
    zh_layout = [(c["id"], c["cell_type"]) for c in zh_nb.cells]
    found: list[Problem] = []
    if en_layout != zh_layout:
        only_en = [i for i, _ in en_layout if (i, _) not in zh_layout]
        only_zh = [i for i, _ in zh_layout if (i, _) not in en_layout]
        found.append(Problem(name, "-", "cells differ",
                             f"only in English: {only_en[:8]}; only in Chinese: {only_zh[:8]}; or order differs"))
    zh_by_id = {c["id"]: c for c in zh_nb.cells}
    for cell in en_nb.cells:
        twin = zh_by_id.get(cell["id"])
        if twin is None or twin["cell_type"] != cell["cell_type"]:
            continue
        if cell["cell_type"] == "markdown":
            sha = translated_sha(twin)
            if sha is None:
                found.append(Problem(name, cell["id"], "untranslated", _source(cell)[:60].replace("\n", " ")))
            elif sha != en_sha(_source(cell)):
                found.append(Problem(name, cell["id"], "stale",
                                     "the English text changed after it was translated: "
                                     + _source(cell)[:60].replace("\n", " ")))
        else:
            if _source(cell) != _source(twin):
                found.append(Problem(name, cell["id"], "code differs"))
            elif (cell.get("outputs"), cell.get("execution_count")) != (twin.get("outputs"),
                                                                         twin.get("execution_count")):
                found.append(Problem(name, cell["id"], "outputs differ"))
            elif _reader_metadata(cell) != _reader_metadata(twin):
                # tags (nbval-ignore-output) and a hidden solution must be the same in both editions
                found.append(Problem(name, cell["id"], "metadata differs"))
    return found


def _reader_metadata(cell) -> dict:
    """A code cell's metadata less the execution timestamps nbconvert records (they differ on every run)."""
    return {k: v for k, v in cell.get("metadata", {}).items() if k != "execution"}


def write_if_changed(nb, path: Path) -> bool:
    """Write ``nb`` to ``path`` (atomically) unless the file already holds exactly that; True if written."""
    text = nbformat.writes(nb) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def sync_all(en_dir: Path = EN_DIR, zh_dir: Path = ZH_DIR) -> list[Path]:
    """Rebuild every Chinese notebook from its English twin; return the files that changed."""
    changed = []
    for en_path in english_notebooks(en_dir):
        zh_path = zh_dir / en_path.name
        en_nb = nbformat.read(en_path, as_version=4)
        zh_nb = nbformat.read(zh_path, as_version=4) if zh_path.exists() else None
        if write_if_changed(synced(en_nb, zh_nb), zh_path):
            changed.append(zh_path)
    return changed


def check_all(en_dir: Path = EN_DIR, zh_dir: Path = ZH_DIR) -> list[Problem]:
    return [p for en_path in english_notebooks(en_dir) for p in problems(en_path, zh_dir / en_path.name)]


def _find(stem: str, en_dir: Path = EN_DIR) -> Path:
    hits = [p for p in english_notebooks(en_dir) if p.stem.startswith(stem)]
    if len(hits) != 1:
        raise SystemExit(f"zh_sync: {stem!r} names {len(hits)} notebooks; give a unique prefix such as ch03")
    return hits[0]


def export(stem: str, out: Path, en_dir: Path = EN_DIR, zh_dir: Path = ZH_DIR) -> None:
    """Write {notebook, cells: {id: {en_sha, en, zh}}} for one notebook's Markdown (zh: current translation)."""
    en_path = _find(stem, en_dir)
    zh_path = zh_dir / en_path.name
    en_nb = nbformat.read(en_path, as_version=4)
    zh_by_id = {}
    if zh_path.exists():
        zh_by_id = {c["id"]: c for c in nbformat.read(zh_path, as_version=4).cells}
    cells = {}
    for cell in en_nb.cells:
        if cell["cell_type"] != "markdown":
            continue
        text = _source(cell)
        twin = zh_by_id.get(cell["id"])
        current = _source(twin) if twin is not None and translated_sha(twin) == en_sha(text) else ""
        cells[cell["id"]] = {"en_sha": en_sha(text), "en": text, "zh": current}
    out.write_text(json.dumps({"notebook": en_path.name, "cells": cells}, ensure_ascii=False, indent=1),
                   encoding="utf-8")


def apply(path: Path, en_dir: Path = EN_DIR, zh_dir: Path = ZH_DIR) -> int:
    """Put the translations of an exported file into the Chinese notebook; return how many cells were set.

    Each entry records the en_sha of the English text it was translated from; a translation of text that
    has since changed is still written, and --check then reports it as stale.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    en_path = en_dir / data["notebook"]
    zh_path = zh_dir / en_path.name
    en_nb = nbformat.read(en_path, as_version=4)
    zh_nb = synced(en_nb, nbformat.read(zh_path, as_version=4) if zh_path.exists() else None)
    by_id = {c["id"]: c for c in zh_nb.cells}
    n = 0
    for cell_id, entry in data["cells"].items():
        zh_text = entry.get("zh", "").strip("\n")
        if not zh_text:
            continue
        cell = by_id.get(cell_id)
        if cell is None or cell["cell_type"] != "markdown":
            raise SystemExit(f"zh_sync: {data['notebook']} has no Markdown cell {cell_id!r}")
        cell["source"] = zh_text
        cell.setdefault("metadata", {})["zh"] = {"en_sha": entry["en_sha"]}
        n += 1
    write_if_changed(zh_nb, zh_path)
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="report differences; exit 1 if any")
    group.add_argument("--export", nargs=2, metavar=("NOTEBOOK", "OUT_JSON"))
    group.add_argument("--apply", metavar="IN_JSON")
    args = parser.parse_args(argv)
    if args.check:
        found = check_all()
        for p in found:
            print(p)
        print(f"zh_sync: {len(found)} problem(s)" if found else "zh_sync: the Chinese edition is in step")
        return 1 if found else 0
    if args.export:
        export(args.export[0], Path(args.export[1]))
        return 0
    if args.apply:
        print(f"zh_sync: {apply(Path(args.apply))} cell(s) translated")
        return 0
    changed = sync_all()
    for path in changed:
        print(f"updated {_shown(path)}")
    if not changed:
        print("zh_sync: nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
