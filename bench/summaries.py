"""Summary quality: ROUGE F1 of our extractive summaries against Lead-k, on ../shared/eval.

English (250 CNN/Daily Mail stories): our 3-sentence summary against Lead-3.
Russian (30 RIA stories, headline references): our 1-sentence summary against Lead-1.
Lead-k takes the first k sentences of the raw text, split by a plain regex, with no
cleaning. Both sides get the same input: HTML tags stripped and entities unescaped.
Tokens are ``\\w+`` lower-cased (Cyrillic kept); "plain" scores use them as they are,
"stemmed" scores pass them through the Snowball stemmer of bot.text. Also reported: the
share of summary sentences found verbatim in the source (whitespace runs compared as one
space) and the mean time per summary.

Usage: python bench/summaries.py [--eval-dir ../shared/eval]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rouge_score import rouge_scorer

from bot.sentences import split_sentences
from bot.summarize import ELLIPSIS, summarize
from bot.text import stem

_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_TOKEN = re.compile(r"\w+")
_BLOCK_TAG = re.compile(r"<\s*/?\s*(?:p|br|div|li|h[1-6]|tr|blockquote)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_PLAIN_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")
_README_DATELINE = re.compile(
    r"^\s*[^.]{0,80}?[—–-]\s*(?:риа новости|р-спорт)[^.]{0,60}\.\s*", re.I
)


@dataclass(frozen=True)
class _Tokenizer:
    """rouge-score tokenizer: ``\\w+`` lower-cased, optionally Snowball-stemmed."""

    stemmed: bool

    def tokenize(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.lower())
        return [stem(token) for token in tokens] if self.stemmed else tokens


@dataclass(frozen=True)
class _Item:
    id: str
    lang: str
    article: str
    reference: str


def _load(path: Path) -> list[_Item]:
    items = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            article = _strip_html(row["article"])
            items.append(_Item(row["id"], row["lang"], article, _strip_html(row["reference"])))
    return items


def _strip_html(text: str) -> str:
    """Tags out (block tags become line breaks), entities unescaped."""
    text = _TAG.sub("", _BLOCK_TAG.sub("\n", text))
    return html.unescape(text).strip()


def _lead(text: str, count: int) -> str:
    """The first ``count`` sentences by a plain regex splitter, on the raw text."""
    sentences = [s for s in _PLAIN_SENTENCE_END.split(_SPACE.sub(" ", text)) if s.strip()]
    return " ".join(sentences[:count])


def _scores(pairs: list[tuple[str, str]], stemmed: bool) -> dict[str, float]:
    scorer = rouge_scorer.RougeScorer(list(_ROUGE_TYPES), tokenizer=_Tokenizer(stemmed))
    totals = {kind: 0.0 for kind in _ROUGE_TYPES}
    for summary, reference in pairs:
        result = scorer.score(reference, summary)
        for kind in _ROUGE_TYPES:
            totals[kind] += result[kind].fmeasure
    return {kind: round(100 * total / len(pairs), 2) for kind, total in totals.items()}


def _verbatim(items: list[_Item], summaries: list[str]) -> tuple[int, int]:
    """Summary sentences found in their source, whitespace runs compared as one space."""
    found = total = 0
    for item, summary in zip(items, summaries, strict=True):
        source = _SPACE.sub(" ", item.article)
        for sentence in split_sentences(summary, item.lang):
            total += 1
            found += _SPACE.sub(" ", sentence.removesuffix(ELLIPSIS)) in source
    return found, total


def _run(items: list[_Item], sentences: int) -> dict[str, Any]:
    started = time.perf_counter()
    ours = [
        summarize("", item.article, item.lang, max_sentences=sentences, max_chars=100_000)
        for item in items
    ]
    elapsed = time.perf_counter() - started
    leads = [_lead(item.article, sentences) for item in items]
    found, total = _verbatim(items, ours)
    result: dict[str, Any] = {"stories": len(items), "k": sentences}
    for stemmed in (False, True):
        name = "stemmed" if stemmed else "plain"
        result[f"ours_{name}"] = _scores(
            [(s, i.reference) for s, i in zip(ours, items, strict=True)], stemmed
        )
        result[f"lead_{name}"] = _scores(
            [(s, i.reference) for s, i in zip(leads, items, strict=True)], stemmed
        )
    if sentences == 1:  # the eval README's stronger baseline: dateline cut off first
        stripped = [_lead(_README_DATELINE.sub("", item.article, count=1), 1) for item in items]
        result["lead_dateline_stripped_plain"] = _scores(
            [(s, i.reference) for s, i in zip(stripped, items, strict=True)], False
        )
    result["verbatim_share"] = round(found / total, 4) if total else None
    result["empty_summaries"] = sum(not summary for summary in ours)
    result["same_as_lead"] = sum(
        _SPACE.sub(" ", s) == _SPACE.sub(" ", lead) for s, lead in zip(ours, leads, strict=True)
    )
    result["ms_per_story"] = round(1000 * elapsed / len(items), 3)
    result["mean_chars"] = round(statistics.mean(len(s) for s in ours), 1)
    return result


def _timing(items: list[_Item]) -> dict[str, float]:
    """Mean milliseconds of the default summary (2 sentences, 300 characters), best of 3."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for item in items:
            summarize("", item.article, item.lang)
        runs.append(time.perf_counter() - started)
    return {"default_ms_per_story": round(1000 * min(runs) / len(items), 3)}


def main() -> None:
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--eval-dir", type=Path, default=default)
    args = parser.parse_args()
    english = _load(args.eval_dir / "en_cnndm_frank_250.jsonl")
    russian = _load(args.eval_dir / "ru_ria_headlines_30.jsonl")
    summarize("warm", "Warm up the splitters. Then measure.", "en")
    summarize("прогрев", "Прогрев. Потом замер.", "ru")
    report = {
        "tokenizer": "\\w+ lower-cased; plain = no stemming, stemmed = Snowball en/ru",
        "en": _run(english, 3) | _timing(english),
        "ru": _run(russian, 1) | _timing(russian),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
