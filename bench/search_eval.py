"""Search ranking on the labelled corpus: does stemming help? (average precision per query)

    .venv/bin/python bench/search_eval.py

The hand-labelled items of ../shared/corpus (labels_dev.jsonl + labels_train.jsonl) whose text
is at hand (Russian Telegram posts, English headlines, CCTV stories) are indexed with the same
tokenisation `crwatch search` uses, once per stemmer setting. Queries about China–Russia
relations are asked in each language; an item is relevant when labelled `core` or `related`.
For each query the average precision over the whole ranking (AP: 1.0 = every relevant item
ranked above every other) and the relevant items found at all are printed, per setting.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from warehouse import search_index  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
QUERIES = {
    "ru": ["Россия Китай", "российско-китайские отношения", "Путин Си Цзиньпин", "Москва Пекин",
           "Китай", "сотрудничество России и Китая"],
    "en": ["China Russia", "Russia China relations", "Putin Xi", "Moscow Beijing", "Chinese"],
    "zh": ["中俄", "中俄关系", "普京", "俄罗斯", "中俄合作"],
}  # fmt: skip
SETTINGS = {"no stemming": (), "Russian Snowball": ("russian",),
            "Russian + English Snowball": ("russian", "english")}  # fmt: skip


def load_items() -> list[tuple[str, str, str, bool]]:
    """(id, lang, text, relevant) of the labelled items whose text the corpus holds."""
    labels: dict[str, tuple[str, bool, str]] = {}
    for name in ("labels_dev.jsonl", "labels_train.jsonl"):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            relevant = row["relevance"] in ("core", "related")
            labels[row["id"]] = (row["lang"], relevant, row.get("title") or "")
    items = []
    with gzip.open(CORPUS / "news" / "ru_telegram" / "posts.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            key = f"ru:{row['channel']}:{row['message_id']}"
            if key in labels:
                items.append((key, "ru", row["text"] or "", labels[key][1]))
    with gzip.open(CORPUS / "news" / "cctv_zh" / "stories.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            if row["html_file"] in labels:
                text = f"{row['title']}\n{row['text']}"
                items.append((row["html_file"], "zh", text, labels[row["html_file"]][1]))
    for key, (_, relevant, title) in labels.items():
        if key.startswith("en:"):
            items.append((key, "en", title, relevant))
    return items


def average_precision(ranked: list[str], relevant: set[str]) -> float:
    """Mean of precision at each relevant item's rank (unfound relevant items count 0)."""
    found, total = 0, 0.0
    for rank, doc_id in enumerate(ranked, start=1):
        if doc_id in relevant:
            found += 1
            total += found / rank
    return total / len(relevant) if relevant else 0.0


def main() -> None:
    """Index the labelled items per stemmer setting and print AP per query."""
    items = load_items()
    print(f"{len(items)} labelled items: " + ", ".join(
        f"{lang} {sum(1 for i in items if i[1] == lang)} "
        f"({sum(1 for i in items if i[1] == lang and i[3])} relevant)" for lang in QUERIES
    ))  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    for setting, stemmers in SETTINGS.items():
        search_index.STEMMERS = stemmers
        with tempfile.TemporaryDirectory() as tmp:
            store = search_index.SearchIndex(Path(tmp))
            _, index = store.create()
            writer = index.writer(50_000_000, 1)
            for doc_id, lang, text, _ in items:
                writer.add_document(search_index.document(doc_id, lang, "", text))
            writer.commit()
            writer.wait_merging_threads()
            index.reload()
            results[setting] = {}
            for lang, queries in QUERIES.items():
                relevant = {i[0] for i in items if i[1] == lang and i[3]}
                for text in queries:
                    query, _ = search_index.build_query(index, text, lang)
                    hits = store.search(index, query, len(items)) if query else []
                    ranked = [h.doc_id for h in hits]
                    ap = average_precision(ranked, relevant)
                    results[setting][text] = ap
                    found = len(relevant & set(ranked))
                    print(f"{setting:<28} {lang} {text!r:<36} AP {ap:.3f}  relevant found "
                          f"{found}/{len(relevant)}, hits {len(ranked)}")  # fmt: skip
    print()
    for setting, scores in results.items():
        by_lang = {
            lang: statistics.mean(scores[q] for q in queries) for lang, queries in QUERIES.items()
        }
        print(f"{setting:<28} mean AP " + "  ".join(f"{k} {v:.3f}" for k, v in by_lang.items()))


if __name__ == "__main__":
    main()
