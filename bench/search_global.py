"""Global search on PostgreSQL at a million documents: search latency under concurrency,
reindex rate, and indexing lag after a commit.

    .venv/bin/python -m bench.search_global [--docs 1000000] [--clients 8] [--seconds 20]
        [--db fireside_bench_search1m] [--full-reindex] [--reindex-kinds clinician,drug]
        [--workers 2] [--lag-samples 40] [--no-lag]

1. Load: the database ``--db`` is created and migrated if needed, then filled through the
   real reindex path (``search.reindex.reindex``) from a synthetic corpus plugin: patients
   (private), clinicians, drugs and articles, their words drawn from real name, drug and
   condition lists and from a Zipf-distributed vocabulary of 30,000 words, so that common
   and rare words both exist. The database is kept for reruns (drop it by hand); a rerun
   loads only when documents are missing.
2. Reindex: ``--reindex-kinds`` rebuilt in place (upserts over existing rows, then the purge
   of stale ones), or everything with ``--full-reindex``; docs/s.
3. Search: the app under gunicorn (``--workers``, authorization off: every document is
   visible, the most work per query), ``--clients`` keep-alive clients sending
   ``GET /api/search`` with a mix of queries (names, two words, prefixes as typed,
   misspellings, phrases, article words) for ``--seconds``; p50/p95/p99, requests/s, and
   p95 per kind of query.
4. Lag: the server and ``manage.py worker`` share the Redis broker
   ``redis://127.0.0.1:6379/<--redis-db>``; each sample creates a Practitioner and polls the
   search until it is found; p50/p95 of the time from the write's 201 to the first hit.

Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from bench import harness
from bench.harness import REPO_ROOT, log, server_env
from bench.loadgen import RawClient, ThreadResult, run_clients
from bench.search import SearchServer
from platform_core import hookimpl
from platform_core.app import build_core
from platform_core.config import load_settings
from platform_core.plugin_api import DocumentSource, SearchDocument

DEFAULT_DB = "fireside_bench_search1m"
TARGETS = {"search_p95_ms": 50.0, "reindex_docs_per_s": 2000.0, "lag_p95_s": 1.0}


def _words(text: str) -> list[str]:
    return text.split()


SHARES = {"person": 0.40, "clinician": 0.10, "drug": 0.05, "article": 0.45}

FIRST = _words(
    "james mary john patricia robert jennifer michael linda william elizabeth david "
    "barbara richard susan joseph jessica thomas sarah charles karen daniel nancy matthew "
    "lisa anthony betty mark margaret donald sandra steven ashley paul kimberly andrew "
    "emily joshua donna kenneth michelle kevin carol brian amanda george melissa timothy "
    "deborah ronald stephanie amara chidi wanjiru kofi aisha fatima omar yusuf mei wei "
    "hiroshi yuki priya arjun ravi ananya sofia mateo lucia diego camila jose maria ana "
    "luis carlos olga ivan anya zoe chloe"
)
LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright "
    "scott torres nguyen hill flores green adams nelson baker hall rivera campbell "
    "mitchell carter roberts okafor mensah otieno kamau mwangi banda diallo traore "
    "nakamura tanaka suzuki sato kim park chen wang li zhang singh patel sharma gupta "
    "kumar ivanova petrov novak kowalski muller schmidt"
)
CITIES = _words(
    "springfield nairobi lagos accra kampala mombasa kisumu nakuru eldoret london paris "
    "lyon madrid lisbon berlin munich delhi mumbai pune tokyo osaka seoul boston denver "
    "austin"
)
SPECIALTIES = _words(
    "cardiology dermatology paediatrics neurology oncology psychiatry radiology urology "
    "nephrology gastroenterology endocrinology rheumatology ophthalmology orthopaedics "
    "obstetrics gynaecology anaesthesia haematology pulmonology nutrition"
)
DRUGS = _words(
    "paracetamol ibuprofen amoxicillin azithromycin metformin insulin atorvastatin "
    "amlodipine lisinopril losartan omeprazole salbutamol prednisolone ciprofloxacin "
    "doxycycline metronidazole fluconazole artemether lumefantrine cotrimoxazole zinc "
    "ferrous folic levothyroxine warfarin heparin clopidogrel aspirin diclofenac tramadol "
    "morphine cetirizine loratadine ranitidine furosemide spironolactone "
    "hydrochlorothiazide"
)
FORMS = _words("tablet capsule syrup suspension injection cream ointment drops inhaler sachet")
CONDITIONS = _words(
    "asthma diabetes hypertension malaria pneumonia tuberculosis anaemia eczema migraine "
    "epilepsy arthritis bronchitis sinusitis otitis gastritis dermatitis obesity "
    "depression anxiety insomnia measles mumps rubella varicella cholera typhoid dengue "
    "influenza covid"
)
SYLLABLES = _words("ka ri to ne ma lo sa vi de pu ru mi ta ko be la zo ni he fu ga yo che dra")


class Corpus:
    """``total`` deterministic documents: document ``i`` of a kind is always the same."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.counts = {k: int(total * share) for k, share in SHARES.items()}
        self.counts["article"] += total - sum(self.counts.values())
        pseudo = [
            "".join(p) for p in itertools.islice(itertools.product(SYLLABLES, repeat=4), 30_000)
        ]
        real = CONDITIONS + DRUGS + SPECIALTIES + CITIES
        self.vocabulary = real + pseudo
        weights = [1.0 / (rank + 1) ** 1.07 for rank in range(len(self.vocabulary))]
        self.cumulative = list(itertools.accumulate(weights))

    @property
    def kinds(self) -> list[str]:
        return list(self.counts)

    def zipf(self, rng: random.Random, n: int) -> list[str]:
        top = self.cumulative[-1]
        return [
            self.vocabulary[bisect.bisect(self.cumulative, rng.random() * top)] for _ in range(n)
        ]

    def documents(self, kind: str) -> Iterator[SearchDocument]:
        make = getattr(self, f"_{kind}")
        for i in range(self.counts[kind]):
            yield make(i, random.Random(f"{kind}{i}"))

    def _person(self, i: int, rng: random.Random) -> SearchDocument:
        name = f"{rng.choice(FIRST).title()} {rng.choice(LAST).title()}"
        body = (
            f"Born {rng.randint(1930, 2023)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02} in "
            f"{rng.choice(CITIES).title()}. {', '.join(rng.sample(CONDITIONS, 2))}. "
            f"{rng.choice(DRUGS)} {rng.choice(FORMS)}."
        )
        return SearchDocument(
            "person", f"p{i}", name, body, (f"MRN{i:08}",), f"Patient/p{i}", f"p{i}"
        )

    def _clinician(self, i: int, rng: random.Random) -> SearchDocument:
        title = f"Dr {rng.choice(FIRST).title()} {rng.choice(LAST).title()}"
        body = (
            f"{', '.join(rng.sample(SPECIALTIES, 2))} in {rng.choice(CITIES).title()}. "
            + " ".join(self.zipf(rng, 12))
        )
        return SearchDocument("clinician", f"c{i}", title, body, url=f"Practitioner/c{i}")

    def _drug(self, i: int, rng: random.Random) -> SearchDocument:
        strength = rng.choice((5, 10, 20, 50, 100, 250, 500))
        title = f"{rng.choice(DRUGS).title()} {strength} mg {rng.choice(FORMS)}"
        body = f"For {', '.join(rng.sample(CONDITIONS, 2))}. " + " ".join(self.zipf(rng, 12))
        return SearchDocument("drug", f"d{i}", title, body, url=f"Medication/d{i}")

    def _article(self, i: int, rng: random.Random) -> SearchDocument:
        title = " ".join([rng.choice(CONDITIONS), *self.zipf(rng, rng.randint(3, 6))]).capitalize()
        body = " ".join(
            [*self.zipf(rng, rng.randint(40, 110)), rng.choice(DRUGS), rng.choice(CONDITIONS)]
        )
        return SearchDocument("article", f"a{i}", title, body, url=f"/api/cms/articles/a{i}")


