"""Reviewed items (labels files) joined with their texts, for evaluation and `crwatch train`.

The labels format (../shared/corpus/LABELING.md) names an item by id and carries no text; the
text is joined from the corpus file its id names, or taken from the row itself (`title`,
`text`, as `crwatch label --export` writes them).

Every label row is joined with its text from the corpus file its id names (LABELING.md, "Ids"):
CCTV stories (zh), Telegram posts (ru), English headlines, and the full-text sets (ru_kw RT/NG,
allsides, ukraine_media_2022, semeval2023, bsnlp2021). Each item also carries:

- `kind`: `short` (a CCTV story, a Telegram post, a headline) or `full` (a full-text article);
- `group`: the outlet it comes from, for grouped cross-validation (no outlet in two folds). A
  source with one outlet (CCTV) is grouped by quarter instead, so stories of one news cycle stay
  together; semeval articles carry no outlet and are each their own group;
- `langgroup`: zh, ru, en, or `eu` (de, fr, pl, it, uk, es, el: the European group).

`folds()` assigns groups to k folds deterministically (largest group first, to the fold with the
fewest items of that language so far), so every fold holds items of every language.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
LABEL_FILES = {"dev": CORPUS / "labels_dev.jsonl", "train": CORPUS / "labels_train.jsonl"}
_FILES = {
    "cctv": "news/cctv_zh/stories.jsonl.gz",
    "telegram": "news/ru_telegram/posts.jsonl.gz",
    "headlines": "news/en_headlines/headlines.jsonl.gz",
    "rt": "news/ru_fulltext/rt_ng/russia_today.jsonl.gz",
    "ng": "news/ru_fulltext/rt_ng/ng.jsonl.gz",
    "allsides": "news/en_fulltext/allsides/articles_china_or_russia.jsonl.gz",
    "ukrmedia": "news/en_fulltext/ukraine_media_2022/articles.jsonl.gz",
    "semeval": "news/multilingual/semeval2023/articles.jsonl.gz",
    "bsnlp": "news/multilingual/bsnlp2021/docs_ru_uk_pl.jsonl.gz",
}
RELEVANT = frozenset({"core", "related"})
EUROPEAN = frozenset({"de", "fr", "pl", "it", "uk", "es", "el"})
LANG_GROUPS = ("zh", "ru", "en", "eu")


@dataclass(frozen=True, slots=True)
class Labelled:
    """One reviewed item joined with its text."""

    id: str
    lang: str
    title: str | None
    text: str
    relevance: str
    topics: tuple[str, ...]
    stance: str | None
    kind: str  # short | full
    group: str  # outlet (or CCTV quarter) for grouped folds
    split: str  # dev | train: the file it came from

    @property
    def langgroup(self) -> str:
        """zh, ru, en or eu."""
        return "eu" if self.lang in EUROPEAN else self.lang

    @property
    def relevant(self) -> bool:
        """Core or related."""
        return self.relevance in RELEVANT


def available(splits: tuple[str, ...] = ("dev", "train"), corpus: Path = CORPUS) -> bool:
    """True when the label files and every corpus file they join on are present."""
    files = [corpus / LABEL_FILES[s].name for s in splits]
    files += [corpus / f for f in _FILES.values()]
    return all(p.exists() for p in files)


def _jsonl_gz(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _without_title(text: str, title: str | None) -> str:
    """The article text without its first line when that line is the title."""
    if title and text.startswith(title):
        return text[len(title) :].lstrip()
    return text


def _host(url: str | None) -> str:
    host = urlsplit(url or "").netloc.lower()
    return host.removeprefix("www.") or "unknown"


def _quarter(date: str | None) -> str:
    if not date or len(date) < 7:
        return "unknown"
    return f"{date[:4]}Q{(int(date[5:7]) - 1) // 3 + 1}"


def corpus_texts(
    wanted: set[str], corpus: Path = CORPUS
) -> dict[str, tuple[str | None, str, str, str]]:
    """id -> (title, text, kind, group) for the wanted ids found in the corpus files."""
    out: dict[str, tuple[str | None, str, str, str]] = {}
    f = {k: corpus / v for k, v in _FILES.items()}
    if not all(p.exists() for p in f.values()):
        return out
    prefixes = {i.split(":", 1)[0] for i in wanted if ":" in i}
    if any(":" not in i for i in wanted):
        for row in _jsonl_gz(f["cctv"]):
            if row["html_file"] in wanted:
                out[row["html_file"]] = (
                    row["title"], row["text"], "short", "cctv:" + _quarter(row.get("date"))
                )  # fmt: skip
    if "ru" in prefixes:
        for row in _jsonl_gz(f["telegram"]):
            key = f"ru:{row['channel']}:{row['message_id']}"
            if key in wanted:
                out[key] = (None, row["text"] or "", "short", f"tg:{row['channel']}")
    if "en" in prefixes:
        for row in _jsonl_gz(f["headlines"]):
            key = f"en:{row['source']}:{row['date']}:{row['title'][:60]}"
            if key in wanted and key not in out:
                out[key] = (row["title"], row["title"], "short", f"headline:{row['source']}")
    if "ru_kw" in prefixes:
        for path in (f["rt"], f["ng"]):
            for row in _jsonl_gz(path):
                key = f"ru_kw:{row['url']}"
                if key in wanted:
                    out[key] = (row["title"], row["text"] or "", "full", row["source"])
    if "allsides" in prefixes:
        for row in _jsonl_gz(f["allsides"]):
            key = f"allsides:{row['id']}"
            if key in wanted:
                out[key] = (row["title"], row["text"] or "", "full", f"allsides:{row['source']}")
    if "ukrmedia" in prefixes:
        for row in _jsonl_gz(f["ukrmedia"]):
            key = f"ukrmedia:{row['url']}"
            if key in wanted:
                out[key] = (row["title"], row["text"] or "", "full", f"outlet:{row['outlet']}")
    if "semeval" in prefixes:
        for row in _jsonl_gz(f["semeval"]):
            key = f"semeval:{row['lang']}:{row['id']}"
            if key in wanted:
                title = row.get("title")
                out[key] = (title, _without_title(row["text"] or "", title), "full", key)
    if "bsnlp" in prefixes:
        for row in _jsonl_gz(f["bsnlp"]):
            key = f"bsnlp:{row['doc_id']}"
            if key in wanted:
                title = row.get("title")
                text = _without_title(row["text"] or "", title)
                out[key] = (title, text, "full", _host(row.get("url")))
    return out


def load(splits: tuple[str, ...] = ("dev", "train"), corpus: Path = CORPUS) -> list[Labelled]:
    """The reviewed items of the given label files, joined with their texts, in file order."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for split in splits:
        for line in (corpus / LABEL_FILES[split].name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append((split, json.loads(line)))
    return join(rows, corpus)


def join(rows: list[tuple[str, dict[str, Any]]], corpus: Path = CORPUS) -> list[Labelled]:
    """Label rows (split, row) with their texts: the row's own `text`, else the corpus's.

    Raises LookupError naming an id whose text is nowhere.
    """
    need = {r["id"] for _, r in rows if not isinstance(r.get("text"), str)}
    texts = corpus_texts(need, corpus) if need else {}
    items: list[Labelled] = []
    for split, r in rows:
        if isinstance(r.get("text"), str):
            title, text = r.get("full_title") or r.get("title"), r["text"]
            kind = "full" if len(text) >= 3000 else "short"
            group = str(r.get("group") or r.get("source") or r["id"])
        elif r["id"] in texts:
            title, text, kind, group = texts[r["id"]]
        else:
            raise LookupError(
                f"no text for labelled id {r['id']!r} (not in the row, not in the corpus)"
            )
        items.append(
            Labelled(
                id=r["id"], lang=r["lang"], title=title, text=text, relevance=r["relevance"],
                topics=tuple(r.get("topics") or ()), stance=r.get("stance"), kind=kind,
                group=group, split=split,
            )
        )  # fmt: skip
    return items


def _stable(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def folds(items: list[Labelled], k: int = 5) -> list[int]:
    """The fold (0..k-1) of every item; all items of one group share a fold.

    Groups are placed largest first, each into the fold holding the fewest items of its language
    group so far (ties: the fewest relevant items, then the fold number), so each fold gets a
    share of every language and of the relevant items. Deterministic: no random state.
    """
    by_group: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        by_group.setdefault(item.group, []).append(n)
    fill: dict[tuple[str, int], int] = {}
    fill_rel: dict[tuple[str, int], int] = {}
    assigned = [0] * len(items)
    order = sorted(by_group, key=lambda g: (-len(by_group[g]), _stable(g)))
    for g in order:
        members = by_group[g]
        lg = items[members[0]].langgroup
        n_rel = sum(items[m].relevant for m in members)
        best = min(range(k), key=lambda f: (fill.get((lg, f), 0), fill_rel.get((lg, f), 0), f))
        fill[(lg, best)] = fill.get((lg, best), 0) + len(members)
        fill_rel[(lg, best)] = fill_rel.get((lg, best), 0) + n_rel
        for m in members:
            assigned[m] = best
    return assigned
