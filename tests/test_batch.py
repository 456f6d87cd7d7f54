"""The batch step: every bad field is named, duplicates are dropped and counted, batches are bounded."""

from __future__ import annotations

import pytest

from image_downloader import batch
from image_downloader.errors import ConfigurationError, InvalidInput
from image_downloader.settings import MAX_BATCHES_PER_EXECUTION, BatchSettings, batch_settings_from_env

SETTINGS = BatchSettings(max_lambda_concur=20, max_paths_per_execution=1000, default_batch_size=3)


def request(**overrides: object) -> dict:
    body: dict = {"baseUrl": "https://example.com/flags", "resourcePaths": ["cn/cn.gif"], "lambdaConcur": 2}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def rejection(event: object, settings: BatchSettings = SETTINGS) -> str:
    with pytest.raises(InvalidInput) as raised:
        batch.parse_request(event, settings)
    return str(raised.value)


def test_valid_request_is_split_into_seed_shaped_tasks() -> None:
    paths = [f"{code}/{code}.gif" for code in ("cn", "in", "us", "id", "br", "pk", "ng")]
    output = batch.split_into_batches(batch.parse_request(request(resourcePaths=paths), SETTINGS))

    assert [task["resourcePaths"] for task in output["tasks"]] == [paths[0:3], paths[3:6], paths[6:7]]
    assert all(
        task["batchInput"] == {"baseUrl": "https://example.com/flags/", "lambdaConcur": 2}
        for task in output["tasks"]
    )
    assert (output["total"], output["duplicatesDropped"], output["batchCount"]) == (7, 0, 3)


def test_duplicate_paths_are_dropped_and_counted_keeping_first_order() -> None:
    paths = ["b/x.gif", "a/x.gif", "b/x.gif", "a/x.gif", "c/x.gif"]
    output = batch.split_into_batches(
        batch.parse_request(request(resourcePaths=paths, batchSize=10), SETTINGS)
    )

    assert output["tasks"][0]["resourcePaths"] == ["b/x.gif", "a/x.gif", "c/x.gif"]
    assert (output["total"], output["duplicatesDropped"]) == (3, 2)


def test_request_batch_size_overrides_the_default() -> None:
    output = batch.split_into_batches(
        batch.parse_request(request(resourcePaths=[f"{i}.gif" for i in range(10)], batchSize=4), SETTINGS)
    )
    assert [len(task["resourcePaths"]) for task in output["tasks"]] == [4, 4, 2]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (request(baseUrl=...), "baseUrl: missing"),
        (request(baseUrl=42), "baseUrl: must be a non-empty string, got the number 42"),
        (request(baseUrl="ftp://example.com/"), "baseUrl: must start with http:// or https://"),
        (request(baseUrl="https:///nohost"), "baseUrl: has no host"),
        (request(baseUrl="https://user:pw@example.com/"), "baseUrl: must not contain credentials"),
        (request(baseUrl="https://example.com/?a=1"), "baseUrl: must not contain a query or fragment"),
        (request(resourcePaths=...), "resourcePaths: missing"),
        (request(resourcePaths="cn/cn.gif"), "resourcePaths: must be a list of strings, got a string"),
        (request(resourcePaths=[]), "resourcePaths: must not be empty"),
        (request(resourcePaths=["ok.gif", 7]), "resourcePaths[1]: must be a string, got the number 7"),
        (request(resourcePaths=[""]), "resourcePaths[0]: must not be empty"),
        (request(resourcePaths=["a/../../etc/passwd"]), "resourcePaths[0]: must not contain '..'"),
        (request(resourcePaths=["a/%2e%2e/b.gif"]), "resourcePaths[0]: must not contain '..'"),
        (request(resourcePaths=["/abs.gif"]), "resourcePaths[0]: must be relative to baseUrl"),
        (
            request(resourcePaths=["https://evil.test/x.gif"]),
            "resourcePaths[0]: must be a path relative to baseUrl",
        ),
        (
            request(resourcePaths=["//evil.test/x.gif"]),
            "resourcePaths[0]: must be a path relative to baseUrl",
        ),
        (request(resourcePaths=["a b.gif"]), "resourcePaths[0]: must not contain whitespace"),
        (request(lambdaConcur=...), "lambdaConcur: missing, give an integer from 1 to 20"),
        (request(lambdaConcur=0), "lambdaConcur: 0 is out of range, must be from 1 to 20"),
        (request(lambdaConcur=21), "lambdaConcur: 21 is out of range, must be from 1 to 20"),
        (request(lambdaConcur="5"), "lambdaConcur: must be an integer from 1 to 20, got a string"),
        (request(lambdaConcur=True), "lambdaConcur: must be an integer from 1 to 20, got a boolean"),
        (request(lambdaConcur=2.5), "lambdaConcur: must be an integer from 1 to 20, got the number 2.5"),
        (request(batchSize=0), "batchSize: 0 is out of range"),
        (request(lambdaconcur=3), "unknown field 'lambdaconcur'"),
        ([], "the request must be a JSON object, got a list"),
    ],
)
def test_bad_input_names_the_field_and_the_problem(event: object, expected: str) -> None:
    assert expected in rejection(event)


def test_too_many_paths_states_the_limit() -> None:
    message = rejection(request(resourcePaths=[f"{i}.gif" for i in range(1001)]))
    assert "resourcePaths: 1001 paths but one execution accepts at most 1000" in message


def test_too_many_batches_says_which_batch_size_would_fit() -> None:
    settings = BatchSettings(max_lambda_concur=20, max_paths_per_execution=10_000, default_batch_size=1)
    paths = [f"{i}.gif" for i in range(MAX_BATCHES_PER_EXECUTION * 2)]
    message = rejection(request(resourcePaths=paths), settings)
    assert f"at most {MAX_BATCHES_PER_EXECUTION} batches, so use batchSize >= 2" in message


def test_every_problem_is_reported_at_once() -> None:
    message = rejection({"baseUrl": "nope", "resourcePaths": ["../x"], "lambdaConcur": 99})
    assert "baseUrl:" in message
    assert "resourcePaths[0]:" in message
    assert "lambdaConcur:" in message


def test_a_long_list_of_problems_is_cut_with_a_count() -> None:
    message = rejection(request(resourcePaths=[f"../{i}" for i in range(15)]))
    assert message.count("resourcePaths[") == batch.MAX_LISTED_ERRORS
    assert message.endswith("and 5 more problem(s)")


def test_handler_reads_its_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_LAMBDA_CONCUR", "3")
    monkeypatch.setenv("DEFAULT_BATCH_SIZE", "1")
    with pytest.raises(InvalidInput, match="lambdaConcur: 4 is out of range, must be from 1 to 3"):
        batch.handler(request(lambdaConcur=4), None)
    assert batch.handler(request(resourcePaths=["a.gif", "b.gif"]), None)["batchCount"] == 2


def test_settings_refuse_malformed_environment_values() -> None:
    with pytest.raises(ConfigurationError, match="MAX_LAMBDA_CONCUR must be an integer"):
        batch_settings_from_env({"MAX_LAMBDA_CONCUR": "many"})
