"""The whole API fuzzed from its own OpenAPI document with schemathesis, on SQLite and on the
real PostgreSQL the suite starts: positive cases (valid by the schema) and negative ones
(invalid on purpose), seeded, at least 1,000 requests per database.

What must hold for every request: no 5xx; a response whose status, content type and body
match the document; every 4xx a problem+json body whose ``detail`` names the problem;
every request that breaks the schema refused with a 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine
from support import serve_world

from recsys import datasets
from recsys.api import create_app
from recsys.models import Recommender

EXAMPLES = 100  # per operation and mode (operations with few possible inputs get fewer)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


MODES = {"positive": schemathesis.GenerationMode.POSITIVE,
         "negative": schemathesis.GenerationMode.NEGATIVE}


def problem_names_the_problem(response: Any) -> None:
    """Every 4xx is problem+json with a non-empty detail."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), (response.status_code,
                                                                      content_type)
        body = response.json()
        assert body["status"] == response.status_code and body["detail"].strip(), body


@pytest.mark.slow
def test_schemathesis_finds_nothing(loaded: Engine, api_data: datasets.Dataset,
                                    api_model: Recommender, tmp_path: Path) -> None:
    app = create_app(**serve_world(loaded, api_data, api_model, tmp_path))
    app.extensions["recsys"].cache.stop()
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
        # a request can break the schema by being too long: 413, 414 and 431 refuse it too
        "expected-statuses": ["400", "404", "405", "409", "413", "414", "415", "431"]}}})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10
    sent: dict[str, int] = {}
    for operation in operations:
        inputs = len(operation.path_parameters) + len(operation.query) + len(operation.body)
        for mode_name, mode in MODES.items():
            if mode_name == "negative" and not inputs:
                continue  # nothing to break in /ping, /health, /clusters
            checks = CHECKS + ([negative_data_rejection] if mode_name == "negative"
                               else [positive_data_acceptance])
            label = f"{operation.label} ({mode_name})"

            @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck), print_blob=True)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call()
                sent[label] = sent.get(label, 0) + 1
                case.validate_response(response, checks=checks)
                problem_names_the_problem(response)

            run()
    total = sum(sent.values())
    assert total >= 1000, sent


@pytest.mark.slow
def test_schemathesis_coverage_phase_finds_nothing(loaded: Engine, api_data: datasets.Dataset,
                                                   api_model: Recommender,
                                                   tmp_path: Path) -> None:
    """Schemathesis' coverage phase (boundary values, missing and unexpected parameters,
    methods the document does not list): besides the checks above, a method a path does not
    take is 405 with Allow before any body check (``unsupported_method``, ST204), and no
    schema-valid request is refused (``positive_data_acceptance``, ST202)."""
    from schemathesis.specs.openapi.checks import unsupported_method

    app = create_app(**serve_world(loaded, api_data, api_model, tmp_path))
    app.extensions["recsys"].cache.stop()
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {
        "expected-statuses": ["400", "404", "405", "409", "413", "414", "415", "431"]}}})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    modes = list(MODES.values())
    sent, methods = 0, set()
    for result in schema.get_all_operations():
        operation = result.ok()
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        for case in schema.iter_coverage_cases(operation, generation_modes=modes,
                                               generation_config=generation):
            response = case.call()
            positive = case.meta is not None and case.meta.generation.mode.is_positive
            checks = [*CHECKS, unsupported_method,
                      positive_data_acceptance if positive else negative_data_rejection]
            case.validate_response(response, checks=checks)
            problem_names_the_problem(response)
            methods.add(case.method.upper())
            sent += 1
    assert sent >= 200, sent
    assert {"PUT", "PATCH", "DELETE"} <= methods  # methods no path takes were sent
