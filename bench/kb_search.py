"""Knowledge base search: full-text (FTS5 / GIN tsvector) against a LIKE scan floor.

    .venv/bin/python bench/kb_search.py                      # SQLite file in a temp dir
    .venv/bin/python bench/kb_search.py --url postgresql+psycopg://postgres@127.0.0.1:5432/kb_bench
    .venv/bin/python bench/kb_search.py --articles 5000 --queries 300 --vocabulary 20000

Builds a database migrated to head (``hub.migrate.upgrade``: the real schema, triggers
and indexes), writes ``--articles`` articles through ``do_create_article`` (so
``search_text`` and the index are what the product writes; words drawn with a Zipf law over
``--vocabulary`` words, as in real text), then times ``crm_core.services.kb.search`` for
keyword queries (all words) and ticket-like suggestion queries (any word), and the same
keyword queries as a ``LIKE '%word%'`` scan over ``search_text`` returning every match
(the floor: what ranking would have to read without the index). Every full-text hit is
checked to contain its words.

Prints one JSON line. Exit status 0 when the keyword p95 beats the scan's p95 and is under
``--goal-ms``; 1 otherwise; 2 when an answer is wrong.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm_core.models.kb import KbArticle  # noqa: E402
from crm_core.services import kb  # noqa: E402
from hub.migrate import upgrade  # noqa: E402

_VOCABULARY = (
    "router modem firmware reboot signal wifi cable printer paper toner scanner driver "
    "invoice refund billing contract warranty washer dryer pump filter drain motor belt "
    "display screen battery charger adapter fuse switch valve sensor thermostat boiler "
    "drukarka pralka zmywarka pompa filtr bateria ladowarka kabel faktura gwarancja "
    "пральна насос фільтр батарея кабель рахунок гарантія"
)
WORDS = _VOCABULARY.split()
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sta",
    "po",
    "vi",
    "de",
    "ra",
    "zo",
    "ku",
    "te",
    "bri",
    "fla",
    "gor",
    "nal",
    "wex",
    "dum",
]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """The domain words first, then made-up words: a text's words follow a Zipf law over
    this list, as real prose does (a few very common words, a long tail of rare ones)."""
    made: dict[str, None] = dict.fromkeys(WORDS)
    while len(made) < size:
        made.setdefault("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))), None)
    return list(made)


def zipf_words(rng: random.Random, vocab: list[str], weights: list[float], n: int) -> str:
    return " ".join(rng.choices(vocab, weights=weights, k=n))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def build(
    session: Session, n: int, rng: random.Random, vocab: list[str], weights: list[float]
) -> None:
    for i in range(n):
        body = zipf_words(rng, vocab, weights, rng.randint(50, 150))
        title = zipf_words(rng, vocab, weights, 4) + f" {i}"
        keywords = zipf_words(rng, vocab, weights, 3).split()
        kb.do_create_article(session, title=title, body=body, keywords=keywords)
        if i % 500 == 499:
            session.commit()
            print(f"built {i + 1}", file=sys.stderr)
    session.commit()


def like_scan(session: Session, terms: list[str]) -> list[int]:
    """Every article whose text contains all terms: what ranking the best ten would need
    to read without an index."""
    stmt = select(KbArticle.id)
    for term in terms:
        stmt = stmt.where(KbArticle.search_text.like(f"%{term}%"))
    return list(session.scalars(stmt))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="")
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--goal-ms", type=float, default=50.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{tmp.name}/kb.sqlite3"
    if url.startswith("postgresql"):
        admin = create_engine(
            make_url(url).set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
        )
        name = make_url(url).database
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(url)
    engine = create_engine(url)
    wrong = 0
    with Session(engine) as session:
        started = time.perf_counter()
        vocab = vocabulary(rng, args.vocabulary)
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(vocab))]
        build(session, args.articles, rng, vocab, weights)
        build_s = time.perf_counter() - started
        if engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE kb_articles"))
            session.commit()
        keyword_ms: list[float] = []
        suggest_ms: list[float] = []
        scan_ms: list[float] = []
        for _ in range(args.queries):
            # Search terms are neither stop words nor hapaxes: ranks 20..2000.
            terms = kb.query_words(" ".join(rng.sample(vocab[20:2000], 2)))
            t0 = time.perf_counter()
            found = kb.search(session, terms, match_all=True, limit=10)
            keyword_ms.append((time.perf_counter() - t0) * 1000)
            for article, _score in found:
                if not all(
                    any(w.startswith(t) for w in article.search_text.split()) for t in terms
                ):
                    wrong += 1
            t0 = time.perf_counter()
            like_scan(session, terms)
            scan_ms.append((time.perf_counter() - t0) * 1000)
            ticket = zipf_words(rng, vocab, weights, 40)
            t0 = time.perf_counter()
            kb.search(
                session,
                kb.query_words(ticket, drop_common=True, limit=30),
                match_all=False,
                prefix=False,
                limit=5,
            )
            suggest_ms.append((time.perf_counter() - t0) * 1000)
    engine.dispose()
    result: dict[str, Any] = {
        "bench": "kb_search",
        "backend": make_url(url).get_backend_name(),
        "articles": args.articles,
        "queries": args.queries,
        "build_s": round(build_s, 1),
        "keyword_p50_ms": round(statistics.median(keyword_ms), 2),
        "keyword_p95_ms": round(percentile(keyword_ms, 95), 2),
        "suggest_p50_ms": round(statistics.median(suggest_ms), 2),
        "suggest_p95_ms": round(percentile(suggest_ms, 95), 2),
        "floor_like_scan_p50_ms": round(statistics.median(scan_ms), 2),
        "floor_like_scan_p95_ms": round(percentile(scan_ms, 95), 2),
        "wrong_answers": wrong,
        "goal_ms": args.goal_ms,
    }
    met = (
        result["keyword_p95_ms"] < result["floor_like_scan_p95_ms"]
        and result["keyword_p95_ms"] < args.goal_ms
    )
    result["goal_met"] = met
    print(json.dumps(result))
    if wrong:
        return 2
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