class CorpusPlugin:
    """The synthetic kinds, as a plugin's document sources (``load_all``)."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    @hookimpl
    def register_search_documents(self) -> list[DocumentSource]:
        return [
            DocumentSource(kind=k, load_all=lambda core, k=k: self.corpus.documents(k))
            for k in self.corpus.kinds
        ]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return (
        word[:i] + word[i + 1 :]
        if rng.random() < 0.5
        else word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    )


def pick_query(corpus: Corpus, rng: random.Random) -> tuple[str, str]:
    """(shape, text) of one realistic query."""
    shape = rng.choices(
        ("name", "full_name", "prefix", "drug_form", "typo", "phrase", "article"),
        (20, 15, 25, 10, 10, 5, 15),
    )[0]
    if shape == "name":
        return shape, rng.choice(LAST)
    if shape == "full_name":
        return shape, f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if shape == "prefix":
        word = rng.choice(LAST + DRUGS)
        return shape, word[: rng.randint(3, max(3, len(word) - 1))]
    if shape == "drug_form":
        return shape, f"{rng.choice(DRUGS)} {rng.choice(FORMS)}"
    if shape == "typo":
        return shape, _typo(rng.choice([w for w in LAST + DRUGS if len(w) >= 5]), rng)
    if shape == "phrase":
        return shape, f'"{rng.choice(DRUGS)} 500 mg"'
    return shape, " ".join(corpus.zipf(rng, rng.randint(1, 2)))


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _database(name: str) -> str:
    url = sa.make_url(os.environ.get("FIRESIDE_BENCH_PG_URL", harness.DEFAULT_PG)).set(
        database=name
    )
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            log(f"created database {name}")
    admin.dispose()
    text = url.render_as_string(hide_password=False)
    harness.migrate(text)
    return text


def load_and_reindex(url: str, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """Phases 1 and 2, through ``search.reindex.reindex``."""
    from search.reindex import reindex
    from search.service import service_of

    settings = load_settings({"database_url": url, "log_level": "WARNING", "jobs_broker_url": ""})
    core = build_core(settings, plugins=[CorpusPlugin(corpus)])
    out: dict[str, Any] = {}
    count = "SELECT count(*) FROM search_document"
    try:
        service = service_of(core)
        with core.db.connect() as conn:
            present = conn.execute(sa.text(count)).scalar_one()
        if present < corpus.total or args.full_reindex:
            log(f"{present} documents present: full reindex of {corpus.total}")
            out["full_reindex"] = reindex(service, None, progress=log).as_dict()
        kinds = [k for k in args.reindex_kinds.split(",") if k]
        if kinds:
            log(f"reindexing {', '.join(kinds)} in place")
            out["reindex"] = reindex(service, kinds, progress=log).as_dict()
        with core.db.connect() as conn:
            out["documents"] = conn.execute(sa.text(count)).scalar_one()
            out["vocabulary_words"] = conn.execute(
                sa.text("SELECT count(*) FROM search_term")
            ).scalar_one()
            size = "SELECT pg_total_relation_size('search_document')"
            out["documents_table_mb"] = conn.execute(sa.text(size)).scalar_one() // 2**20
    finally:
        core.dispose()
    return out


def measure_search(port: int, corpus: Corpus, clients: int, seconds: float) -> dict[str, Any]:
    """Phase 3."""

    def client(index: int, http: Any, result: ThreadResult, stop_at: float) -> None:
        rng = random.Random(index)
        while time.perf_counter() < stop_at:
            shape, q = pick_query(corpus, rng)
            started = time.perf_counter()
            resp = http.request("GET", f"/api/search?q={quote(q)}&size=20")
            elapsed = time.perf_counter() - started
            result.latencies.append(elapsed)
            result.extra.append((shape, elapsed))
            if resp.status == 200:
                result.ok += 1
                result.items += json.loads(resp.body)["total"] > 0
            else:
                result.error(f"{resp.status} {q!r}: {resp.body[:300]!r}")

    warm = time.perf_counter() + min(5.0, seconds / 4)
    run_clients(clients, lambda: RawClient(port), lambda i, h, r: client(i + 100, h, r, warm))
    stop_at = time.perf_counter() + seconds
    run = run_clients(clients, lambda: RawClient(port), lambda i, h, r: client(i, h, r, stop_at))
    lat = [x * 1000 for x in run.latencies]
    shapes: dict[str, list[float]] = {}
    for shape, elapsed in (e for t in run.threads for e in t.extra):
        shapes.setdefault(shape, []).append(elapsed * 1000)
    return {
        "clients": clients,
        "requests": len(lat),
        "requests_per_s": round(len(lat) / run.wall_s, 1),
        "p50_ms": round(percentile(lat, 0.50), 2),
        "p95_ms": round(percentile(lat, 0.95), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "errors": run.errors,
        "error_samples": [s for t in run.threads for s in t.error_samples][:3],
        "queries_with_hits": round(run.items / max(run.ok, 1), 3),
        "p95_ms_by_shape": {k: round(percentile(v, 0.95), 2) for k, v in sorted(shapes.items())},
    }


def measure_lag(port: int, samples: int) -> dict[str, Any]:
    """Phase 4: create, then poll the search until the new document is found."""
    http = RawClient(port)
    lags: list[float] = []
    misses = 0
    try:
        for _ in range(samples):
            word = "lag" + uuid.uuid4().hex[:10]
            body = json.dumps({"resourceType": "Practitioner", "name": [{"family": word}]}).encode()
            resp = http.request("POST", "/fhir/Practitioner", body, "application/fhir+json")
            assert resp.status == 201, resp.body[:300]
            committed = time.perf_counter()
            while time.perf_counter() - committed < 10:
                found = http.request("GET", f"/api/search?q={word}&types=practitioner")
                if found.status == 200 and json.loads(found.body)["total"] == 1:
                    lags.append(time.perf_counter() - committed)
                    break
                time.sleep(0.005)
            else:
                misses += 1
    finally:
        http.close()
    return {
        "samples": samples,
        "p50_s": round(percentile(lags, 0.5), 3),
        "p95_s": round(percentile(lags, 0.95), 3),
        "max_s": round(max(lags, default=float("nan")), 3),
        "not_found_after_10s": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--full-reindex", action="store_true")
    parser.add_argument("--reindex-kinds", default="clinician,drug")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lag-samples", type=int, default=40)
    parser.add_argument("--no-lag", action="store_true")
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args(argv)

    corpus = Corpus(args.docs)
    url = _database(args.db)
    result: dict[str, Any] = {"database": args.db, "targets": TARGETS}
    result.update(load_and_reindex(url, corpus, args))
    broker = (
        {}
        if args.no_lag
        else {"FIRESIDE_JOBS_BROKER_URL": f"redis://127.0.0.1:6379/{args.redis_db}"}
    )
    server = SearchServer(workers=args.workers, db_name=args.db, reuse=True, extra_env=broker)
    with server:
        log(f"searching with {args.clients} clients for {args.seconds}s")
        result["search"] = measure_search(server.port, corpus, args.clients, args.seconds)
        if args.no_lag:
            result["lag"] = "skipped (--no-lag)"
        else:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=REPO_ROOT,
                env=server_env(url, server.port, broker),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                time.sleep(5)  # the worker connects to the broker
                result["lag"] = measure_lag(server.port, args.lag_samples)
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)
    rate = (result.get("reindex") or result.get("full_reindex") or {}).get("docs_per_s", 0)
    lag = result["lag"]
    result["meets_targets"] = {
        "search_p95": result["search"]["p95_ms"] <= TARGETS["search_p95_ms"],
        "reindex_rate": rate >= TARGETS["reindex_docs_per_s"],
        "lag_p95": isinstance(lag, dict) and lag["p95_s"] <= TARGETS["lag_p95_s"],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
