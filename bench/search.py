"""Search latency, throughput and query plans: ``python -m bench.search --patients 100000``.

On a scratch PostgreSQL database and a gunicorn server (as :mod:`bench.ingest`):

1. Loads ``--patients`` synthetic patients of about 10 resources each (a Patient with a
   varied, partly accented name and a birthDate spread over 90 years, 1-2 Encounters, 5-6
   Observations with one of eight LOINC codes, a Condition and a MedicationRequest) as
   transaction Bundles of ``--patients-per-bundle`` patients from ``--load-clients`` threads,
   in stages (``--stages 0.1,0.5,1``: 10%, 50% and 100% of the patients), waits until the
   global search's indexing jobs have caught up (``jobs_caught_up_after_s``), then runs
   ``VACUUM (ANALYZE)``. After each stage but the last it measures the throughput of
   ``Patient?name=`` and ``Patient?birthdate=`` searches, to show whether it stays flat as the
   tables grow.
2. After the last stage, from ``--clients`` threads for ``--seconds`` each: token searches
   (``Observation?code=system|code``, ``Patient?identifier=system|value``, ``Patient?_id=``),
   ``Patient?name=`` with 3-5 letter prefixes, date ranges (``Patient?birthdate=ge&lt`` over a
   year, ``Observation?date=ge&lt`` over a day), the chain ``Observation?subject:Patient.name=``,
   and deep paging (``next`` links of ``Observation?code=...&_count=20`` to page 100); then
   ``Observation?status=final&_summary=count`` from one client.
3. ``EXPLAIN (ANALYZE, BUFFERS)`` of one query of each kind, run with psycopg on the scratch
   database; the SQL is what the server runs (:func:`platform_core.fhir.search.sql.run_search`
   and ``count_matches``, captured and compiled with literal values). Any sequential scan of a
   ``fhir_ix_*`` table is flagged. Full plans go to ``bench/results/`` (git-ignored).

Prints ONE JSON object with every figure and how each target of the search issue fares.
``--keep-db NAME`` keeps the loaded database under that name; ``--reuse-db NAME`` queries it
again without loading. Otherwise the database is dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import orjson
import psycopg
from psycopg import sql as pgsql
from sqlalchemy.engine import make_url

from bench import harness, synthetic
from bench.harness import REPO_ROOT, BenchServer, ScratchDatabase, log
from bench.ingest import FHIR_JSON, outcome_text
from bench.loadgen import CLIENTS, Client, RunResult, ThreadResult, run_clients

RESULTS_DIR = REPO_ROOT / "bench" / "results"
LOAD_TIME_LIMIT_S = 3 * 3600.0
"""Loading stops (and the run fails) after this long, whatever the speed."""
REQUEST_TIMEOUT_S = 120.0
EXPLAIN_TIMEOUT_MS = 120_000

# --------------------------------------------------------------------------------------------
# Data

# fmt: off
FAMILY = (
    # English-speaking countries
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill",
    "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips",
    "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "Murphy", "Cook",
    "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey", "Bell", "Kelly", "Howard",
    "Ward", "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "James",
    "Hughes", "Price", "Sanders", "Myers", "Long", "Ross", "Foster", "Powell", "Jenkins",
    "Perry", "Russell", "Sullivan", "Fisher", "Henderson", "Coleman", "Patterson", "Jordan",
    "Graham", "Reynolds", "Hamilton", "Ford", "Gibson", "Wallace", "Woods", "Cole", "West",
    "Owens", "Marshall", "Harrison", "Ellis", "Gibbs", "O'Brien", "O'Connor", "McCarthy",
    "MacDonald", "Fitzgerald",
    # Spanish and Portuguese
    "García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez",
    "Ramírez", "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Cruz", "Morales", "Reyes",
    "Gutiérrez", "Ortiz", "Chávez", "Ramos", "Ruiz", "Álvarez", "Mendoza", "Vásquez",
    "Castillo", "Jiménez", "Moreno", "Romero", "Herrera", "Medina", "Aguilar", "Vargas",
    "Guzmán", "Muñoz", "Núñez", "Domínguez", "Fernández", "Suárez", "Peña", "Ibáñez",
    "Calderón", "Beltrán", "Gonçalves", "Conceição", "Araújo", "Magalhães", "Simões", "Brandão",
    "Assunção",
    # German, Nordic, Dutch
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
    "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
    "Jäger", "Köhler", "Groß", "Böhm", "Lorenz", "Johansson", "Andersson", "Karlsson",
    "Nilsson", "Eriksson", "Larsson", "Østergaard", "Sørensen", "Jørgensen", "Håkansson",
    "Åberg", "de Vries", "van Dijk", "Jansen", "Bakker", "Visser", "Smit", "de Jong",
    "van den Berg", "Mulder",
    # French and Italian
    "Dubois", "Lefèvre", "Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux", "David",
    "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine",
    "Rousseau", "Vincent", "Mercier", "Faure", "André", "Gérard", "Béranger", "Chevalier",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
    "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
    "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi",
    # Central and Eastern Europe
    "Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
    "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur",
    "Krawczyk", "Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý",
    "Horváth", "Nagy", "Kovács", "Tóth", "Szabó", "Varga", "Popescu", "Ionescu", "Ivanov",
    "Petrov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Lebedev", "Kozlov", "Novikov",
    "Morozov",
    # Asia, Africa, Middle East
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Wang", "Li",
    "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Kim", "Park", "Choi",
    "Jung", "Kang", "Tanaka", "Suzuki", "Takahashi", "Watanabe", "Itō", "Yamamoto", "Nakamura",
    "Kobayashi", "Satō", "Patel", "Shah", "Singh", "Kumar", "Sharma", "Gupta", "Reddy", "Iyer",
    "Okafor", "Adeyemi", "Okonkwo", "Mensah", "Osei", "Diallo", "Traoré", "Ndiaye", "Haddad",
    "Khalil", "Nasser", "Hassan", "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk",  # noqa: RUF001
)
# fmt: on
# fmt: off
GIVEN_F = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily",
    "Donna", "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie",
    "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley", "Anna",
    "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine", "Christine",
    "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather", "Diane", "Ruth",
    "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina", "Joan",
    "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria",
    "Sofía", "Lucía", "Valentina", "Camila", "Isabel", "Inés", "Mía", "Renée", "Zoë", "Chloé",
    "Léa", "Manon", "Camille", "Élodie", "Hélène", "Margaux", "Anaïs", "Noémie", "Béatrice",
    "Céline", "Giulia", "Chiara", "Francesca", "Aurora", "Greta", "Lena", "Jana", "Sophie",
    "Käthe", "Märta", "Åsa", "Ingrid", "Sigríður", "Björk", "Małgorzata", "Agnieszka", "Zofia",
    "Dorota", "Katarzyna", "Ágnes", "Zsófia", "Anh", "Lan", "Mai", "Thảo", "Yuki", "Sakura",
    "Mei", "Priya", "Ananya", "Aisha", "Fatima", "Amara", "Chiamaka", "Ayşe", "Elif", "Zeynep",
)
# fmt: on
# fmt: off
GIVEN_M = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
    "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
    "Edward", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan",
    "Stephen", "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory",
    "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron",
    "Henry", "Adam", "Peter", "Nathan", "Zachary", "Walter", "Kyle", "Harold", "Liam", "Noah",
    "Ethan", "Lucas", "Mason", "Logan", "Owen", "Leo", "Hugo", "Mateo", "José", "Jesús",
    "Andrés", "Joaquín", "Sebastián", "Martín", "Nicolás", "Tomás", "Ramón", "Raúl", "João",
    "Sérgio", "François", "Jérôme", "Étienne", "Rémi", "Théo", "Gaël", "Loïc", "Benoît",
    "Jürgen", "Jörg", "Björn", "Sören", "Günther", "Lukas", "Matthias", "Håkon", "Øystein",
    "Jiří", "Tomáš", "Paweł", "Michał", "Łukasz", "Wojciech", "Krzysztof", "Dmitri", "Sergei",
    "Ivan", "Mihai", "Ştefan", "Gábor", "Zoltán", "Minh", "Đức", "Tuấn", "Hiroshi", "Kenji",
    "Takumi", "Wei", "Jun", "Min-jun", "Arjun", "Rohan", "Vikram", "Omar", "Ahmed", "Yusuf",
    "Mehmet", "Emre", "Chidi", "Kwame", "Kofi",
)
# fmt: on

OBS_CODES: tuple[tuple[str, tuple[str, str, str, str, float, float, int]], ...] = (
    *(("vital-signs", v) for v in synthetic.VITALS[:6]),
    ("laboratory", synthetic.LABS[0]),
    ("laboratory", synthetic.LABS[3]),
)
"""Eight LOINC codes (category, (code, display, UCUM, unit, low, high, decimals))."""
LOINC_CODES = tuple(spec[0] for _cat, spec in OBS_CODES)
IDENTIFIER_SYSTEM = synthetic.MRN_SYSTEM
BIRTH_START = dt.date(1935, 1, 1)
BIRTH_DAYS = (dt.date(2025, 1, 1) - BIRTH_START).days  # 90 years
CARE_START = dt.datetime(2015, 1, 1, 7, 0)
CARE_DAYS = 3650


def _popularity(names: tuple[str, ...], salt: str) -> tuple[list[str], list[float]]:
    """The names in a seeded order with Zipf-like cumulative weights (rank ** -0.5): the most
    common name is about 30 times as frequent as the rarest, as with real surnames."""
    order = list(names)
    random.Random(salt).shuffle(order)
    weights = [(rank + 1) ** -0.5 for rank in range(len(order))]
    return order, list(itertools.accumulate(weights))


_FAMILY = _popularity(FAMILY, "family")
_GIVEN = {"female": _popularity(GIVEN_F, "given-f"), "male": _popularity(GIVEN_M, "given-m")}


def _pick(rng: random.Random, table: tuple[list[str], list[float]]) -> str:
    names, cumulative = table
    return rng.choices(names, cum_weights=cumulative)[0]


def patient_identifier(seed: int) -> str:
    """The MRN of patient ``seed`` (unique per seed)."""
    return f"S{seed:08d}"


def patient(seed: int, rng: random.Random) -> dict[str, Any]:
    """One Patient: MRN, one or two given names and a family name, gender, birthDate."""
    gender = rng.choice(("female", "male"))
    given = [_pick(rng, _GIVEN[gender])]
    if rng.random() < 0.4:
        given.append(_pick(rng, _GIVEN[gender]))
    city, state, postal = rng.choice(synthetic.CITIES)
    birth = BIRTH_START + dt.timedelta(days=rng.randrange(BIRTH_DAYS))
    return {
        "resourceType": "Patient",
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": synthetic.MRN_TYPE, "code": "MR"}]},
                "system": IDENTIFIER_SYSTEM,
                "value": patient_identifier(seed),
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": _pick(rng, _FAMILY), "given": given}],
        "gender": gender,
        "birthDate": birth.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randrange(1, 999)} {rng.choice(synthetic.STREETS)}"],
                "city": city,
                "state": state,
                "postalCode": postal,
                "country": "US",
            }
        ],
    }


def patient_entries(seed: int) -> list[dict[str, Any]]:
    """Transaction entries of one patient: Patient, 1-2 Encounters, 5-6 Observations, a
    Condition and a MedicationRequest (9-11 resources, 10 on average)."""
    rng = random.Random(f"search:{seed}")
    offset = rng.choice(synthetic.TZ_OFFSETS)
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> str:
        full_url = f"urn:uuid:{synthetic._uuid(rng)}"
        entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
        return full_url

    patient_url = add(patient(seed, rng))
    moment = CARE_START + dt.timedelta(days=rng.randrange(CARE_DAYS), minutes=rng.randrange(600))
    encounters: list[tuple[str, dt.datetime]] = []
    for _ in range(rng.choice((1, 2))):
        encounters.append((add(synthetic._encounter(rng, patient_url, moment, offset)), moment))
        moment += dt.timedelta(days=rng.randint(7, 120), minutes=rng.randint(0, 600))
    for _ in range(rng.choice((5, 6))):
        encounter_url, start = rng.choice(encounters)
        category, (code, display, ucum, unit, low, high, decimals) = rng.choice(OBS_CODES)
        when = synthetic._datetime(start + dt.timedelta(minutes=rng.randint(5, 30)), offset)
        obs = synthetic._observation(category, (code, display), patient_url, encounter_url, when)
        if rng.random() >= 0.96:
            obs["status"] = rng.choice(("amended", "preliminary"))
        value = synthetic._measure(rng, low, high, decimals)
        obs["valueQuantity"] = synthetic._quantity(value, unit, ucum)
        add(obs)
    encounter_url, start = encounters[0]
    add(synthetic._condition(rng, patient_url, encounter_url, start, offset))
    add(synthetic._medication_request(rng, patient_url, encounter_url, start, offset))
    return entries


def bundle(first_seed: int, count: int) -> dict[str, Any]:
    """A transaction Bundle of patients ``first_seed .. first_seed + count - 1``."""
    entries = [e for s in range(first_seed, first_seed + count) for e in patient_entries(s)]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


# --------------------------------------------------------------------------------------------
# Server and database


@dataclass
class SearchServer(BenchServer):
    """:class:`BenchServer` on a scratch database, or on a named one (``--keep-db`` creates
    it and keeps it after a successful run; ``--reuse-db`` serves an existing one)."""

    db_name: str | None = None
    reuse: bool = False

    def __enter__(self) -> SearchServer:
        db = ScratchDatabase(self.pg_url)
        if self.db_name:
            db.name = self.db_name
            db.url = (
                make_url(db.url).set(database=self.db_name).render_as_string(hide_password=False)
            )
        self.database = db
        # A database this run creates is dropped at the end, unless --keep-db keeps it
        # after a successful run (see _finish); a reused one is never dropped.
        self._owns_database = not self.reuse
        try:
            if not self.reuse:
                db.create()
            harness.migrate(db.url)
            self._start()
        except BaseException:
            self._finish(failed=True)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(failed=exc_type is not None)

    def _finish(self, *, failed: bool) -> None:
        if self.reuse or (self.db_name and not failed):
            try:
                self.stop()
            finally:
                if self._log is not None:
                    self._log.close()
                    self._log = None
                if self.database is not None:
                    log(f"kept database {self.database.name}")
                self.database = None
        else:
            self.close()

    def dsn(self) -> str:
        """A libpq URI of the database, for psycopg."""
        assert self.database is not None
        url = make_url(self.database.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)


def db_connect(srv: SearchServer) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection to the benchmark database."""
    conn = psycopg.connect(srv.dsn(), autocommit=True, connect_timeout=10)
    conn.prepare_threshold = None  # no automatic server-side prepares on this connection
    return conn


