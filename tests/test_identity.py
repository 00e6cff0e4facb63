"""Identity keys: what makes two URLs the same document, and what must keep them apart."""

from __future__ import annotations

import pytest

from extractors.identity import canonical_url, doc_id_for


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://news.example.cn/a.htm?nid=123", "http://news.example.cn/a.htm?nid=124"),
        ("https://example.ru/view.php?docid=5", "https://example.ru/view.php?docid=6"),
        ("https://example.com/show?newsid=1&sid=9", "https://example.com/show?newsid=2&sid=9"),
        ("https://example.com/index.php?mod=article&id=5", "https://example.com/index.php?id=5"),
    ],
)
def test_parameters_that_name_the_article_keep_articles_apart(first: str, second: str) -> None:
    assert canonical_url(first) != canonical_url(second)
    assert doc_id_for(canonical_url(first)) != doc_id_for(canonical_url(second))


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("http://news.example.cn/a.htm?nid=123&utm_source=rss&utm_medium=feed",
         "https://news.example.cn/a.htm?nid=123"),
        ("https://example.com/p?fbclid=1&sid=4&gclid=3&spm=a.b.c&from=groupmessage",
         "https://example.com/p?sid=4"),
        ("HTTP://Example.COM:80/a/b?b=2&a=1#comments", "https://example.com/a/b?a=1&b=2"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com/story.html#top", "https://example.com/story.html"),
    ],
)  # fmt: skip
def test_trackers_fragments_order_and_scheme_do_not_make_a_new_document(
    variant: str, canonical: str
) -> None:
    assert canonical_url(variant) == canonical
