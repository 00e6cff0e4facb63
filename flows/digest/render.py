"""A `DigestContent` rendered to the email: subject, plain text, HTML (jinja2 with
autoescaping, page HTML sanitised by nh3) and the two PNG charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
import nh3

from extractors.urls import safe_http_url as safe_url  # the one URL check, under its old name
from flows.digest import charts
from flows.digest.content import DigestContent, plain
from flows.digest.mail import (
    InlineImage,
)
from flows.errors import DigestError as DigestError  # defined in flows.errors; kept here

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class RenderedDigest:
    """The digest as subject, text, HTML (with cid: images) and the images themselves."""

    subject: str
    text: str
    html: str
    images: list[InlineImage]

    def preview_html(self, stem: str) -> str:
        """The HTML with cid: references pointing at PNG files written beside it."""
        html = self.html
        for image in self.images:
            html = html.replace(f"cid:{image.cid}", f"{stem}.{image.filename}")
        return html


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["plain"] = plain
    env.filters["badge_topic"] = lambda t: str(t).replace("_", " ")
    return env


_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "div", "h1", "h2", "h3", "img", "p", "span", "strong",
    "table", "tbody", "td", "th", "thead", "tr", "em", "small",
}  # fmt: skip

_ALLOWED_ATTRIBUTES = {
    "*": {"style", "align", "width", "height", "valign", "role", "class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "border"},
    "table": {"cellpadding", "cellspacing", "border", "bgcolor"},
    "td": {"bgcolor", "colspan"},
}  # fmt: skip

_BODY_START, _BODY_END = "<!--crwatch:body-->", "<!--/crwatch:body-->"


def sanitise_body(html: str) -> str:
    """Second line of defence: the body through nh3 with our tags, attributes and schemes only."""
    head, sep, rest = html.partition(_BODY_START)
    body, sep2, tail = rest.partition(_BODY_END)
    if not sep or not sep2:
        raise DigestError("the HTML template lost its body markers")
    clean = nh3.clean(
        body, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "cid"}, link_rel="noopener noreferrer",
        strip_comments=True,
    )  # fmt: skip
    return head + clean + tail


def render_digest(content: DigestContent, config_dir: Path | None = None) -> RenderedDigest:
    """Subject, plain text, HTML and the two charts of the digest."""
    key = content.iso_week
    images = [
        InlineImage(
            f"topic-mix.{key}@crwatch",
            charts.topic_mix_chart(content.topic_weeks, content.topic_shares, config_dir),
            "topic-mix.png",
        ),
        InlineImage(
            f"stance-trend.{key}@crwatch",
            charts.stance_trend_chart(content.stance_weeks, content.stance_shares, config_dir),
            "stance-trend.png",
        ),
    ]
    stories = content.headline[0].value if content.headline else 0
    reports = content.headline[2].value if len(content.headline) > 2 else 0
    subject = (
        f"crwatch digest {key}: {stories} China–Russia "
        f"{'story' if stories == 1 else 'stories'}, {reports} "
        f"{'report' if reports == 1 else 'reports'}"
    )
    if content.stories:
        # A page title is not trusted in a header: "=?" could start an encoded word that
        # decodes to a line break, so it is broken up (configured values are refused instead).
        subject += f" — top: {plain(content.stories[0].title, 80).replace('=?', '= ?')}"
    env = _environment()
    values = {
        "c": content,
        "subject": subject,
        "period": f"{content.week_start:%d %b} – {content.week_end:%d %b %Y}",
        "topic_cid": images[0].cid,
        "stance_cid": images[1].cid,
    }
    html = sanitise_body(env.get_template("digest.html.j2").render(values))
    text = env.get_template("digest.txt.j2").render(values)
    return RenderedDigest(plain(subject, 200), text, html, images)