def table_counts(srv: SearchServer) -> dict[str, int]:
    """Current resources per type (not deleted)."""
    with db_connect(srv) as conn:
        rows = conn.execute(
            "SELECT resource_type, count(*) FROM fhir_resource WHERE NOT deleted "
            "GROUP BY resource_type ORDER BY 1"
        ).fetchall()
    return {str(t): int(n) for t, n in rows}


def database_size(srv: SearchServer) -> dict[str, Any]:
    """Size of the database and of its largest tables (with their indexes), in MB."""
    with db_connect(srv) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        rows = conn.execute(
            "SELECT relname, pg_total_relation_size(oid), "
            "(SELECT reltuples::bigint FROM pg_class c2 WHERE c2.oid = c.oid) "
            "FROM pg_class c WHERE relkind = 'r' AND relname LIKE 'fhir_%' ORDER BY 2 DESC"
        ).fetchall()
    return {
        "database_mb": round((total[0] if total else 0) / 2**20, 1),
        "tables": {str(n): {"mb": round(s / 2**20, 1), "rows": int(r)} for n, s, r in rows},
    }


CATCH_UP_TIMEOUT_S = 3600.0


def wait_for_jobs(srv: SearchServer) -> float:
    """Wait until the outbox holds no pending or dispatched job; its seconds.

    Every Patient a load creates enqueues a global-search indexing job, which the server's
    inline-jobs threads run after the commit. Under a bulk load they fall behind, and a
    query phase measured while they catch up also measures them (the searches came out at
    half their rate in such runs): so each stage waits here, and reports how long the
    global search took to catch up with the load."""
    started = time.perf_counter()
    query = "SELECT count(*) FROM job_outbox WHERE state IN ('pending', 'dispatched')"
    with db_connect(srv) as conn:
        while True:
            row = conn.execute(query).fetchone()
            left = int(row[0]) if row else 0
            if left == 0:
                break
            if time.perf_counter() - started > CATCH_UP_TIMEOUT_S:
                raise RuntimeError(f"{left} jobs still waiting after {CATCH_UP_TIMEOUT_S:.0f}s")
            time.sleep(1.0)
    seconds = time.perf_counter() - started
    log(f"jobs caught up {seconds:.1f}s after the load")
    return round(seconds, 1)


def vacuum_analyze(srv: SearchServer) -> float:
    """``VACUUM (ANALYZE)`` the whole database (what autovacuum does after a bulk load, at
    once); returns its seconds."""
    started = time.perf_counter()
    with db_connect(srv) as conn:
        conn.execute("VACUUM (ANALYZE)")
    seconds = time.perf_counter() - started
    log(f"VACUUM (ANALYZE) in {seconds:.1f}s")
    return round(seconds, 1)


@dataclass
class Pools:
    """Values the query generators draw from, sampled from the database."""

    patient_ids: list[str]
    identifiers: list[str]
    families: list[str]
    patients: int


def sample_pools(srv: SearchServer, size: int = 2000) -> Pools:
    """Random Patient ids and identifiers that exist, and the family names in use."""
    with db_connect(srv) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM fhir_resource WHERE resource_type = 'Patient' AND NOT deleted "
                "ORDER BY random() LIMIT %s",
                (size,),
            )
        ]
        identifiers = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM fhir_ix_token WHERE resource_type = 'Patient' "
                "AND param = 'identifier' AND system = %s ORDER BY random() LIMIT %s",
                (IDENTIFIER_SYSTEM, size),
            )
        ]
        patients = conn.execute(
            "SELECT count(*) FROM fhir_resource WHERE resource_type = 'Patient' AND NOT deleted"
        ).fetchone()
    if not ids or not identifiers:
        raise SystemExit("the database holds no Patients with identifiers: nothing to search")
    return Pools(ids, identifiers, list(FAMILY), int(patients[0]) if patients else 0)


# --------------------------------------------------------------------------------------------
# Loading


def load_patients(
    srv: SearchServer, first: int, stop: int, per_bundle: int, clients: int, kind: str
) -> dict[str, Any]:
    """POST patients ``first .. stop - 1`` as transaction Bundles; the load figures."""
    lock = threading.Lock()
    starts = iter(range(first, stop, per_bundle))
    deadline = time.monotonic() + LOAD_TIME_LIMIT_S
    progress = {"done": 0, "next_log": time.monotonic() + 30}
    total = stop - first

    def body(_i: int, client: Client, result: ThreadResult) -> None:
        while time.monotonic() < deadline:
            with lock:
                start = next(starts, None)
            if start is None:
                return
            count = min(per_bundle, stop - start)
            doc = bundle(start, count)
            entries = len(doc["entry"])
            data = orjson.dumps(doc)
            began = time.perf_counter()
            try:
                resp = client.request("POST", "/fhir", data, FHIR_JSON)
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - began)
            if resp.status == 200:
                result.ok += 1
                result.items += entries
            else:
                result.error(f"HTTP {resp.status}: {outcome_text(resp.body)}")
            with lock:
                progress["done"] += count
                if time.monotonic() >= progress["next_log"]:
                    progress["next_log"] = time.monotonic() + 30
                    log(f"loaded {progress['done']}/{total} patients")

    meter = harness.CpuMeter(srv)
    res = run_clients(clients, lambda: CLIENTS[kind](srv.port, REQUEST_TIMEOUT_S), body)
    cpu = meter.stop(res.client_cpu_s)
    if time.monotonic() >= deadline:
        raise RuntimeError(f"loading took longer than {LOAD_TIME_LIMIT_S:.0f}s")
    rate = res.items / res.wall_s if res.wall_s else 0.0
    log(
        f"loaded patients {first}..{stop - 1}: {res.items} resources in {res.wall_s:.1f}s "
        f"({rate:.0f} resources/s), {res.errors} errors"
    )
    if res.errors:
        log("server log tail:\n" + srv.server_log(2000))
    return {
        "patients": total,
        "resources": res.items,
        "bundles_ok": res.ok,
        "seconds": round(res.wall_s, 1),
        "resources_per_s": round(rate, 1),
        "patients_per_s": round(total / res.wall_s, 1) if res.wall_s else None,
        "bundle_latency_ms": harness.summary_ms(res.latencies),
        "errors": res.errors,
        "error_samples": res.error_samples,
        **cpu,
    }


# --------------------------------------------------------------------------------------------
# Queries

PathMaker = Callable[[random.Random], str]


def _q(value: str) -> str:
    return quote(value, safe="")


def _day(rng: random.Random) -> dt.date:
    return CARE_START.date() + dt.timedelta(days=rng.randrange(CARE_DAYS))


def query_makers(pools: Pools) -> dict[str, PathMaker]:
    """Per query kind, a function drawing one request path."""

    def name_prefix(rng: random.Random) -> str:
        source = rng.choice((FAMILY, GIVEN_F, GIVEN_M))
        name = rng.choice(source)
        return name[: rng.randint(3, 5)]

    def birth_year(rng: random.Random) -> int:
        return rng.randrange(BIRTH_START.year, BIRTH_START.year + 90)

    def token_code(rng: random.Random) -> str:
        return f"/fhir/Observation?code={_q('http://loinc.org|' + rng.choice(LOINC_CODES))}"

    def token_identifier(rng: random.Random) -> str:
        value = f"{IDENTIFIER_SYSTEM}|{rng.choice(pools.identifiers)}"
        return f"/fhir/Patient?identifier={_q(value)}"

    def by_id(rng: random.Random) -> str:
        return f"/fhir/Patient?_id={rng.choice(pools.patient_ids)}"

    def name(rng: random.Random) -> str:
        return f"/fhir/Patient?name={_q(name_prefix(rng))}"

    def birthdate(rng: random.Random) -> str:
        year = birth_year(rng)
        return f"/fhir/Patient?birthdate=ge{year}-01-01&birthdate=lt{year + 1}-01-01"

    def observation_date(rng: random.Random) -> str:
        day = _day(rng)
        return f"/fhir/Observation?date=ge{day}&date=lt{day + dt.timedelta(days=1)}"

    def chained(rng: random.Random) -> str:
        return f"/fhir/Observation?subject:Patient.name={_q(rng.choice(pools.families))}"

    return {
        "token_code": token_code,
        "token_identifier": token_identifier,
        "id": by_id,
        "name": name,
        "birthdate": birthdate,
        "observation_date": observation_date,
        "chained": chained,
    }


def _entries(body: bytes) -> int:
    return body.count(b'"fullUrl"')


def query_phase(
    srv: SearchServer, make_path: PathMaker, clients: int, seconds: float, kind: str, seed: str
) -> dict[str, Any]:
    """``clients`` threads GET paths from ``make_path`` for ``seconds``; the figures."""

    def body(i: int, client: Client, result: ThreadResult) -> None:
        rng = random.Random(f"{seed}:{i}")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            path = make_path(rng)
            began = time.perf_counter()
            try:
                resp = client.request("GET", path)
            except OSError as exc:
                result.error(f"{path}: connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - began)
            if resp.status == 200:
                result.ok += 1
                result.items += _entries(resp.body)
            else:
                result.error(f"{path}: HTTP {resp.status}: {outcome_text(resp.body)}")

    meter = harness.CpuMeter(srv)
    res = run_clients(clients, lambda: CLIENTS[kind](srv.port, REQUEST_TIMEOUT_S), body)
    return _phase_figures(res, meter.stop(res.client_cpu_s))


def _phase_figures(res: RunResult, cpu: dict[str, Any]) -> dict[str, Any]:
    done = len(res.latencies)
    return {
        "requests": done,
        "requests_per_s": round(res.ok / res.wall_s, 1) if res.wall_s else None,
        "latency_ms": harness.summary_ms(res.latencies),
        "entries_per_page": round(res.items / res.ok, 1) if res.ok else None,
        "errors": res.errors,
        "error_samples": res.error_samples,
        "server_cpu_us_per_request": round(1e6 * cpu["server_cpu_s"] / done) if done else None,
        "postgres_cpu_us_per_request": round(1e6 * cpu["postgres_cpu_s"] / done) if done else None,
        **cpu,
    }


def _next_path(body: bytes) -> str | None:
    for link in orjson.loads(body).get("link", ()):
        if link.get("relation") == "next":
            parts = urlsplit(link["url"])
            return f"{parts.path}?{parts.query}"
    return None


def paging_phase(
    srv: SearchServer, clients: int, seconds: float, pages: int, kind: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each client follows ``next`` links of ``Observation?code=...&_count=20`` from page 1
    to ``pages``, over and over, for ``seconds``. Returns the figures per page and, for the
    plans, the ``_cursor`` of the deepest page reached for one code."""
    deepest_paths: dict[str, tuple[int, str]] = {}

    def body(i: int, client: Client, result: ThreadResult) -> None:
        rng = random.Random(f"paging:{i}")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            code = rng.choice(LOINC_CODES)
            path: str | None = f"/fhir/Observation?code={_q('http://loinc.org|' + code)}&_count=20"
            for page in range(1, pages + 1):
                if path is None or time.perf_counter() >= deadline:
                    break
                began = time.perf_counter()
                try:
                    resp = client.request("GET", path)
                except OSError as exc:
                    result.error(f"page {page}: connection error: {exc!r}")
                    client.close()
                    break
                latency = time.perf_counter() - began
                result.latencies.append(latency)
                if resp.status != 200:
                    result.error(f"page {page}: HTTP {resp.status}: {outcome_text(resp.body)}")
                    break
                result.ok += 1
                result.extra.append((page, latency))
                if page > deepest_paths.get(code, (0, ""))[0]:
                    deepest_paths[code] = (page, path)
                path = _next_path(resp.body)

    meter = harness.CpuMeter(srv)
    res = run_clients(clients, lambda: CLIENTS[kind](srv.port, REQUEST_TIMEOUT_S), body)
    cpu = meter.stop(res.client_cpu_s)
    by_page: dict[int, list[float]] = {}
    for t in res.threads:
        for page, latency in t.extra:
            by_page.setdefault(page, []).append(latency)
    deepest = max(by_page) if by_page else 0
    figures: dict[str, Any] = {
        "pages_target": pages,
        "deepest_page": deepest,
        "walks_reaching_deepest": len(by_page.get(deepest, [])),
        "requests": len(res.latencies),
        "requests_per_s": round(res.ok / res.wall_s, 1) if res.wall_s else None,
        "errors": res.errors,
        "error_samples": res.error_samples,
    }
    for page in sorted({1, 10, 50, deepest} & set(by_page)):
        figures[f"page_{page}_ms"] = {"n": len(by_page[page]), **harness.summary_ms(by_page[page])}
    if deepest > 1:
        first, last = by_page[1], by_page[deepest]
        figures["ratio_p50_deepest_to_first"] = round(
            statistics.median(last) / statistics.median(first), 2
        )
        figures["ratio_p95_deepest_to_first"] = round(
            harness.summary_ms(last)["p95"] / harness.summary_ms(first)["p95"], 2
        )
    figures.update(cpu)
    chosen: dict[str, str] = {}
    if deepest_paths:
        code, (_page, path) = max(deepest_paths.items(), key=lambda item: item[1][0])
        chosen = {"code": code, "path": path}
    return figures, chosen


def count_phase(srv: SearchServer, seconds: float, kind: str) -> dict[str, Any]:
    """``Observation?status=final&_summary=count`` from one client, repeated for up to
    ``seconds`` (at least 3, at most 20 times)."""
    path = "/fhir/Observation?status=final&_summary=count"
    client = CLIENTS[kind](srv.port, REQUEST_TIMEOUT_S)
    latencies: list[float] = []
    totals: set[int] = set()
    errors: list[str] = []
    meter = harness.CpuMeter(srv)
    cpu0 = time.process_time()
    began_all = time.perf_counter()
    try:
        while len(latencies) < 20 and (
            len(latencies) < 3 or time.perf_counter() - began_all < seconds
        ):
            began = time.perf_counter()
            resp = client.request("GET", path)
            latencies.append(time.perf_counter() - began)
            if resp.status == 200:
                totals.add(int(orjson.loads(resp.body).get("total", -1)))
            else:
                errors.append(f"HTTP {resp.status}: {outcome_text(resp.body)}")
    finally:
        client.close()
    cpu = meter.stop(time.process_time() - cpu0)
    return {
        "query": path,
        "matches": sorted(totals),
        "requests": len(latencies),
        "latency_ms": harness.summary_ms(latencies),
        "min_ms": round(min(latencies) * 1000, 1),
        "errors": len(errors),
        "error_samples": errors[:3],
        **cpu,
    }


# --------------------------------------------------------------------------------------------
# Plans


class _Captured(Exception):
    """Raised by :class:`_CaptureConnection` once it has the statement."""


class _CaptureConnection:
    """Stands in for a SQLAlchemy connection: keeps the first statement, then stops."""

    def __init__(self) -> None:
        self.statement: Any = None

    def execute(self, statement: Any, params: Any = None, **_kwargs: Any) -> Any:
        # A statement from a shape's template carries the values of the search that built
        # it: bind this search's own.
        self.statement = statement.params(params) if params else statement
        raise _Captured


def server_statement(resource_type: str, query: str, *, count: bool = False) -> Any:
    """The SQLAlchemy statement the server runs for ``GET [resource_type]?[query]``: the
    page (:func:`run_search`) or, with ``count``, the ``_summary=count`` count."""
    from platform_core.config import load_settings
    from platform_core.fhir.search.parse import parse_search
    from platform_core.fhir.search.sql import count_matches, run_search

    settings = load_settings(environ={})
    request = parse_search(resource_type, parse_qsl(query, keep_blank_values=True), settings)
    capture = _CaptureConnection()
    with contextlib.suppress(_Captured):
        if count:
            count_matches(capture, request, settings.fhir_base_url)  # type: ignore[arg-type]
        else:
            run_search(capture, request, settings.fhir_base_url)  # type: ignore[arg-type]
    if capture.statement is None:
        raise RuntimeError(f"no statement captured for {resource_type}?{query}")
    return capture.statement


def server_sql(resource_type: str, query: str, *, count: bool = False) -> str:
    """:func:`server_statement` as SQL with literal values."""
    from sqlalchemy.dialects import postgresql

    statement = server_statement(resource_type, query, count=count)
    compiled = statement.compile(
        dialect=postgresql.dialect(paramstyle="named"), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def server_sql_parameters(
    resource_type: str, query: str, *, count: bool = False
) -> tuple[str, list[Any]]:
    """:func:`server_statement` with ``$n`` parameters (as psycopg sends it once it has
    prepared the statement, after 5 executions on a connection) and their values."""
    from sqlalchemy.dialects import postgresql

    statement = server_statement(resource_type, query, count=count)
    compiled = statement.compile(
        dialect=postgresql.dialect(paramstyle="numeric_dollar"),
        compile_kwargs={"render_postcompile": True},
    )
    return str(compiled), [compiled.params[name] for name in compiled.positiontup or ()]


def _walk(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node.get("Plans", ()):
        yield from _walk(child, depth + 1)


def _describe(node: dict[str, Any]) -> str:
    text = node["Node Type"]
    if node.get("Parent Relationship") in {"SubPlan", "InitPlan"}:
        text = f"[{node.get('Subplan Name', node['Parent Relationship'])}] {text}"
    if "Index Name" in node:
        text += f" using {node['Index Name']}"
    if "Relation Name" in node:
        text += f" on {node['Relation Name']}"
    for key in ("Index Cond", "Hash Cond", "Recheck Cond"):
        if key in node:
            text += f" [{key.split()[0].lower()}: {_shorten(node[key])}]"
    if "Filter" in node:
        text += f" [filter: {_shorten(node['Filter'])}]"
    rows, loops = node.get("Actual Rows"), node.get("Actual Loops")
    text += f" rows={rows} loops={loops} ms={node.get('Actual Total Time')}"
    return text


def _shorten(text: str, limit: int = 90) -> str:
    text = re.sub(r"::(character varying|text|timestamp with time zone|bigint)", "", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain(
    conn: psycopg.Connection[Any], sql: str, parameters: list[Any] | None = None
) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` of ``sql`` (run twice; the second, warm
    run is kept) and a summary of its nodes. With ``parameters``, ``sql`` has ``$n``
    placeholders and is explained as a prepared statement under its generic plan (what
    PostgreSQL's plan cache may switch to after 5 executions of a prepared statement)."""
    if parameters is None:
        statement = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"
    else:
        conn.execute(f"PREPARE bench_generic AS {sql}")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        values = ", ".join(pgsql.Literal(v).as_string(conn) for v in parameters)
        statement = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE bench_generic({values})"
    try:
        conn.execute(statement)
        row = conn.execute(statement).fetchone()
    finally:
        if parameters is not None:
            conn.execute("RESET plan_cache_mode")
            conn.execute("DEALLOCATE bench_generic")
    assert row is not None
    plan_doc = row[0][0] if isinstance(row[0], list) else json.loads(row[0])[0]
    nodes = list(_walk(plan_doc["Plan"]))
    seq_ix = sorted(
        {
            n["Relation Name"]
            for _d, n in nodes
            if "Seq Scan" in n["Node Type"] and n.get("Relation Name", "").startswith("fhir_ix_")
        }
    )
    seq_other = sorted(
        {
            n["Relation Name"]
            for _d, n in nodes
            if "Seq Scan" in n["Node Type"]
            and not n.get("Relation Name", "").startswith("fhir_ix_")
        }
    )
    indexes = sorted({n["Index Name"] for _d, n in nodes if "Index Name" in n})
    top = plan_doc["Plan"]
    summary = {
        "execution_ms": round(plan_doc.get("Execution Time", 0.0), 2),
        "planning_ms": round(plan_doc.get("Planning Time", 0.0), 2),
        "rows": top.get("Actual Rows"),
        "shared_hit_blocks": top.get("Shared Hit Blocks"),
        "shared_read_blocks": top.get("Shared Read Blocks"),
        "indexes_used": indexes,
        "seq_scan_index_tables": seq_ix,
        "seq_scan_other_tables": seq_other,
        "uses_indexes_only": not seq_ix and not seq_other,
        "nodes": ["  " * d + _describe(n) for d, n in nodes],
    }
    jit = plan_doc.get("JIT")
    if jit:
        summary["jit_ms"] = round(jit.get("Timing", {}).get("Total", 0.0), 1)
    return {"summary": summary, "plan": plan_doc}


def plan_queries(pools: Pools, paging: dict[str, str]) -> dict[str, tuple[str, str, bool]]:
    """One query of each kind: name -> (resource type, query string, count statement)."""
    loinc = f"http://loinc.org|{LOINC_CODES[0]}"
    queries: dict[str, tuple[str, str, bool]] = {
        "token_code": ("Observation", f"code={loinc}", False),
        "token_identifier": (
            "Patient",
            f"identifier={IDENTIFIER_SYSTEM}|{pools.identifiers[0]}",
            False,
        ),
        "id": ("Patient", f"_id={pools.patient_ids[0]}", False),
        "name_3": ("Patient", "name=Mar", False),
        "name_5": ("Patient", f"name={_FAMILY[0][40][:5]}", False),
        "birthdate": ("Patient", "birthdate=ge1980-01-01&birthdate=lt1981-01-01", False),
        "observation_date": ("Observation", "date=ge2019-03-01&date=lt2019-03-02", False),
        "chained": ("Observation", f"subject:Patient.name={_FAMILY[0][10]}", False),
        "summary_count": ("Observation", "status=final&_summary=count", True),
        "summary_count_page": ("Observation", "status=final&_summary=count", False),
    }
    if paging:
        code_query = f"code=http://loinc.org|{paging['code']}&_count=20"
        queries["paging_first"] = ("Observation", code_query, False)
        deep = parse_qsl(urlsplit(paging["path"]).query, keep_blank_values=True)
        queries["paging_deep"] = ("Observation", urlencode(deep, safe="|:/"), False)
    return queries


def run_plans(srv: SearchServer, pools: Pools, paging: dict[str, str], path: Path) -> Any:
    """EXPLAIN every plan query, with literal values (a custom plan) and as a prepared
    statement's generic plan; full plans to ``path``, summaries returned."""
    summaries: dict[str, Any] = {}
    full: dict[str, Any] = {}
    with db_connect(srv) as conn:
        conn.execute(f"SET statement_timeout = {EXPLAIN_TIMEOUT_MS}")
        for name, (rtype, query, count) in plan_queries(pools, paging).items():
            entry: dict[str, Any] = {"query": f"{rtype}?{query}"}
            summaries[name] = entry
            try:
                sql = server_sql(rtype, query, count=count)
                custom = explain(conn, sql)
                generic_sql, parameters = server_sql_parameters(rtype, query, count=count)
                generic = explain(conn, generic_sql, parameters)
                if not count:
                    row = conn.execute(server_sql(rtype, query, count=True)).fetchone()
                    entry["matches"] = int(row[0]) if row else None
            except Exception as exc:  # one broken query must not lose the others
                entry["error"] = repr(exc)[:500]
                continue
            entry["custom"] = custom["summary"]
            entry["generic"] = generic["summary"]
            full[name] = {
                "query": entry["query"],
                "sql": sql,
                "custom_plan": custom["plan"],
                "generic_sql": generic_sql,
                "generic_parameters": [str(p) for p in parameters],
                "generic_plan": generic["plan"],
            }
            log(
                f"plan {name}: custom {custom['summary']['execution_ms']} ms, "
                f"generic {generic['summary']['execution_ms']} ms, seq scans of index tables: "
                f"{custom['summary']['seq_scan_index_tables']}"
                f" / {generic['summary']['seq_scan_index_tables']}"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(full, indent=1, ensure_ascii=False, default=str))
    return summaries


# --------------------------------------------------------------------------------------------
# Targets


def _p95(figures: dict[str, Any]) -> float | None:
    return figures.get("latency_ms", {}).get("p95")


def _target(value: float | None, limit: float, *, below: bool = True) -> dict[str, Any]:
    if value is None:
        return {"value": None, "target": limit, "met": None}
    met = value <= limit if below else value >= limit
    return {"value": value, "target": limit, "met": met}


def evaluate(result: dict[str, Any]) -> dict[str, Any]:
    """How each target of the search issue fares."""
    q = result["queries"]
    targets: dict[str, Any] = {}
    for name in ("token_code", "token_identifier", "id"):
        targets[f"{name}_p95_ms"] = _target(_p95(q[name]), 30)
    targets["name_p95_ms"] = _target(_p95(q["name"]), 50)
    targets["birthdate_p95_ms"] = _target(_p95(q["birthdate"]), 50)
    targets["observation_date_p95_ms"] = _target(_p95(q["observation_date"]), 50)
    targets["chained_p95_ms"] = _target(_p95(q["chained"]), 200)
    count = result["summary_count"]
    matches = max(count["matches"], default=0)
    targets["summary_count_ms"] = {
        **_target(count["latency_ms"]["p50"], 1000),
        "matches": matches,
        "over_500k_matches": matches >= 500_000,
    }
    paging = result["deep_paging"]
    targets["page_deep_to_first_p50_ratio"] = {
        **_target(paging.get("ratio_p50_deepest_to_first"), 1.5),
        "deepest_page": paging["deepest_page"],
    }
    seq_queries = sorted(
        f"{name} ({kind})"
        for name, plan in result["plans"].items()
        for kind in ("custom", "generic")
        if plan.get(kind, {}).get("seq_scan_index_tables")
    )
    targets["no_seq_scan_of_index_tables"] = {"met": not seq_queries, "queries": seq_queries}
    growth = result["growth"]
    for kind in ("name", "birthdate"):
        rates = [(g["patients"], g[kind]["requests_per_s"]) for g in growth]
        at_50k = min(rates, key=lambda r: abs(r[0] - 50_000))
        targets[f"{kind}_throughput_per_s"] = {
            **_target(at_50k[1], 600, below=False),
            "at_patients": at_50k[0],
            "by_patients": dict(rates),
            "last_to_first": round(rates[-1][1] / rates[0][1], 2)
            if len(rates) > 1 and rates[0][1]
            else None,
        }
    return targets


# --------------------------------------------------------------------------------------------
# Main


def _stages(patients: int, fractions: str) -> list[int]:
    values = sorted({float(f) for f in fractions.split(",") if f.strip()})
    if not values or values[0] <= 0 or values[-1] > 1:
        raise SystemExit("--stages takes fractions in (0, 1], like 0.1,0.5,1")
    stops = sorted({max(1, round(patients * f)) for f in values} | {patients})
    return stops


def growth_phases(
    srv: SearchServer, makers: dict[str, PathMaker], args: argparse.Namespace, patients: int
) -> dict[str, Any]:
    """Name and birthdate throughput at the current table size."""
    entry: dict[str, Any] = {"patients": patients}
    for kind in ("name", "birthdate"):
        log(f"{kind} throughput at {patients} patients ({args.clients} clients)")
        entry[kind] = query_phase(
            srv, makers[kind], args.clients, args.seconds, args.client, f"{kind}:{patients}"
        )
    return entry


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the result object."""
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "search",
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "cores": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    with SearchServer(
        workers=args.workers,
        threads=args.threads,
        pg_url=args.database_url,
        db_name=args.keep_db or args.reuse_db,
        reuse=bool(args.reuse_db),
    ) as srv:
        assert srv.database is not None
        result["database"] = srv.database.name if (args.keep_db or args.reuse_db) else "scratch"
        loads: list[dict[str, Any]] = []
        vacuums: list[float] = []
        catch_ups: list[float] = []
        growth: list[dict[str, Any]] = []
        if args.reuse_db:
            stops: list[int] = []
            result["jobs_caught_up_after_s"] = wait_for_jobs(srv)
        else:
            stops = _stages(args.patients, args.stages)
            result["patients_per_bundle"] = args.patients_per_bundle
            result["load_clients"] = args.load_clients
        loaded = 0
        for i, stop in enumerate(stops):
            log(f"loading patients {loaded}..{stop - 1}")
            loads.append(
                load_patients(
                    srv, loaded, stop, args.patients_per_bundle, args.load_clients, args.client
                )
            )
            loaded = stop
            catch_ups.append(wait_for_jobs(srv))
            vacuums.append(vacuum_analyze(srv))
            if i < len(stops) - 1:
                pools = sample_pools(srv)
                growth.append(growth_phases(srv, query_makers(pools), args, pools.patients))
        if loads:
            resources = sum(s["resources"] for s in loads)
            seconds = sum(s["seconds"] for s in loads)
            result["load"] = {
                "resources": resources,
                "seconds": round(seconds, 1),
                "resources_per_s": round(resources / seconds, 1) if seconds else None,
                "errors": sum(s["errors"] for s in loads),
                "stages": loads,
                "vacuum_analyze_s": vacuums,
                "jobs_caught_up_after_s": catch_ups,
            }
        result["resources_by_type"] = table_counts(srv)
        result["storage"] = database_size(srv)
        pools = sample_pools(srv)
        result["patients"] = pools.patients
        makers = query_makers(pools)
        queries: dict[str, Any] = {}
        examples: dict[str, str] = {}
        for kind, maker in makers.items():
            log(f"phase {kind} ({args.clients} clients, {args.seconds}s)")
            queries[kind] = query_phase(
                srv, maker, args.clients, args.seconds, args.client, f"{kind}:final"
            )
            examples[kind] = maker(random.Random(0))
        result["queries"] = queries
        result["query_examples"] = examples
        growth.append(
            {"patients": pools.patients, "name": queries["name"], "birthdate": queries["birthdate"]}
        )
        result["growth"] = [
            {
                "patients": g["patients"],
                **{
                    k: {
                        "requests_per_s": g[k]["requests_per_s"],
                        "p50_ms": g[k]["latency_ms"]["p50"],
                        "p95_ms": g[k]["latency_ms"]["p95"],
                        "p99_ms": g[k]["latency_ms"]["p99"],
                        "errors": g[k]["errors"],
                        "other_cpu_s": g[k]["other_cpu_s"],
                    }
                    for k in ("name", "birthdate")
                },
            }
            for g in growth
        ]
        log(f"deep paging to page {args.pages} ({args.clients} clients, {args.seconds}s)")
        result["deep_paging"], paging_cursor = paging_phase(
            srv, args.clients, args.seconds, args.pages, args.client
        )
        log("_summary=count (1 client)")
        result["summary_count"] = count_phase(srv, args.seconds, args.client)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        plans_path = RESULTS_DIR / f"search-plans-{stamp}.json"
        result["plans"] = run_plans(srv, pools, paging_cursor, plans_path)
        result["plans_file"] = str(plans_path.relative_to(REPO_ROOT))
        if any(q["errors"] for q in queries.values()):
            log("server log tail:\n" + srv.server_log(2000))
    result["targets"] = evaluate(result)
    result["medplum_4_5_2_anchor"] = {
        "name_per_s": {"15k_patients": 288, "53k_patients": 208},
        "birthdate_ge_per_s": 290,
        "birthdate_ge_p99_ms": 100,
    }
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000, help="patients to load")
    parser.add_argument("--clients", type=int, default=8, help="concurrent search clients")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--stages", default="0.1,0.5,1", help="load fractions to measure at")
    parser.add_argument("--patients-per-bundle", type=int, default=10)
    parser.add_argument("--load-clients", type=int, default=4)
    parser.add_argument("--pages", type=int, default=100, help="deep paging goes this far")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw")
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--keep-db", metavar="NAME", help="load into a new database NAME; keep it")
    db.add_argument("--reuse-db", metavar="NAME", help="search database NAME without loading")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create the database on "
        f"(default {harness.DEFAULT_PG}; its database part is ignored)",
    )
    args = parser.parse_args(argv)
    if args.patients < 1 or args.clients < 1 or args.patients_per_bundle < 1:
        parser.error("--patients, --clients and --patients-per-bundle must be at least 1")
    for name in (args.keep_db, args.reuse_db):
        if name is not None and not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
            parser.error("a database name is lower-case letters, digits and _")
    harness.exit_on_sigterm()
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    failed = result.get("load", {}).get("errors", 0) or any(
        q["errors"] for q in result["queries"].values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
